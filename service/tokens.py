"""Signed, purpose-bound tokens (itsdangerous), one salt per purpose.

A token made for one purpose never verifies for another: a confirmation link
cannot unsubscribe anyone, and an unsubscribe link cannot confirm. Tokens are
minted for every recipient of a send, so the per-purpose keys are derived once
and each token costs one HMAC.
"""

from __future__ import annotations

from hashlib import sha256

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode

PURPOSES = ("confirm", "unsubscribe", "preferences", "verp")
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


class TokenSigner:
    def __init__(self, secret_key: str) -> None:
        self._signers = {purpose: _signer(secret_key, purpose) for purpose in PURPOSES}

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
