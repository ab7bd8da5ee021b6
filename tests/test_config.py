"""Settings come from NEWSLETTER_* variables. Config fails closed: a process told nothing runs
as production, which refuses the development secret and short keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service import create_app
from service.config import (
    DEV_MARKER,
    DEV_SECRET_KEY,
    PROJECT_ROOT,
    ConfigError,
    load_config,
    mark_development,
)

DEV = {"NEWSLETTER_ENV": "development"}
LONG_KEY = "k" * 32


def test_variables_are_typed_and_defaults_apply(tmp_path: Path) -> None:
    config = load_config(
        {
            **DEV,
            "NEWSLETTER_PORT": "8081",
            "NEWSLETTER_ISSUES_DIR": str(tmp_path),
            "NEWSLETTER_BASE_URL": "https://news.example.org/",
        }
    )
    assert config.port == 8081 and config.issues_dir == tmp_path
    assert config.base_url == "https://news.example.org"
    assert config.sqlalchemy_url.startswith("sqlite:///") and config.secret_key == DEV_SECRET_KEY


def test_bad_values_are_named() -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_PORT must be a whole number"):
        load_config({**DEV, "NEWSLETTER_PORT": "eighty"})
    with pytest.raises(ConfigError, match="NEWSLETTER_BASE_URL"):
        load_config({**DEV, "NEWSLETTER_BASE_URL": "news.example.org"})
    with pytest.raises(ConfigError, match="NEWSLETTER_ENV must be development or production"):
        load_config({"NEWSLETTER_ENV": "staging", "NEWSLETTER_SECRET_KEY": LONG_KEY})


def test_production_refuses_the_default_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="development secret key"):
        load_config({"NEWSLETTER_ENV": "production"})
    with pytest.raises(ConfigError, match="development secret key"):
        create_app(environ={"NEWSLETTER_ENV": "production"})  # type: ignore[call-arg]


def test_with_no_env_the_app_runs_as_production_and_refuses_the_dev_key(tmp_path: Path) -> None:
    bare = {"NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance")}
    with pytest.raises(ConfigError, match="development secret key"):
        create_app(environ=bare)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="development secret key"):
        load_config({**bare, "NEWSLETTER_SECRET_KEY": DEV_SECRET_KEY})
    config = load_config({**bare, "NEWSLETTER_SECRET_KEY": LONG_KEY})
    assert config.env == "production" and config.is_production


def test_gunicorn_in_a_container_with_no_env_refuses_to_start(tmp_path: Path) -> None:
    """The Dockerfile's process, told nothing: importing the WSGI app fails with the reason."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_INSTANCE_DIR"] = str(tmp_path / "instance")
    result = subprocess.run([sys.executable, "-c", "import service.wsgi"], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "production refuses the development secret key" in result.stderr


@pytest.mark.parametrize("key", ["x", "short-but-not-32-bytes", "é" * 15])
def test_production_refuses_a_short_key(key: str) -> None:
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        load_config({"NEWSLETTER_ENV": "production", "NEWSLETTER_SECRET_KEY": key})
    assert load_config({"NEWSLETTER_ENV": "production", "NEWSLETTER_SECRET_KEY": "é" * 16}).secret_key


def test_production_refuses_weak_old_keys() -> None:
    env = {"NEWSLETTER_ENV": "production", "NEWSLETTER_SECRET_KEY": LONG_KEY}
    for old in ("short", DEV_SECRET_KEY, f"{'o' * 40},tiny"):
        with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY_OLD"):
            load_config({**env, "NEWSLETTER_SECRET_KEY_OLD": old})
    config = load_config({**env, "NEWSLETTER_SECRET_KEY_OLD": f" {'a' * 32} , {'b' * 32} "})
    assert config.old_secret_keys == ["a" * 32, "b" * 32]
    assert config.secret_keys == ["a" * 32, "b" * 32, LONG_KEY]


def test_newsletter_dev_marks_its_instance_folder_as_development(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    bare = {"NEWSLETTER_INSTANCE_DIR": str(instance)}
    with pytest.raises(ConfigError):
        load_config(bare)
    marker = mark_development(instance)
    assert marker.name == DEV_MARKER and "newsletter dev" in marker.read_text()
    assert load_config(bare).env == "development"
    # An explicit setting always wins over the folder.
    with pytest.raises(ConfigError, match="development secret key"):
        load_config({**bare, "NEWSLETTER_ENV": "production"})


def test_token_and_outbox_settings() -> None:
    config = load_config(DEV)
    assert (config.preferences_token_days, config.outbox_retention_days) == (90, 7)
    config = load_config({**DEV, "NEWSLETTER_PREFERENCES_TOKEN_DAYS": "30",
                          "NEWSLETTER_OUTBOX_RETENTION_DAYS": "2"})
    assert (config.preferences_token_days, config.outbox_retention_days) == (30, 2)
    with pytest.raises(ConfigError, match="PREFERENCES_TOKEN_DAYS"):
        load_config({**DEV, "NEWSLETTER_PREFERENCES_TOKEN_DAYS": "0"})


def test_secret_key_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-a-file-that-is-long-enough\n")
    config = load_config(
        {"NEWSLETTER_ENV": "production", "NEWSLETTER_SECRET_KEY_FILE": str(secret)}
    )
    assert config.secret_key == "s3cret-from-a-file-that-is-long-enough"
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config({"NEWSLETTER_SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_message_id_domain_comes_from_the_from_address() -> None:
    config = load_config({**DEV, "NEWSLETTER_MAIL_FROM": "简报 <news@mail.example.org>"})
    assert config.message_id_domain == "mail.example.org"


def test_every_setting_is_documented() -> None:
    from dataclasses import fields

    from service.config import PROJECT_ROOT, Config

    documented = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"NEWSLETTER_{f.name.upper()}"
        for f in fields(Config)
        if f"`NEWSLETTER_{f.name.upper()}`" not in documented
    ]
    assert missing == []
