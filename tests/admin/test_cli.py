"""``newsletter admin create``, run the way an operator runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from service.admin.models import AdminUser
from service.admin.users import authenticate
from service.cli import main

PASSWORD = "a long enough password"


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance"),
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_BASE_URL": "https://news.example.org",
    }


def run(env: dict[str, str], *args: str, stdin: str = ""):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["admin", "create", *args], input=stdin, env=env)


def _users(database_url: str) -> list[AdminUser]:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(AdminUser)))
    finally:
        engine.dispose()


def test_create_with_password_stdin(env: dict[str, str], database_url: str) -> None:
    result = run(env, "Ops@Example.org", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created admin ops@example.org" in result.output and "/admin/login" in result.output
    assert PASSWORD not in result.output
    [user] = _users(database_url)
    assert (user.email, user.role, user.active) == ("ops@example.org", "admin", True)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert authenticate(session, "ops@example.org", PASSWORD) is not None
        assert authenticate(session, "ops@example.org", PASSWORD + "x") is None
    engine.dispose()


def test_create_prompts_twice_and_never_prints_the_password(env: dict[str, str],
                                                            database_url: str) -> None:
    result = run(env, "ed@example.org", "--role", "editor", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Password") == 1 and "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    assert [(u.email, u.role) for u in _users(database_url)] == [("ed@example.org", "editor")]
    mismatch = run(env, "ed2@example.org", "--role", "editor",
                   stdin=f"{PASSWORD}\n{PASSWORD}!\n{PASSWORD}\n{PASSWORD}\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output


def test_create_refuses_short_passwords_bad_roles_and_duplicates(env: dict[str, str],
                                                                 database_url: str) -> None:
    short = run(env, "a@example.org", "--role", "admin", "--password-stdin", stdin="elevenchars\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert "elevenchars" not in short.output
    assert run(env, "a@example.org", "--role", "owner", "--password-stdin",
               stdin=PASSWORD).exit_code == 2
    assert run(env, "not-an-email", "--role", "admin", "--password-stdin",
               stdin=PASSWORD).exit_code == 1
    assert _users(database_url) == []
    assert run(env, "a@example.org", "--role", "admin", "--password-stdin",
               stdin=PASSWORD).exit_code == 0
    again = run(env, "A@example.org", "--role", "editor", "--password-stdin", stdin=PASSWORD)
    assert again.exit_code == 1 and "already exists" in again.output
    assert len(_users(database_url)) == 1
