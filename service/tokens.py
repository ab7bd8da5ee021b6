"""Signed, purpose-bound tokens (itsdangerous), one salt per purpose.

A token made for one purpose never verifies for another: a confirmation link
cannot unsubscribe anyone, and an unsubscribe link cannot confirm. Tokens are
minted for every recipient of a send, so the per-purpose keys are derived once
and each token costs one HMAC.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

PURPOSES = ("confirm", "unsubscribe", "preferences", "verp")
# Purposes of the short tokens that travel in an address's local part (at most 64 octets, and
# some mail systems change its case): numbers in base 36 and a hex HMAC, all lower case.
SHORT_PURPOSES = ("unsubscribe-mailto", "verp")
SHORT_MAC_BYTES = 12
# Seconds a token stays valid; None never expires (an unsubscribe link in an old email must work).
MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 86400,
    "unsubscribe": None,
    "preferences": None,
    "verp": 180 * 86400,
}


class TokenError(ValueError):
    """The token is forged, damaged, expired or made for another purpose."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _signer(secret_key: str, purpose: str) -> Signer:
    kind = TimestampSigner if MAX_AGE[purpose] is not None else Signer
    derived = kind(secret_key, salt=f"newsletter.{purpose}", digest_method=sha256).derive_key()
    return kind(derived, key_derivation="none", digest_method=sha256)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


class TokenSigner:
    def __init__(self, secret_key: str) -> None:
        self._signers = {purpose: _signer(secret_key, purpose) for purpose in PURPOSES}
        self._short_keys = {
            purpose: Signer(secret_key, salt=f"newsletter.short.{purpose}", digest_method=sha256).derive_key()
            for purpose in SHORT_PURPOSES
        }

    def _short_mac(self, purpose: str, body: str, context: str) -> str:
        mac = hmac.new(self._short_keys[purpose], f"{body}|{context}".encode(), sha256)
        return mac.hexdigest()[: SHORT_MAC_BYTES * 2]

    def sign_short(self, purpose: str, numbers: tuple[int, ...], context: str = "") -> str:
        """A short lower-case token for numbers; ``context`` is signed but not carried."""
        body = "-".join(_base36(n) for n in numbers)
        return f"{body}-{self._short_mac(purpose, body, context)}"

    def verify_short(self, purpose: str, token: str, context: str = "") -> tuple[int, ...]:
        body, _, mac = token.lower().rpartition("-")
        if not body or not hmac.compare_digest(mac, self._short_mac(purpose, body, context)):
            raise TokenError("invalid")
        try:
            return tuple(int(part, 36) for part in body.split("-"))
        except ValueError:
            raise TokenError("invalid") from None

    def read_short(self, token: str) -> tuple[int, ...]:
        """The numbers of a short token, unverified: to find the context it was signed with."""
        try:
            return tuple(int(part, 36) for part in token.lower().rsplit("-", 1)[0].split("-"))
        except ValueError:
            raise TokenError("invalid") from None

    def sign(self, purpose: str, payload: str) -> str:
        """A URL-safe token carrying ``payload`` for ``purpose`` only."""
        return self._signers[purpose].sign(base64_encode(payload.encode("utf-8"))).decode("ascii")

    def verify(self, purpose: str, token: str) -> str:
        """The payload of a good token; TokenError('invalid' | 'expired') otherwise."""
        signer = self._signers[purpose]
        try:
            if isinstance(signer, TimestampSigner):
                value = signer.unsign(token, max_age=MAX_AGE[purpose])
            else:
                value = signer.unsign(token)
            return base64_decode(value).decode("utf-8")
        except SignatureExpired:
            raise TokenError("expired") from None
        except (BadSignature, ValueError):
            raise TokenError("invalid") from None
