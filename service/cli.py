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


def _app(config: Config | None = None, needs_db: bool = True):  # type: ignore[no-untyped-def]
    """The app; with needs_db, its database migrated to the newest schema.

    The embedded SQLite database is migrated on the spot; a configured database is left to
    the operator (``newsletter db upgrade``), who is told so.
    """
    from service import create_app, migrate

    config = config or _config()
    app = create_app(config)
    if needs_db:
        engine = app.extensions["db"].engine
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            if config.database_url:
                raise click.ClickException(
                    f"the database is at revision {current or 'empty'}, not {head}:"
                    " run 'newsletter db upgrade'"
                )
            migrate.upgrade(engine)
    return app


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
    from service.sending.preview import RecipientError, personal_values, preview_message

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
        links = app.extensions["subscribers"].links
        if fmt == "eml":
            sys.stdout.buffer.write(
                preview_message(config, app.extensions["db"], links, compiled, address)
            )
            return
        html, text = compiled.personalise(personal_values(links, compiled, address))
        sys.stdout.buffer.write((html if fmt == "html" else text).encode("utf-8"))
    except (IssueError, RecipientError, HeaderInjectionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


# ---------------------------------------------------------------- lists and subscribers


@main.group("lists", invoke_without_command=True)
@click.pass_context
def lists_group(context: click.Context) -> None:
    """Mailing lists; without a subcommand, every list with its subscriber counts."""
    if context.invoked_subcommand is not None:
        return
    from service.subscribers.lists import list_counts

    db = _app().extensions["db"]
    with db.session() as session:
        rows = list_counts(session)
    if not rows:
        click.echo("no lists yet: newsletter lists create SLUG --name NAME")
    for row in rows:
        m, c = row.mailing_list, row.counts
        opt_in = "double opt-in" if m.double_opt_in else "single opt-in"
        click.echo(
            f"{m.slug}  {m.name}  [{m.language}, {opt_in}]  confirmed={c.get('confirmed', 0)}"
            f" pending={c.get('pending', 0)} unsubscribed={c.get('unsubscribed', 0)}"
        )


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option("--double-opt-in/--no-double-opt-in", default=True, show_default=True)
def lists_create(slug: str, name: str, description: str, language: str, double_opt_in: bool) -> None:
    """Create a list."""
    from service.subscribers.lists import ListError, create_list

    db = _app().extensions["db"]
    try:
        with db.session() as session:
            create_list(session, slug, name, language=language, double_opt_in=double_opt_in,
                        description=description)
    except ListError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created list {slug}")


@main.group("subscribers")
def subscribers_group() -> None:
    """Import and export subscribers."""


def _get_list(db, slug: str):  # type: ignore[no-untyped-def]
    from service.subscribers.lists import ListError, get_list

    try:
        with db.session() as session:
            return get_list(session, slug)
    except ListError as exc:
        raise click.ClickException(str(exc)) from None


@subscribers_group.command("import")
@click.argument("csv_file", type=click.File("rb"))
@click.option("--list", "slug", required=True, help="The list to subscribe them to.")
@click.option("--confirmed", is_flag=True,
              help="They confirmed elsewhere: send them issues without a confirmation email.")
def subscribers_import(csv_file, slug: str, confirmed: bool) -> None:  # type: ignore[no-untyped-def]
    """Import CSV_FILE (a header row with an 'email' column, or email,name rows)."""
    import os

    from service.subscribers.importer import import_csv, open_csv

    db = _app().extensions["db"]
    mailing_list = _get_list(db, slug)
    stream, counter = open_csv(csv_file)
    try:
        size = os.fstat(csv_file.fileno()).st_size
    except (OSError, ValueError):
        size = 0
    with click.progressbar(length=size or 1, label="importing", file=sys.stderr) as bar:
        done = 0

        def advance(_report) -> None:  # type: ignore[no-untyped-def]
            nonlocal done
            bar.update(counter.bytes_read - done)
            done = counter.bytes_read

        report = import_csv(db, stream, mailing_list, confirmed=confirmed, on_batch=advance)
    for bad in report.bad:
        click.echo(f"line {bad.line}: {bad.reason}", err=True)
    if report.bad_count > len(report.bad):
        click.echo(f"... and {report.bad_count - len(report.bad)} more bad rows", err=True)
    click.echo(
        f"{report.rows} rows: {report.imported} new subscribers, {report.subscribed} added to"
        f" {slug}, {report.duplicates} duplicates, {report.bad_count} bad rows"
    )


@subscribers_group.command("export")
@click.option("--list", "slug", required=True)
@click.option("--status", type=click.Choice(["pending", "confirmed", "unsubscribed"]), default=None,
              help="Only subscriptions in this state.")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True)
def subscribers_export(slug: str, status: str | None, output) -> None:  # type: ignore[no-untyped-def]
    """Write the list's subscribers as CSV."""
    from service.subscribers.exporter import export_csv

    db = _app().extensions["db"]
    count = export_csv(db, output, _get_list(db, slug), status)
    click.echo(f"exported {count} subscribers", err=True)


# ---------------------------------------------------------------- database


@main.group("db")
def db_group() -> None:
    """Database schema migrations (Alembic)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from service import migrate

    app = _app(needs_db=False)
    db = app.extensions["db"]
    migrate.upgrade(db.engine, revision)
    click.echo(
        f"database at {migrate.current_revision(db.engine)} ({db.engine.url.render_as_string()})"
    )


@db_group.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from service import migrate

    db = _app(needs_db=False).extensions["db"]
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


@main.command("inbound")
def inbound() -> None:
    """Receive mail for NEWSLETTER_INBOUND_DOMAIN (mailto: unsubscribes) until stopped."""
    import threading

    from service.inbound import InboundServer

    config = _config()
    if not config.inbound_domain:
        raise click.ClickException("set NEWSLETTER_INBOUND_DOMAIN to the domain this receives for")
    server = InboundServer(_app(config), config.inbound_host, config.inbound_port)
    server.start()
    click.echo(f"newsletter: receiving for @{config.inbound_domain} on "
               f"{config.inbound_host}:{config.inbound_port} (Ctrl+C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command("dev")
@click.option("--host", default=None, help="Default: NEWSLETTER_HOST.")
@click.option("--port", type=int, default=None, help="Default: NEWSLETTER_PORT.")
def dev(host: str | None, port: int | None) -> None:
    """Run everything on embedded defaults: SQLite, the web app, the outbox relay and a dev
    inbox that catches every email (unless NEWSLETTER_SMTP_URL points elsewhere)."""
    import signal
    from dataclasses import replace
    from urllib.parse import urlsplit

    from werkzeug.serving import run_simple

    from service.devinbox import DevInbox
    from service.subscribers.lists import ensure_default_list

    config = replace(_config(), dev_inbox=True)
    host, port = host or config.host, port or config.port
    if port != config.port and config.base_url == load_config({}).base_url:
        config = replace(config, base_url=f"http://{host}:{port}")
    inbox_url = urlsplit(config.smtp_url)
    inbox = None
    if inbox_url.hostname in ("127.0.0.1", "localhost") and inbox_url.port:
        inbox = DevInbox(config.instance_dir / "devinbox", "127.0.0.1", inbox_url.port)
        inbox.start()
    app = _app(config)
    with app.extensions["db"].session() as session:
        ensure_default_list(session, config.newsletter_name, config.language)
    app.extensions["outbox"].kick()  # deliver what an earlier run left queued
    helpers = _start_celery(config)
    # A plain `kill` must stop the worker and beat too, as Ctrl+C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    click.echo(f"newsletter: archive    http://{host}:{port}/archive")
    click.echo(f"newsletter: subscribe  http://{host}:{port}/subscribe")
    if inbox:
        click.echo(f"newsletter: dev inbox  http://{host}:{port}/dev/inbox  (SMTP {config.smtp_url})")
    click.echo("newsletter: a Celery worker and beat run alongside; Ctrl+C stops everything")
    try:
        run_simple(host, port, app, threaded=True)
    finally:
        for helper in helpers:
            helper.terminate()
        for helper in helpers:
            try:
                helper.wait(timeout=10)
            except Exception:  # noqa: BLE001 - stop it for good
                helper.kill()
        app.extensions["outbox"].stop()
        if inbox:
            inbox.stop()


def _start_celery(config: Config) -> list:  # type: ignore[type-arg]
    """A real Celery worker and beat, as child processes, on the same settings. Without Redis
    they use a broker in an SQLite file; on SQLite, one worker process."""
    import os
    import subprocess

    env = dict(os.environ)
    for name in ("base_url", "smtp_url", "instance_dir", "secret_key", "database_url", "redis_url"):
        value = str(getattr(config, name))
        if value:
            env[f"NEWSLETTER_{name.upper()}"] = value
    celery = str(Path(sys.executable).parent / "celery")
    logs = config.instance_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    concurrency = "1" if config.sqlalchemy_url.startswith("sqlite") else "2"
    commands = {
        "worker": [celery, "-A", "worker", "worker", f"--concurrency={concurrency}",
                   "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        "beat": [celery, "-A", "worker", "beat", "--loglevel=INFO",
                 f"--schedule={config.instance_dir / 'celerybeat-schedule'}"],
    }
    helpers = []
    for name, command in commands.items():
        log = (logs / f"{name}.log").open("ab")
        helpers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=Path(__file__).resolve().parent.parent))
        click.echo(f"newsletter: {name} started (log: {logs / (name + '.log')})")
    return helpers


import service.cli_sending  # noqa: E402,F401  (registers send, sends, worker, beat)

if __name__ == "__main__":
    main()
