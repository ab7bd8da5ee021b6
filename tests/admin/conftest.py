"""Admin users and a logged-in browser for the admin console's tests."""

from __future__ import annotations

import re

import pytest

from service.admin.users import create_admin_user

ADMIN = ("admin@example.org", "correct horse battery staple")
EDITOR = ("editor@example.org", "editor password 12345")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def admins(app):  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
        create_admin_user(session, EDITOR[0], "editor", EDITOR[1])
    return {"admin": ADMIN, "editor": EDITOR}


def csrf_token(client, path: str = "/admin/login") -> str:  # type: ignore[no-untyped-def]
    page = client.get(path).get_data(as_text=True)
    return CSRF.search(page).group(1)  # type: ignore[union-attr]


def log_in(client, email: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    """POST the login form as a browser would, with the token from the page."""
    data = {"csrf_token": csrf_token(client), "email": email, "password": password, **extra}
    return client.post("/admin/login", data=data)
