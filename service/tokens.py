"""Signed, purpose-bound tokens (itsdangerous), one salt per purpose.

A token made for one purpose never verifies for another: a confirmation link
cannot unsubscribe anyone, and an unsubscribe link cannot confirm.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

PURPOSES = ("confirm", "unsubscribe", "preferences", "verp")
# Days a token stays valid; None never expires (an unsubscribe link in an old email must work).
MAX_AGE_DAYS: dict[str, int | None] = {
    "confirm": 7,
    "unsubscribe": None,
    "preferences": None,
    "verp": 180,
}


class TokenError(ValueError):
    """The token is forged, damaged, expired or made for another purpose."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TokenSigner:
    def __init__(self, secret_key: str) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret_key, salt=f"newsletter.{purpose}")
            for purpose in PURPOSES
        }

    def sign(self, purpose: str, payload: Any) -> str:
        return self._serializers[purpose].dumps(payload)

    def verify(self, purpose: str, token: str) -> Any:
        days = MAX_AGE_DAYS[purpose]
        try:
            return self._serializers[purpose].loads(
                token, max_age=None if days is None else days * 86400
            )
        except SignatureExpired:
            raise TokenError("expired") from None
        except BadSignature:
            raise TokenError("invalid") from None
