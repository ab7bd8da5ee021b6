"""``newsletter api-tokens``: bearer tokens for the REST API under /api."""

from __future__ import annotations

import json

import click

from service.admin.models import ROLES
from service.commands.support import cli_app


def _when(value) -> str | None:  # type: ignore[no-untyped-def]
    return value.isoformat(timespec="seconds") if value else None


@click.group("api-tokens")
def api_tokens_group() -> None:
    """API tokens: create (shown once), list, revoke."""


@api_tokens_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="editor: read only; admin: read and change, and send.")
def api_tokens_create(name: str, role: str) -> None:
    """Create a token called NAME and print it. It is shown this once: only its hash is kept."""
    from service.api.tokens import TokenError, create_token

    db = cli_app().extensions["db"]
    try:
        with db.session() as session:
            row, token = create_token(session, name, role, created_by="cli")
            token_id = row.id
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} token {token_id} ({name}). Copy it now, it is not shown again:",
               err=True)
    click.echo(token)


@api_tokens_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def api_tokens_list(as_json: bool) -> None:
    """Every token: id, name, role, prefix, when made, last used and revoked."""
    from service.api.tokens import list_tokens

    with cli_app().extensions["db"].session() as session:
        rows = list_tokens(session)
    for row in rows:
        record = {"id": row.id, "name": row.name, "role": row.role, "prefix": row.prefix,
                  "created_by": row.created_by, "created_at": _when(row.created_at),
                  "last_used_at": _when(row.last_used_at), "revoked_at": _when(row.revoked_at)}
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            state = f"revoked {record['revoked_at']}" if row.revoked_at else "active"
            click.echo(f"{row.id}\t{row.name}\t{row.role}\t{row.prefix}…\t{state}"
                       f"\tlast used {record['last_used_at'] or 'never'}")
    if not rows and not as_json:
        click.echo("no API tokens")


@api_tokens_group.command("revoke")
@click.argument("token_id", type=int)
def api_tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID: requests with it are refused from now on."""
    from service.api.tokens import TokenError, revoke_token

    try:
        with cli_app().extensions["db"].session() as session:
            row = revoke_token(session, token_id)
            name = row.name
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked token {token_id} ({name})")
