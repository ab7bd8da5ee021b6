"""Per-send reporting: bounce, complaint and unsubscribe counts, rates and reasons in
``newsletter sends show`` (and ``--json``), with warnings past the providers' limits."""

from __future__ import annotations

import json
import logging

from click.testing import CliRunner
from sqlalchemy import select

from service.bounces.bounce_mail import handle_bounce_mail
from service.bounces.events import BounceReport, Bounces, record_bounce
from service.bounces.locate import Clues
from service.cli import main
from service.subscribers.links import ALL_LISTS
from service.subscribers.models import Subscriber
from tests.bounces.ledger import MAILBOX_FULL, deliveries, dsn, readers, sent_send, verp_address


def _bounce(app, send_id: int, email: str, reason=None) -> None:  # type: ignore[no-untyped-def]
    delivery_id = deliveries(app, send_id)[email]
    raw = dsn(email, envelope=verp_address(app, delivery_id), **({"reason": reason} if reason else {}))
    handle_bounce_mail(app.extensions["db"], Bounces.from_config(app.config["NEWSLETTER"]), raw,
                       "smtp")


def _show(app, tmp_path, *args: str):  # type: ignore[no-untyped-def]
    config = app.config["NEWSLETTER"]
    env = {"NEWSLETTER_DATABASE_URL": config.database_url,
           "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "cli")}
    return CliRunner().invoke(main, ["sends", "show", *args], env=env)


def test_sends_show_counts_rates_reasons_and_warns(bounce_app, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 100)
    send_id = sent_send(bounce_app)
    caplog.set_level(logging.WARNING, logger="service.bounces.report")
    for n in range(3):  # 3% hard: over 2%
        _bounce(bounce_app, send_id, f"r{n}@example.com")
    assert sum("hard-bounce rate" in r.getMessage() for r in caplog.records) == 1  # one crossing
    _bounce(bounce_app, send_id, "r3@example.com", MAILBOX_FULL)
    complaint = BounceReport(source="generic", dedup_key="generic:x", kind="complaint",
                             reason="feedback", clues=Clues(
                                 delivery_id=deliveries(bounce_app, send_id)["r4@example.com"]))
    with bounce_app.extensions["db"].session() as session:
        record_bounce(session, Bounces.from_config(bounce_app.config["NEWSLETTER"]), complaint)
        reader = session.scalars(select(Subscriber).where(Subscriber.email == "r5@example.com")).one()
        bounce_app.extensions["subscribers"].unsubscribe(session, reader, ALL_LISTS)
    assert any("complaint rate" in r.getMessage() for r in caplog.records)

    text = _show(bounce_app, tmp_path, str(send_id))
    assert text.exit_code == 0, text.output
    assert "bounces: 3 hard (3.00%), 1 soft (1.00%); complaints: 1 (1.00%);" in text.output
    assert "unsubscribes: 1 (1.00%) of 100 sent" in text.output
    assert "reasons: userunknown 3, mailboxfull 1" in text.output
    assert "warning: complaint rate 1.00% is above 0.1%" in text.output
    assert "warning: hard-bounce rate 3.00% is above 2%" in text.output
    assert "  bounced: 4" in text.output and "  complained: 1" in text.output

    data = json.loads(_show(bounce_app, tmp_path, str(send_id), "--json").output)
    bounces = data["bounces"]
    assert (data["id"], data["counts"]["sent"], bounces["went_out"]) == (send_id, 95, 100)
    assert (bounces["hard"], bounces["soft"], bounces["complaints"], bounces["unsubscribes"]) == (
        3, 1, 1, 1)
    assert bounces["hard_rate"] == 0.03 and bounces["complaint_rate"] == 0.01
    assert bounces["reasons"] == {"userunknown": 3, "mailboxfull": 1}
    assert len(bounces["warnings"]) == 2


def test_a_clean_send_has_no_warning(bounce_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 100)
    send_id = sent_send(bounce_app)
    _bounce(bounce_app, send_id, "r0@example.com")  # 1%: under 2%
    result = _show(bounce_app, tmp_path, str(send_id))
    assert "bounces: 1 hard (1.00%)" in result.output and "warning" not in result.output
    data = json.loads(_show(bounce_app, tmp_path, str(send_id), "--json").output)
    assert data["bounces"]["warnings"] == [] and data["bounces"]["unsubscribes"] == 0


def test_bounces_list_filters_by_send_and_kind(bounce_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 4)
    first, second = sent_send(bounce_app), sent_send(bounce_app)
    _bounce(bounce_app, first, "r0@example.com")
    _bounce(bounce_app, second, "r1@example.com", MAILBOX_FULL)
    _bounce(bounce_app, second, "r2@example.com")
    config = bounce_app.config["NEWSLETTER"]
    env = {"NEWSLETTER_DATABASE_URL": config.database_url,
           "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "cli")}

    def listed(*args: str) -> list[dict]:
        result = CliRunner().invoke(main, ["bounces", "list", "--json", *args], env=env)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines()]

    assert [e["recipient"] for e in listed()] == ["r2@example.com", "r1@example.com",
                                                  "r0@example.com"]
    assert [e["recipient"] for e in listed("--send", str(second))] == ["r2@example.com",
                                                                       "r1@example.com"]
    [soft] = listed("--send", str(second), "--kind", "soft")
    assert (soft["reason"], soft["action"], soft["send_id"]) == ("mailboxfull", "counted", second)
    text = CliRunner().invoke(main, ["bounces", "list", "--send", str(first)], env=env).output
    assert "hard/userunknown 5.1.1  r0@example.com  send" in text and "r1@" not in text
