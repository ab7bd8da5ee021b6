"""Fixtures for the bounce tests: an app with a bounce domain, the sending tests' workers and
Redis, and a real Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.bounces.dovecot import Dovecot, dovecot_binary
from tests.conftest import REQUIRE_SERVICES, running_app
from tests.sending.conftest import redis_server, send_app, send_config, workers  # noqa: F401

BOUNCE_DOMAIN = "bounces.example.org"
INBOUND_DOMAIN = "news.example.org"
MAIL_FROM = "嵌入式AI简报 <newsletter@news.example.org>"


def bounce_settings(config):  # type: ignore[no-untyped-def]
    return replace(config, bounce_domain=BOUNCE_DOMAIN, inbound_domain=INBOUND_DOMAIN,
                   mail_from=MAIL_FROM)


@pytest.fixture
def bounce_config(config):  # type: ignore[no-untyped-def]
    return bounce_settings(config)


@pytest.fixture
def bounce_app(bounce_config):  # type: ignore[no-untyped-def]
    with running_app(bounce_config) as app:
        yield app


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        message = "Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    server = Dovecot(tmp_path).start(binary)
    yield server
    server.stop()
