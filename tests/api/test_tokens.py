"""API tokens: stored as hashes, checked on every request, refused when missing, malformed
or revoked, limited by role; and the ``newsletter api-tokens`` commands."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from service.api.models import ApiToken
from service.api.tokens import revoke_token
from service.cli import main
from tests.api.conftest import POSTGRES_ONLY, bearer


def _rows(app) -> list[ApiToken]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


@POSTGRES_ONLY
def test_tokens_are_hashed_checked_and_revocable(app, client, tokens, lists) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(app)
    for row in rows:
        assert row.last_used_at is None
        assert row.token_hash not in tokens.values() and len(row.token_hash) == 64
    editor = next(r for r in rows if r.role == "editor")
    assert editor.token_hash == hashlib.sha256(tokens["editor"].encode()).hexdigest()
    assert tokens["editor"].startswith(editor.prefix) and len(tokens["editor"]) >= 40

    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer nl_not-a-real-token"},
        {"Authorization": "Bearer " + tokens["admin"][:-1]},  # one character short
        {"Authorization": "Bearer " + "x" * 5000},
    ):
        response = client.get("/api/lists", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.is_json and response.json["message"]
    assert client.get("/api/lists", headers=bearer(tokens["editor"])).status_code == 200
    # The scheme's name is case-insensitive (RFC 7235).
    assert client.get("/api/lists", headers={"Authorization": "bearer " + tokens["editor"]}
                      ).status_code == 200
    used = {r.role: r.last_used_at for r in _rows(app)}
    assert used["editor"] is not None and used["admin"] is None  # recorded, once a minute

    assert client.get("/api/lists", headers=bearer(tokens["admin"])).status_code == 200
    admin_row = next(r for r in rows if r.role == "admin")
    with app.extensions["db"].session() as session:
        revoke_token(session, admin_row.id)
    response = client.get("/api/lists", headers=bearer(tokens["admin"]))
    assert response.status_code == 401 and "revoked" in response.json["message"]


@POSTGRES_ONLY
def test_an_editor_token_reads_lists_and_sends_but_no_reader_and_changes_nothing(client, tokens, lists) -> None:  # type: ignore[no-untyped-def]
    editor = bearer(tokens["editor"])
    assert client.get("/api/lists", headers=editor).status_code == 200
    assert client.get("/api/sends", headers=editor).status_code == 200
    writes = [
        ("get", "/api/subscribers", None),  # readers' addresses: admins only
        ("get", "/api/subscribers/1", None),
        ("post", "/api/subscribers", {"email": "a@example.org", "lists": ["news"]}),
        ("patch", "/api/subscribers/1", {"name": "x"}),
        ("delete", "/api/subscribers/1", None),
        ("post", "/api/sends", {"issue": "2026-09-14", "lists": ["news"], "send_at": None}),
        ("post", "/api/sends/1/pause", None),
        ("post", "/api/sends/1/start", None),
    ]
    for method, path, body in writes:
        response = getattr(client, method)(path, headers=editor, json=body)
        assert response.status_code == 403, (method, path, response.json)
        assert "admin" in response.json["message"]
    # Nothing was made: the admin sees no reader and no send.
    admin = bearer(tokens["admin"])
    assert client.get("/api/subscribers", headers=admin).json["items"] == []
    assert client.get("/api/sends", headers=admin).json["items"] == []


@POSTGRES_ONLY
def test_cli_creates_lists_and_revokes(tmp_path: Path, database_url: str) -> None:
    env = {"NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance"),
           "NEWSLETTER_DATABASE_URL": database_url}
    runner = CliRunner()
    created = runner.invoke(main, ["api-tokens", "create", "CRM sync", "--role", "editor"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("nl_") and "not shown again" in created.stderr
    refused = runner.invoke(main, ["api-tokens", "create", "x", "--role", "owner"], env=env)
    assert refused.exit_code != 0
    listed = runner.invoke(main, ["api-tokens", "list"], env=env)
    assert listed.exit_code == 0 and "CRM sync" in listed.output and "active" in listed.output
    assert token not in listed.output and token[:10] in listed.output
    engine = create_engine(database_url)
    with Session(engine) as session:
        [row] = session.scalars(select(ApiToken))
        assert row.role == "editor" and row.created_by == "cli"
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    revoked = runner.invoke(main, ["api-tokens", "revoke", str(row.id)], env=env)
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    missing = runner.invoke(main, ["api-tokens", "revoke", "999"], env=env)
    assert missing.exit_code != 0 and "no API token 999" in missing.output
    as_json = runner.invoke(main, ["api-tokens", "list", "--json"], env=env)
    assert '"revoked_at": "' in as_json.output
    with Session(engine) as session:
        assert session.scalars(select(ApiToken)).one().revoked_at is not None
    engine.dispose()
