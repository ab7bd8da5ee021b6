"""`newsletter send` and `sends`, run as an editor runs them, against real workers."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from click.testing import CliRunner

from service.cli import main
from tests.sending.conftest import env_for, fill_list, wait_for_status


def _run(config, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env_for(config), catch_exceptions=False)


def test_send_wait_again_and_test_copies(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    config = send_app.config["NEWSLETTER"]
    fill_list(send_app, 50)
    workers.start_worker()
    test = _run(config, "send", "2026-09-28", "--test-to", "editor@example.org, bad@@x")
    assert test.exit_code == 1 and "editor@example.org: sent" in test.stdout and "bad@@x" in test.stderr
    [copy] = smtp_sink.received
    assert copy.message()["Subject"] == "[TEST] 嵌入式AI简报 (2026-09-28)"

    result = _run(config, "send", "2026-09-14", "--list", "news", "--wait")
    assert result.exit_code == 0, result.output
    assert "50 recipients queued" in result.stdout and "finished" in result.stdout
    recipients = Counter(r.rcpt_tos[0] for r in smtp_sink.received[1:])
    assert len(recipients) == 50 and set(recipients.values()) == {1}
    # VERP: each envelope sender names its delivery, signed.
    signer = send_app.extensions["subscribers"].links.signer
    verp = smtp_sink.received[1].mail_from
    local, domain = verp.split("@")
    assert local.startswith("bounces+") and domain == config.bounce_domain
    assert signer.verify_short("verp", local[len("bounces+"):]) != ()

    twice = _run(config, "send", "2026-09-14", "--list", "news")
    assert twice.exit_code == 1 and "--again" in twice.stderr
    listing = _run(config, "sends")
    assert "finished  2026-09-14  total=50 sent=50 failed=0 remaining=0" in listing.stdout
    shown = _run(config, "sends", "show", "1")
    assert "status: finished" in shown.stdout and "sent: 50" in shown.stdout


def test_schedules_start_on_time_and_old_ones_wait(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    config = send_app.config["NEWSLETTER"]
    fill_list(send_app, 20)
    workers.start_worker()
    workers.start_beat()
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).isoformat()
    scheduled = _run(config, "send", "2026-09-14", "--list", "news", "--at", soon)
    assert "scheduled for" in scheduled.stdout
    assert wait_for_status(send_app, 1, ("finished",), timeout=60) == "finished"
    assert len(smtp_sink.received) == 20

    # 2026-09-28 carries its own send_at, long past: that waits too.
    late = _run(config, "send", "2026-09-28", "--list", "news")
    assert "paused" in late.stdout and "more than an hour ago" in late.stdout
    import time

    time.sleep(3)  # beat runs, and leaves it alone
    assert len(smtp_sink.received) == 20
    resumed = _run(config, "sends", "resume", "2")
    assert resumed.exit_code == 0
    assert wait_for_status(send_app, 2, ("finished",), timeout=60) == "finished"
    assert len(smtp_sink.received) == 40


def test_pause_and_cancel_from_the_command_line(send_app, workers, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    config = send_app.config["NEWSLETTER"]
    fill_list(send_app, 30)
    started = _run(config, "send", "2026-09-14", "--list", "news")  # no worker yet: it waits
    assert started.exit_code == 0
    assert "send 1: paused" in _run(config, "sends", "pause", "1").stdout
    workers.start_worker()
    import time

    time.sleep(2)
    assert smtp_sink.received == []  # paused: the worker sends nothing
    assert "send 1: cancelled" in _run(config, "sends", "cancel", "1").stdout
    assert _run(config, "sends", "resume", "1").exit_code == 1
    assert _run(config, "sends", "pause", "99").exit_code == 1


def test_a_draft_is_not_sent_to_a_list(send_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = send_app.config["NEWSLETTER"]
    fill_list(send_app, 3)
    draft = tmp_path / "2026-12-01.md"
    draft.write_text("---\ndraft: true\n---\n# 草稿 (2026-12-01)\n\n还没写完。\n", encoding="utf-8")
    refused = _run(config, "send", str(draft), "--list", "news")
    assert refused.exit_code == 1 and "is a draft" in refused.stderr
    assert _run(config, "sends").stdout == ""  # no send was created
