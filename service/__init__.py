"""The newsletter service: ``create_app`` builds the Flask app; nothing runs at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from service.config import Config, load_config
from service.db import Database
from service.issues.compile import IssueRenderer
from service.issues.library import IssueLibrary


def create_app(config: Config | None = None, **overrides: Any) -> Flask:
    config = config or load_config(**overrides)
    app = Flask(
        __name__,
        template_folder=str(config.templates_dir),
        instance_path=str(config.instance_dir),
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=config.secret_key,
        SECRET_KEY_FALLBACKS=config.old_secret_keys,  # sessions signed before a rotation
        NEWSLETTER=config,
        WTF_CSRF_TIME_LIMIT=None,  # the session cookie's life bounds it; forms may sit open
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.base_url.startswith("https://"),
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    db = Database(config.sqlalchemy_url)
    renderer = IssueRenderer(
        config.templates_dir,
        config.base_url,
        config.newsletter_name,
        config.language,
        assets_dir=config.issues_dir,
    )
    app.extensions["db"] = db
    app.extensions["issues"] = IssueLibrary(config.issues_dir, renderer, db, config.timezone)

    from service.web import init_web

    init_web(app, config, renderer)
    return app
