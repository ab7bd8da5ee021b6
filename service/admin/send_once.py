"""One-time confirmations for the send form: a confirm button posted twice (a double click, a
reload, a second tab) must not make a second send.

The confirm form carries a signed token with the choices and a random nonce. The first POST
claims the nonce (Redis ``SET NX``, shared by every web process; a per-process dict without
Redis, as in development, and while Redis is away) and later records the send it made, so a
repeat is shown that send.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from service.redis_guard import RedisGuard, fast_failing_client

SALT = "newsletter.admin-send-confirm"
# How long a confirm page stays valid, and how long a used nonce is remembered (longer).
CONFIRM_MAX_AGE = 30 * 60
NONCE_TTL = 2 * CONFIRM_MAX_AGE
CLAIMED = "claimed"


class ConfirmationInvalid(ValueError):
    """The confirm form's token was altered, expired, or made with another key."""


def sign_choices(secret_key: str, choices: dict[str, Any]) -> str:
    """The confirm form's token: the choices plus a fresh nonce, signed and timed."""
    return URLSafeTimedSerializer(secret_key, salt=SALT).dumps(
        {**choices, "nonce": secrets.token_urlsafe(16)})


def read_choices(secret_key: str, token: str) -> dict[str, Any]:
    try:
        data = URLSafeTimedSerializer(secret_key, salt=SALT).loads(token, max_age=CONFIRM_MAX_AGE)
    except SignatureExpired:
        raise ConfirmationInvalid("this confirmation is more than 30 minutes old") from None
    except BadSignature:
        raise ConfirmationInvalid("this confirmation is not one this site made") from None
    if not isinstance(data, dict) or not isinstance(data.get("nonce"), str):
        raise ConfirmationInvalid("this confirmation is not one this site made")
    return data


class OnceStore:
    """Nonces already used, and the send each one made. While Redis is away, this process
    remembers them itself: a double click reaches one process, so it is still caught."""

    PREFIX = "newsletter:admin-send-once:"

    def __init__(self, redis_url: str = "") -> None:
        self._guard = RedisGuard(fast_failing_client(redis_url) if redis_url else None,
                                 "admin send confirmations")
        self._memory: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def claim(self, nonce: str) -> bool:
        """True for the first caller with this nonce, False for every later one."""
        return self._guard.call(
            lambda redis: bool(redis.set(self.PREFIX + nonce, CLAIMED, nx=True, ex=NONCE_TTL)),
            lambda: self._claim_here(nonce))

    def record(self, nonce: str, send_id: int) -> None:
        self._remember(nonce, str(send_id))  # here too: Redis may be gone when it is asked
        self._guard.call(lambda redis: redis.set(self.PREFIX + nonce, str(send_id), ex=NONCE_TTL),
                         lambda: None)

    def made(self, nonce: str) -> int | None:
        """The send the nonce made, once it is recorded."""
        value = self._guard.call(lambda redis: redis.get(self.PREFIX + nonce), lambda: None)
        value = value.decode() if isinstance(value, bytes) else value
        if not (value and value.isdigit()):
            with self._lock:
                value = self._memory.get(nonce, (0.0, None))[1]
        return int(value) if value and value.isdigit() else None

    def _claim_here(self, nonce: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._memory = {k: v for k, v in self._memory.items() if v[0] > now}
            if nonce in self._memory:
                return False
            self._memory[nonce] = (now + NONCE_TTL, CLAIMED)
            return True

    def _remember(self, nonce: str, value: str) -> None:
        with self._lock:
            self._memory[nonce] = (time.monotonic() + NONCE_TTL, value)
