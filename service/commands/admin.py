"""``newsletter admin``: the people who may log in to the admin console."""

from __future__ import annotations

import sys

import click

from service.admin.models import ROLES
from service.commands.support import cli_app, cli_config


@click.group("admin")
def admin_group() -> None:
    """Admin console users."""


@admin_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="editor: preview and test-send; admin: everything.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
def admin_create(email: str, role: str, password_stdin: bool) -> None:
    """Create an admin user who logs in at /admin/login with EMAIL."""
    from service.admin.users import AdminUserError, check_password, create_admin_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_password(password)  # before any database work: say so at once
    except AdminUserError as exc:
        raise click.ClickException(str(exc)) from None
    config = cli_config()
    db = cli_app(config).extensions["db"]
    try:
        with db.session() as session:
            user = create_admin_user(session, email, role, password)
            address = user.email
    except AdminUserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {address}: log in at {config.base_url}/admin/login")
