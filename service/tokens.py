"""Signed, purpose-bound tokens (itsdangerous), one salt per purpose.

A token made for one purpose never verifies for another: a confirmation link
cannot unsubscribe anyone, and an unsubscribe link cannot confirm. Tokens are
minted for every recipient of a send, so the per-purpose keys are derived once
and each token costs one HMAC.

The secret key can be rotated: tokens are always signed with the current key, and
verified with it and with every old key still configured (itsdangerous takes a list
of keys, oldest first, and signs with the last).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from hashlib import sha256
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

if TYPE_CHECKING:
    from service.config import Config

PURPOSES = ("confirm", "unsubscribe", "preferences", "verp")
# Purposes of the short tokens that travel in an address's local part (at most 64 octets, and
# some mail systems change its case): numbers in base 36 and a hex HMAC, all lower case.
SHORT_PURPOSES = ("unsubscribe-mailto", "verp")
SHORT_MAC_BYTES = 12
DAY = 86400
# Seconds a token stays valid; None never expires. An unsubscribe link in an old email must
# always work (it can only ever take mail away); a preferences link opens the reader's data,
# so it lasts NEWSLETTER_PREFERENCES_TOKEN_DAYS and every issue carries a fresh one.
MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * DAY,
    "unsubscribe": None,
    "preferences": 90 * DAY,
    "verp": 180 * DAY,
}


class TokenError(ValueError):
    """The token is forged, damaged, expired or made for another purpose.

    For an expired token whose signature is good, ``payload`` holds what it carried: enough to
    offer a fresh link by email, never enough to act on.
    """

    def __init__(self, reason: str, payload: str | None = None) -> None:
        self.reason = reason
        self.payload = payload
        super().__init__(reason)


def _keys(secret_key: str | Sequence[str]) -> list[str]:
    keys = [secret_key] if isinstance(secret_key, str) else list(secret_key)
    if not keys:
        raise ValueError("a TokenSigner needs at least one secret key")
    return keys


def _signer(keys: list[str], purpose: str, max_age: int | None) -> Signer:
    kind = TimestampSigner if max_age is not None else Signer
    derived = [
        kind(key, salt=f"newsletter.{purpose}", digest_method=sha256).derive_key() for key in keys
    ]
    return kind(derived, key_derivation="none", digest_method=sha256)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def _same(given: str, expected: str) -> bool:
    """A constant-time comparison that never raises: compare_digest refuses non-ASCII str."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


class TokenSigner:
    """Signs and verifies tokens.

    ``secret_key`` is the current key, or every key oldest first (the last one signs).
    ``old_keys`` are keys that only verify. ``max_age`` overrides :data:`MAX_AGE` per purpose.
    """

    def __init__(self, secret_key: str | Sequence[str], old_keys: Sequence[str] = (),
                 max_age: Mapping[str, int | None] | None = None) -> None:
        keys = [*old_keys, *_keys(secret_key)]
        self.max_age = {**MAX_AGE, **(max_age or {})}
        self._signers = {
            purpose: _signer(keys, purpose, self.max_age[purpose]) for purpose in PURPOSES
        }
        # Newest first: a current token is checked against its key at once.
        self._short_keys = {
            purpose: [
                Signer(key, salt=f"newsletter.short.{purpose}", digest_method=sha256).derive_key()
                for key in reversed(keys)
            ]
            for purpose in SHORT_PURPOSES
        }

    @classmethod
    def from_config(cls, config: Config) -> TokenSigner:
        """The signer for these settings: current and old keys, the preferences link's life."""
        return cls(
            config.secret_key,
            old_keys=config.old_secret_keys,
            max_age={"preferences": config.preferences_token_days * DAY},
        )

    @staticmethod
    def _short_mac(key: bytes, body: str, context: str) -> str:
        data = f"{body}|{context}".encode("utf-8", "surrogatepass")
        return hmac.new(key, data, sha256).hexdigest()[: SHORT_MAC_BYTES * 2]

    def sign_short(self, purpose: str, numbers: tuple[int, ...], context: str = "") -> str:
        """A short lower-case token for numbers; ``context`` is signed but not carried."""
        body = "-".join(_base36(n) for n in numbers)
        return f"{body}-{self._short_mac(self._short_keys[purpose][0], body, context)}"

    def verify_short(self, purpose: str, token: str, context: str = "") -> tuple[int, ...]:
        """The numbers of a good short token; TokenError('invalid') for anything else."""
        numbers = self.read_short(token)
        body, _, mac = token.lower().rpartition("-")
        if not any(_same(mac, self._short_mac(key, body, context))
                   for key in self._short_keys[purpose]):
            raise TokenError("invalid")
        return numbers

    def read_short(self, token: str) -> tuple[int, ...]:
        """The numbers of a short token, unverified: to find the context it was signed with."""
        body, dash, mac = token.lower().rpartition("-")
        parts = body.split("-")
        if not (dash and body and mac and token.isascii()
                and all(part.isalnum() and len(part) <= 13 for part in parts)):
            raise TokenError("invalid")
        return tuple(int(part, 36) for part in parts)

    def sign(self, purpose: str, payload: str) -> str:
        """A URL-safe token carrying ``payload`` for ``purpose`` only."""
        return self._signers[purpose].sign(base64_encode(payload.encode("utf-8"))).decode("ascii")

    def verify(self, purpose: str, token: str) -> str:
        """The payload of a good token; TokenError('invalid' | 'expired') otherwise."""
        signer = self._signers[purpose]
        try:
            if isinstance(signer, TimestampSigner):
                value = signer.unsign(token, max_age=self.max_age[purpose])
            else:
                value = signer.unsign(token)
            return base64_decode(value).decode("utf-8")
        except SignatureExpired as expired:
            raise TokenError("expired", _decoded(expired.payload)) from None
        except (BadSignature, ValueError, TypeError):
            raise TokenError("invalid") from None


def _decoded(payload: object) -> str | None:
    try:
        return base64_decode(payload).decode("utf-8")  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a payload we cannot read is simply not offered
        return None
