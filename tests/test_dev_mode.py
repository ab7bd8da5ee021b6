"""`newsletter dev` on a machine with no servers: web, a real Celery worker and beat on an
SQLite broker, and the dev inbox. A newcomer's first session, end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service.config import DEV_MARKER, PROJECT_ROOT
from tests.smtp_sink import free_port

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")


@pytest.mark.slow
def test_subscribe_send_and_read_in_the_dev_inbox(tmp_path: Path) -> None:
    """As the README's quickstart: `newsletter dev` (what `python3 dev.py serve` runs) in one
    terminal, and in a second one plain commands told nothing about the environment."""
    port, inbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update({
        "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance"),
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{inbox_port}",
        "NEWSLETTER_SWEEP_SECONDS": "2",
    })
    run = {"env": env, "cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 60}
    refused = subprocess.run([NEWSLETTER, "lists"], **run)
    assert refused.returncode == 1 and "development secret key" in refused.stderr  # production
    dev = subprocess.Popen([NEWSLETTER, "dev", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/archive", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        assert (tmp_path / "instance" / DEV_MARKER).is_file()
        created = subprocess.run([NEWSLETTER, "lists", "create", "open", "--name", "开放列表",
                                  "--no-double-opt-in"], **run)
        assert created.returncode == 0, created.stderr
        request = urllib.request.Request(
            f"{base}/api/subscribe", data=json.dumps({"email": "newcomer@example.com", "list": "open"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert urllib.request.urlopen(request, timeout=5).status == 202
        for _ in range(50):  # the signup relay takes the queued signup a moment later
            if "confirmed=1" in subprocess.run([NEWSLETTER, "lists"], **run).stdout:
                break
            time.sleep(0.2)
        sent = subprocess.run([NEWSLETTER, "send", "mcu-vision-talk", "--list", "open", "--wait"],
                              **{**run, "env": {**env, "NEWSLETTER_BASE_URL": base}})
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "finished" in sent.stdout and "1 recipients" in sent.stdout
        page = urllib.request.urlopen(f"{base}/dev/inbox", timeout=5).read().decode()
        assert "256KB" in page or "演讲实录" in page
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)


def test_newsletter_dev_refuses_an_explicit_production(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update({"NEWSLETTER_ENV": "production", "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "i")})
    result = subprocess.run([NEWSLETTER, "dev"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1 and "newsletter dev runs in development" in result.stderr
    assert not (tmp_path / "i" / DEV_MARKER).exists()
