"""``newsletter db``, ``serve``, ``inbound`` and ``dev``: run the parts of the service."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.commands.support import cli_app, cli_config
from service.config import PROJECT_ROOT, Config, load_config


@click.group("db")
def db_group() -> None:
    """Database schema migrations (Alembic)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from service import migrate

    app = cli_app(needs_db=False)
    db = app.extensions["db"]
    migrate.upgrade(db.engine, revision)
    click.echo(
        f"database at {migrate.current_revision(db.engine)} ({db.engine.url.render_as_string()})"
    )


@db_group.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from service import migrate

    db = cli_app(needs_db=False).extensions["db"]
    click.echo(migrate.current_revision(db.engine) or "empty")


@click.command("serve")
@click.option("--host", default=None, help="Default: NEWSLETTER_HOST.")
@click.option("--port", type=int, default=None, help="Default: NEWSLETTER_PORT.")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web app with the embedded server (use gunicorn in production)."""
    from werkzeug.serving import run_simple

    config = cli_config()
    run_simple(host or config.host, port or config.port, cli_app(config), threaded=True)


@click.command("inbound")
def inbound() -> None:
    """Receive mail for NEWSLETTER_INBOUND_DOMAIN (mailto: unsubscribes) and
    NEWSLETTER_BOUNCE_DOMAIN (bounces) until stopped."""
    import threading

    from service.inbound import InboundServer

    config = cli_config()
    domains = [d for d in (config.inbound_domain, config.bounce_domain) if d]
    if not domains:
        raise click.ClickException("set NEWSLETTER_INBOUND_DOMAIN (mailto: unsubscribes) or"
                                   " NEWSLETTER_BOUNCE_DOMAIN (bounces) to receive mail for")
    server = InboundServer(cli_app(config), config.inbound_host, config.inbound_port)
    server.start()
    click.echo(f"newsletter: receiving for {', '.join('@' + d for d in domains)} on "
               f"{config.inbound_host}:{config.inbound_port} (Ctrl+C stops)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@click.command("dev")
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

    config = replace(_development_config(), dev_inbox=True)
    host, port = host or config.host, port or config.port
    if port != config.port and config.base_url == Config().base_url:
        config = replace(config, base_url=f"http://{host}:{port}")
    inbox_url = urlsplit(config.smtp_url)
    inbox = None
    if inbox_url.hostname in ("127.0.0.1", "localhost") and inbox_url.port:
        inbox = DevInbox(config.instance_dir / "devinbox", "127.0.0.1", inbox_url.port)
        inbox.start()
    app = cli_app(config)
    with app.extensions["db"].session() as session:
        ensure_default_list(session, config.newsletter_name, config.language)
    app.extensions["outbox"].kick()  # deliver what an earlier run left queued
    app.extensions["signups"].kick()
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
        app.extensions["signups"].stop()
        app.extensions["outbox"].stop()
        if inbox:
            inbox.stop()


def _development_config() -> Config:
    """``newsletter dev`` is development, said explicitly, and recorded in the instance folder
    so that other commands run against it (the quickstart's second terminal) are too."""
    import os

    from service.config import ConfigError, mark_development

    if os.environ.get("NEWSLETTER_ENV", "development") != "development":
        raise click.ClickException(
            "newsletter dev runs in development; NEWSLETTER_ENV says"
            f" {os.environ['NEWSLETTER_ENV']!r} (unset it, or use newsletter serve)"
        )
    try:
        config = load_config(env="development")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    mark_development(config.instance_dir)
    return config


def _start_celery(config: Config) -> list:  # type: ignore[type-arg]
    """A real Celery worker and beat, as child processes, on the same settings. Without Redis
    they use a broker in an SQLite file; on SQLite, one worker process."""
    import os
    import subprocess

    env = dict(os.environ)
    for name in ("env", "base_url", "smtp_url", "instance_dir", "secret_key", "database_url",
                 "redis_url"):
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
                                        cwd=PROJECT_ROOT))
        click.echo(f"newsletter: {name} started (log: {logs / (name + '.log')})")
    return helpers
