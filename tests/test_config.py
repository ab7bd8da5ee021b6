"""Settings come from NEWSLETTER_* variables; production refuses the development secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import create_app
from service.config import DEV_SECRET_KEY, ConfigError, load_config


def test_variables_are_typed_and_defaults_apply(tmp_path: Path) -> None:
    config = load_config(
        {
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
        load_config({"NEWSLETTER_PORT": "eighty"})
    with pytest.raises(ConfigError, match="NEWSLETTER_BASE_URL"):
        load_config({"NEWSLETTER_BASE_URL": "news.example.org"})


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        load_config({"NEWSLETTER_ENV": "production"})
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        create_app(environ={"NEWSLETTER_ENV": "production"})  # type: ignore[call-arg]


def test_secret_key_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-a-file\n")
    config = load_config(
        {"NEWSLETTER_ENV": "production", "NEWSLETTER_SECRET_KEY_FILE": str(secret)}
    )
    assert config.secret_key == "s3cret-from-a-file"
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config({"NEWSLETTER_SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_message_id_domain_comes_from_the_from_address() -> None:
    config = load_config({"NEWSLETTER_MAIL_FROM": "简报 <news@mail.example.org>"})
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
