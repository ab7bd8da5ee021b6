"""What every command needs: the settings, and the app with its database migrated."""

from __future__ import annotations

import click

from service.config import Config, ConfigError, load_config


def cli_config() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def cli_app(config: Config | None = None, needs_db: bool = True):  # type: ignore[no-untyped-def]
    """The app; with needs_db, its database migrated to the newest schema.

    The embedded SQLite database is migrated on the spot; a configured database is left to
    the operator (``newsletter db upgrade``), who is told so.
    """
    from service import create_app, migrate

    config = config or cli_config()
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
