"""The ``newsletter`` command. Thin: each command calls into the service packages."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.config import Config, ConfigError, load_config


def _config() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _app(config: Config | None = None):  # type: ignore[no-untyped-def]
    from service import create_app

    return create_app(config or _config())


@click.group()
def main() -> None:
    """Publish a Markdown newsletter by email, with a web archive."""


# ---------------------------------------------------------------- issues


@main.group("issues")
def issues_group() -> None:
    """The issues in the issues folder."""


@issues_group.command("list")
def issues_list() -> None:
    """Every issue with date, slug and title, newest first; bad files are named on stderr."""
    from service.issues.loader import load_issues

    config = _config()
    collection = load_issues(config.issues_dir, config.timezone)
    for issue in collection.issues:
        flags = " (draft)" if issue.draft else ""
        click.echo(f"{issue.date.isoformat()}  {issue.slug}  {issue.title}{flags}")
    for error in collection.errors:
        click.echo(f"error: {error}", err=True)
    if collection.errors:
        sys.exit(1)


@main.command("render")
@click.argument("issue")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html", show_default=True
)
@click.option(
    "--to",
    "address",
    default="reader@example.com",
    show_default=True,
    help="The recipient whose links and headers the output carries.",
)
def render(issue: str, fmt: str, address: str) -> None:
    """Render ISSUE (a file path or a slug from the issues folder) to stdout."""
    from service.issues.errors import IssueError
    from service.issues.loader import load_issue
    from service.sending.message import HeaderInjectionError
    from service.sending.preview import RecipientError, message_for, personal_values

    config = _config()
    app = _app(config)
    library = app.extensions["issues"]
    try:
        path = Path(issue)
        if path.is_file():
            loaded = load_issue(path, config.timezone)
        else:
            loaded = library.collection().by_slug(issue)
            if loaded is None:
                raise click.ClickException(f"no issue file or slug {issue!r}")
        compiled = library.renderer.compile(loaded, library.collection().slug_for_stem)
        for asset in compiled.missing_assets:
            click.echo(
                f"warning: {loaded.path.name}: asset not found in the issues folder: {asset}",
                err=True,
            )
        if fmt == "eml":
            message = message_for(config, compiled, address)
            sys.stdout.buffer.write(message.as_bytes())
            return
        html, text = compiled.personalise(personal_values(config, compiled, address))
        sys.stdout.buffer.write((html if fmt == "html" else text).encode("utf-8"))
    except (IssueError, RecipientError, HeaderInjectionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


# ---------------------------------------------------------------- database


@main.group("db")
def db_group() -> None:
    """Database schema migrations (Alembic)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from service import migrate

    app = _app()
    db = app.extensions["db"]
    migrate.upgrade(db.engine, revision)
    click.echo(
        f"database at {migrate.current_revision(db.engine)} ({db.engine.url.render_as_string()})"
    )


@db_group.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from service import migrate

    db = _app().extensions["db"]
    click.echo(migrate.current_revision(db.engine) or "empty")


# ---------------------------------------------------------------- serving


@main.command("serve")
@click.option("--host", default=None, help="Default: NEWSLETTER_HOST.")
@click.option("--port", type=int, default=None, help="Default: NEWSLETTER_PORT.")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web app with the embedded server (use gunicorn in production)."""
    from werkzeug.serving import run_simple

    config = _config()
    run_simple(host or config.host, port or config.port, _app(config), threaded=True)


@main.command("dev")
@click.option("--host", default=None, help="Default: NEWSLETTER_HOST.")
@click.option("--port", type=int, default=None, help="Default: NEWSLETTER_PORT.")
def dev(host: str | None, port: int | None) -> None:
    """Run everything on embedded defaults: migrate the SQLite database, then serve."""
    from werkzeug.serving import run_simple

    from service import migrate

    config = _config()
    app = _app(config)
    migrate.upgrade(app.extensions["db"].engine)
    host, port = host or config.host, port or config.port
    click.echo(f"newsletter: archive at http://{host}:{port}/archive  (Ctrl+C stops)")
    run_simple(host, port, app, threaded=True)


if __name__ == "__main__":
    main()
