"""Settings: the only module that reads ``os.environ``.

Every setting has a name, an environment variable (``NEWSLETTER_`` + upper-case
name), a type and a default. ``docs/configuration.md`` documents each one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from service.zones import known_zone

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The signing secret used when none is configured. Fine for a laptop, refused in production.
DEV_SECRET_KEY = "dev-only-insecure-secret-key"
# Production wants at least this many bytes of key (HMAC-SHA256 keys shorter than this weaken it).
MIN_SECRET_KEY_BYTES = 32
ENVIRONMENTS = ("development", "production")
# ``newsletter dev`` writes this file into the instance folder. A process that is given no
# NEWSLETTER_ENV runs in development only when its instance folder has it, so the quickstart's
# second terminal works; anything else (gunicorn in a container) runs as production.
DEV_MARKER = "development-mode"


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


@dataclass(frozen=True)
class Config:
    env: str = "production"
    secret_key: str = DEV_SECRET_KEY
    secret_key_file: str = ""
    secret_key_old: str = ""
    preferences_token_days: int = 90
    outbox_retention_days: int = 7
    instance_dir: Path = PROJECT_ROOT / "instance"
    database_url: str = ""
    redis_url: str = ""
    issues_dir: Path = PROJECT_ROOT / "issues"
    templates_dir: Path = PROJECT_ROOT / "templates"
    base_url: str = "http://127.0.0.1:5000"
    newsletter_name: str = "嵌入式AI简报"
    newsletter_description: str = "嵌入式 AI 双周简报：端侧推理、模型压缩与部署。"
    language: str = "zh-CN"
    mail_from: str = "嵌入式AI简报 <newsletter@localhost>"
    reply_to: str = ""
    mail_domain: str = ""
    timezone: str = "UTC"
    smtp_url: str = "smtp://127.0.0.1:8025"
    welcome_email: bool = False
    signup_rate_limit: str = "10/minute;100/hour"
    signup_address_rate_limit: str = "5/hour"
    cors_origins: str = ""
    proxy_count: int = 0
    dev_inbox: bool = False
    inbound_domain: str = ""
    bounce_domain: str = ""
    send_batch_size: int = 500
    send_rate: float = 0.0
    smtp_max_connections: int = 0
    send_max_attempts: int = 100
    send_retry_base_seconds: int = 60
    send_retry_max_seconds: int = 3600
    send_max_consecutive_errors: int = 10
    send_lease_seconds: int = 60
    send_retry_window_seconds: int = 3 * 24 * 3600
    sweep_seconds: int = 30
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_key_file: str = ""
    dkim_ed25519_selector: str = ""
    dkim_ed25519_key_file: str = ""
    inbound_host: str = "127.0.0.1"
    inbound_port: int = 2525
    archive_cache_seconds: int = 300
    # Bounces and complaints (service/bounces/): the policy, how long raw bounce mail is kept,
    # the bounce mailbox beat polls, and the providers' webhook credentials.
    bounce_soft_limit: int = 3
    bounce_soft_days: int = 14
    bounce_raw_days: int = 30
    bounce_mailbox_url: str = ""
    bounce_mailbox_done: str = "Processed"
    bounce_mailbox_unparsed: str = "Unparsed"
    bounce_poll_seconds: int = 300
    ses_topic_arns: str = ""
    mailgun_signing_key: str = ""
    sendgrid_public_key: str = ""
    postmark_webhook_user: str = ""
    postmark_webhook_password: str = ""
    webhook_secret: str = ""
    # The admin console (service/admin/): login POSTs allowed per client IP and per account
    # typed (known or not, so a 429 reveals nothing), before the answer is 429.
    admin_login_rate_limit: str = "10/minute;50/hour"
    admin_login_account_rate_limit: str = "5/minute;30/hour"
    # Hours an admin login lasts, however active: a copied session cookie dies with it.
    admin_session_hours: int = 12
    # The largest CSV an admin may upload to import readers.
    admin_import_max_mb: int = 100
    # The REST API (service/api/): requests per token; webhook POST timeout and log retention.
    api_rate_limit: str = "600/minute"
    webhook_timeout_seconds: float = 5.0
    webhook_retention_days: int = 30
    # Webhooks may go to loopback, private and other internal addresses (development only:
    # off, an admin's URL cannot make the worker reach the database, Redis or cloud metadata).
    webhook_allow_private: bool = False
    # Operations (service/ops/): a bearer token /metrics asks for ("" = open), and the log
    # format of web, worker and beat: "text" or "json" (one object per line).
    metrics_token: str = ""
    log_format: str = "text"
    host: str = "127.0.0.1"
    port: int = 5000

    @property
    def is_production(self) -> bool:
        return self.env != "development"

    @property
    def old_secret_keys(self) -> list[str]:
        """Keys that signed tokens still in readers' mailboxes: they verify, never sign."""
        return [key.strip() for key in self.secret_key_old.split(",") if key.strip()]

    @property
    def secret_keys(self) -> list[str]:
        """Every key a token may be signed with, oldest first: itsdangerous signs with the last."""
        return [*self.old_secret_keys, self.secret_key]

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_dir / 'newsletter.sqlite3'}"

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def message_id_domain(self) -> str:
        """The domain for Message-ID headers: explicit, else the From address's domain."""
        if self.mail_domain:
            return self.mail_domain
        address = self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return address.rpartition("@")[2] or "localhost"

    def validate(self) -> Config:
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"NEWSLETTER_ENV must be development or production, not {self.env!r}")
        if self.is_production:
            self._validate_production_keys()
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"NEWSLETTER_BASE_URL must be an http(s) URL, got {self.base_url!r}")
        if known_zone(self.timezone) is None:
            raise ConfigError(f"NEWSLETTER_TIMEZONE is not a known time zone: {self.timezone!r}")
        try:
            from limits import parse_many

            parse_many(self.signup_rate_limit)
            parse_many(self.signup_address_rate_limit)
        except ValueError:
            raise ConfigError("NEWSLETTER_SIGNUP_*RATE_LIMIT must read like '10/minute;100/hour'") from None
        if self.preferences_token_days < 1:
            raise ConfigError("NEWSLETTER_PREFERENCES_TOKEN_DAYS must be 1 or more")
        if self.outbox_retention_days < 0:
            raise ConfigError("NEWSLETTER_OUTBOX_RETENTION_DAYS must not be negative")
        self._validate_bounces()
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"NEWSLETTER_LOG_FORMAT must be text or json, not {self.log_format!r}")
        return self

    def _validate_bounces(self) -> None:
        if self.bounce_soft_limit < 1 or self.bounce_soft_days < 1:
            raise ConfigError("NEWSLETTER_BOUNCE_SOFT_LIMIT and _SOFT_DAYS must be 1 or more")
        if self.bounce_raw_days < 0 or self.bounce_poll_seconds < 1:
            raise ConfigError("NEWSLETTER_BOUNCE_RAW_DAYS must not be negative, nor"
                              " NEWSLETTER_BOUNCE_POLL_SECONDS less than 1")
        if self.bounce_mailbox_url and not self.bounce_mailbox_url.startswith(
                ("imap://", "imaps://", "pop3://", "pop3s://")):
            raise ConfigError("NEWSLETTER_BOUNCE_MAILBOX_URL must be an imap://, imaps://,"
                              " pop3:// or pop3s:// URL")

    @property
    def ses_topic_arn_list(self) -> list[str]:
        return [arn.strip() for arn in self.ses_topic_arns.split(",") if arn.strip()]

    def _validate_production_keys(self) -> None:
        advice = (
            "set NEWSLETTER_SECRET_KEY (or NEWSLETTER_SECRET_KEY_FILE) to a long random value, e.g."
            " python3 -c 'import secrets; print(secrets.token_urlsafe(48))';"
            " for a laptop, NEWSLETTER_ENV=development"
        )
        if self.secret_key == DEV_SECRET_KEY:
            raise ConfigError(f"production refuses the development secret key: {advice}")
        if len(self.secret_key.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(
                f"NEWSLETTER_SECRET_KEY is shorter than {MIN_SECRET_KEY_BYTES} bytes: {advice}"
            )
        for old in self.old_secret_keys:
            if old == DEV_SECRET_KEY or len(old.encode("utf-8")) < MIN_SECRET_KEY_BYTES:
                raise ConfigError(
                    "NEWSLETTER_SECRET_KEY_OLD holds the development key or one shorter than"
                    f" {MIN_SECRET_KEY_BYTES} bytes: tokens it signed could be forged"
                )


def _convert(raw: str, kind: Any, name: str) -> Any:
    if kind in (int, "int"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"NEWSLETTER_{name.upper()} must be a whole number") from None
    if kind in (float, "float"):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"NEWSLETTER_{name.upper()} must be a number") from None
    if kind in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"NEWSLETTER_{name.upper()} must be true or false")
        return lowered in ("1", "true", "yes", "on")
    if kind in (Path, "Path"):
        return Path(raw).expanduser().resolve()
    return raw


def _read_secret(path: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"NEWSLETTER_SECRET_KEY_FILE cannot be read: {exc}") from None
    if not secret:
        raise ConfigError("NEWSLETTER_SECRET_KEY_FILE is empty")
    return secret


def load_config(environ: dict[str, str] | None = None, **overrides: Any) -> Config:
    """Build a Config from ``NEWSLETTER_*`` variables, then apply keyword overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Config):
        raw = environ.get(f"NEWSLETTER_{f.name.upper()}")
        if raw is not None and raw != "":
            values[f.name] = _convert(raw, f.type, f.name)
    if "secret_key" not in values and values.get("secret_key_file"):
        values["secret_key"] = _read_secret(values["secret_key_file"])
    config = replace(Config(), **values)
    if overrides:
        config = replace(config, **overrides)
    if "env" not in values and "env" not in overrides and is_marked_development(config.instance_dir):
        config = replace(config, env="development")
    if config.base_url.endswith("/"):
        config = replace(config, base_url=config.base_url.rstrip("/"))
    return config.validate()


def is_marked_development(instance_dir: Path) -> bool:
    return (instance_dir / DEV_MARKER).is_file()


def mark_development(instance_dir: Path) -> Path:
    """Record in the instance folder that it belongs to a development run (``newsletter dev``)."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    marker = instance_dir / DEV_MARKER
    marker.write_text(
        "Written by `newsletter dev`. Commands that use this instance folder and are given no\n"
        "NEWSLETTER_ENV run in development (the development secret key is accepted).\n"
        "Delete this file, or set NEWSLETTER_ENV=production, to run as production.\n",
        encoding="utf-8",
    )
    return marker
