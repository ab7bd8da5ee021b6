"""The sending tests' fixtures (a Redis server of their own, the send settings), reused."""

from tests.sending.conftest import redis_server, send_config  # noqa: F401
