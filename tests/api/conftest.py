"""Fixtures for the API tests: an app on PostgreSQL, tokens of each role, a list."""

from __future__ import annotations

import pytest

from service.api.tokens import create_token
from service.subscribers.lists import create_list
from tests.admin.conftest import admins  # noqa: F401 - the admin console's users, a fixture

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """An admin and an editor token, by role."""
    made = {}
    with app.extensions["db"].session() as session:
        for role in ("admin", "editor"):
            _row, made[role] = create_token(session, f"{role} test", role, created_by="tests")
    return made


@pytest.fixture
def lists(app) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Two lists: news (double opt-in) and notes (single opt-in), by key."""
    with app.extensions["db"].session() as session:
        news = create_list(session, "news", "News", language="en")
        notes = create_list(session, "notes", "Notes", language="en", double_opt_in=False)
        session.flush()
        return {"news": news.id, "notes": notes.id}
