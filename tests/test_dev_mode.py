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

from service.config import PROJECT_ROOT
from tests.smtp_sink import free_port

NEWSLETTER = str(Path(sys.executable).parent / "newsletter")


@pytest.mark.slow
def test_subscribe_send_and_read_in_the_dev_inbox(tmp_path: Path) -> None:
    port, inbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update({
        "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance"),
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{inbox_port}",
        "NEWSLETTER_SWEEP_SECONDS": "2",
    })
    run = {"env": env, "cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 60}
    created = subprocess.run([NEWSLETTER, "lists", "create", "open", "--name", "开放列表",
                              "--no-double-opt-in"], **run)
    assert created.returncode == 0, created.stderr
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
        request = urllib.request.Request(
            f"{base}/api/subscribe", data=json.dumps({"email": "newcomer@example.com", "list": "open"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert urllib.request.urlopen(request, timeout=5).status == 202
        sent = subprocess.run([NEWSLETTER, "send", "mcu-vision-talk", "--list", "open", "--wait"],
                              **{**run, "env": {**env, "NEWSLETTER_BASE_URL": base}})
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "finished" in sent.stdout
        page = urllib.request.urlopen(f"{base}/dev/inbox", timeout=5).read().decode()
        assert "256KB" in page or "演讲实录" in page
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
