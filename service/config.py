"""Settings: the only module that reads ``os.environ``.

Every setting has a name, an environment variable (``NEWSLETTER_`` + upper-case
name), a type and a default. ``docs/configuration.md`` documents each one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The signing secret used when none is configured. Fine for a laptop, refused in production.
DEV_SECRET_KEY = "dev-only-insecure-secret-key"


class ConfigError(ValueError):
    """A setting has a value the service cannot use."""


@dataclass(frozen=True)
class Config:
    env: str = "development"
    secret_key: str = DEV_SECRET_KEY
    secret_key_file: str = ""
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
    send_max_attempts: int = 6
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
    host: str = "127.0.0.1"
    port: int = 5000

    @property
    def is_production(self) -> bool:
        return self.env == "production"

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
        if self.is_production and self.secret_key == DEV_SECRET_KEY:
            raise ConfigError(
                "NEWSLETTER_SECRET_KEY must be set to a long random value in production"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"NEWSLETTER_BASE_URL must be an http(s) URL, got {self.base_url!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"NEWSLETTER_TIMEZONE is not a known time zone: {self.timezone!r}") from None
        try:
            from limits import parse_many

            parse_many(self.signup_rate_limit)
            parse_many(self.signup_address_rate_limit)
        except ValueError:
            raise ConfigError("NEWSLETTER_SIGNUP_*RATE_LIMIT must read like '10/minute;100/hour'") from None
        if self.env not in ("development", "production"):
            raise ConfigError(f"NEWSLETTER_ENV must be development or production, not {self.env!r}")
        return self


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
    if config.base_url.endswith("/"):
        config = replace(config, base_url=config.base_url.rstrip("/"))
    return config.validate()
