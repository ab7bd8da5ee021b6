"""docker-compose.yml: the services the operations docs promise, each with a health check, a
pinned mail catcher, migrations first, settings that reach every service needing them, and
an example env file that names every setting the file passes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from service.config import PROJECT_ROOT, Config

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
EXAMPLE = PROJECT_ROOT / ".env.example"
APP_SERVICES = ("web", "worker", "beat", "inbound")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_services_health_checks_and_order(compose: dict) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrations", *APP_SERVICES, "mailcatcher"} <= set(services)
    for name in ("postgres", "redis", *APP_SERVICES, "mailcatcher"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["migrations"]["command"] == ["newsletter", "db", "upgrade"]
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrations"] == {
            "condition": "service_completed_successfully"}, name
    image = services["mailcatcher"]["image"]
    assert re.fullmatch(r"axllent/mailpit:v\d+\.\d+\.\d+", image), image
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_settings_reach_every_service_that_needs_them(compose: dict) -> None:
    services = compose["services"]
    for name in ("web", "worker", "inbound"):
        environment = services[name]["environment"]
        assert "NEWSLETTER_INBOUND_DOMAIN" in environment, name
        assert "NEWSLETTER_BOUNCE_DOMAIN" in environment, name
    assert services["inbound"]["environment"]["NEWSLETTER_INBOUND_HOST"] == "0.0.0.0"


def test_the_example_env_names_every_variable_the_file_reads() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    read = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = set(re.findall(r"^([A-Z0-9_]+)=", EXAMPLE.read_text(encoding="utf-8"), re.M))
    assert read == example
    settings = {f"NEWSLETTER_{name.upper()}" for name in Config.__dataclass_fields__}
    assert {v for v in example if v.startswith("NEWSLETTER_")} - settings == {
        "NEWSLETTER_INBOUND_PUBLISHED_PORT"}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_validates_with_the_example_env(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Without any env file (the repository holds no .env) CI's .ci/run checks it already.
    result = subprocess.run(["docker-compose", "--project-directory", str(PROJECT_ROOT),
                             "--env-file", str(EXAMPLE), "-f", str(COMPOSE), "config", "-q"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
