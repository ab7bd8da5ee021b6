"""The bounce mailbox against a real Dovecot: recorded mail is moved (IMAP) or deleted (POP3)
only after it was recorded, unreadable and forged mail is kept and reported, and each poll
is remembered."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from service.bounces.mailbox import last_poll, parse_mailbox_url, poll_mailbox
from service.bounces.models import BounceEvent
from service.subscribers.models import Subscriber
from tests.bounces.conftest import BOUNCE_DOMAIN
from tests.bounces.ledger import MAILBOX_FULL, deliveries, dsn, readers, sent_send, verp_address
from tests.smtp_sink import free_port

NOT_MAIL = b"\x00\x00\x00 this is not a mail message"


def _poll(app, url: str, **settings):  # type: ignore[no-untyped-def]
    config = replace(app.config["NEWSLETTER"], bounce_mailbox_url=url, **settings)
    return poll_mailbox(app.extensions["db"], config), config


def _statuses(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.status)).all())


def _fill(app, dovecot) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    """Two bounces, one forged, one unreadable mail; returns the two good ones."""
    readers(app, 3)
    send_id = sent_send(app)
    ids = deliveries(app, send_id)
    hard = dsn("r0@example.com", envelope=verp_address(app, ids["r0@example.com"]))
    soft = dsn("r1@example.com", envelope=verp_address(app, ids["r1@example.com"]),
               reason=MAILBOX_FULL)
    good = verp_address(app, ids["r2@example.com"])
    forged = dsn("r2@example.com", envelope=good.replace(good.split("-")[-1].split("@")[0],
                                                          "f" * 24))
    for raw in (hard, soft, forged, NOT_MAIL):
        dovecot.append(raw)
    return hard, soft


def test_imap_moves_what_it_recorded_and_keeps_what_it_could_not_read(bounce_app, dovecot) -> None:  # type: ignore[no-untyped-def]
    hard, _soft = _fill(bounce_app, dovecot)
    dovecot.append(hard)  # a second copy of the same bounce
    result, config = _poll(bounce_app, dovecot.url("imap"))
    assert result.error == "", result.error
    assert (result.fetched, result.recorded, result.duplicates, len(result.kept)) == (5, 2, 1, 2)
    assert any("forged" in kept for kept in result.kept)
    assert any("unparsed" in kept for kept in result.kept)
    assert (dovecot.count("INBOX"), dovecot.count("Processed"), dovecot.count("Unparsed")) == (
        0, 3, 2)
    statuses = _statuses(bounce_app)
    assert (statuses["r0@example.com"], statuses["r1@example.com"],
            statuses["r2@example.com"]) == ("bounced", "confirmed", "confirmed")
    poll = last_poll(bounce_app.extensions["db"], config)
    assert poll is not None and poll.last_success_at is not None and poll.last_error == ""
    assert (poll.last_fetched, poll.last_kept) == (5, 2)
    assert "s3cret" not in poll.name
    # Nothing is left for the next poll.
    again, _ = _poll(bounce_app, dovecot.url("imap"))
    assert (again.fetched, again.error) == (0, "")


def test_imap_without_a_done_folder_flags_in_place(bounce_app, dovecot) -> None:  # type: ignore[no-untyped-def]
    readers(bounce_app, 1)
    send_id = sent_send(bounce_app)
    raw = dsn("r0@example.com", envelope=verp_address(
        bounce_app, deliveries(bounce_app, send_id)["r0@example.com"]))
    dovecot.append(raw)
    result, _ = _poll(bounce_app, dovecot.url("imap"), bounce_mailbox_done="")
    assert (result.recorded, result.error) == (1, "")
    client = dovecot.imap()
    try:
        client.select("INBOX", readonly=True)
        flags = client.fetch(b"1", "(FLAGS)")[1][0]
        assert b"\\Deleted" in flags and b"\\Seen" in flags  # kept, never expunged
    finally:
        client.logout()
    assert (_poll(bounce_app, dovecot.url("imap"), bounce_mailbox_done="")[0].fetched) == 0


def test_a_database_failure_leaves_the_mail_in_place(bounce_app, dovecot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import service.bounces.mailbox as mailbox

    _fill(bounce_app, dovecot)

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database is away")

    monkeypatch.setattr(mailbox, "handle_bounce_mail", broken)
    result, _ = _poll(bounce_app, dovecot.url("imap"))
    assert (result.left, result.recorded, dovecot.count("INBOX")) == (4, 0, 4)
    monkeypatch.undo()
    assert _poll(bounce_app, dovecot.url("imap"))[0].recorded == 2


def test_pop3_deletes_only_what_it_recorded(bounce_app, dovecot) -> None:  # type: ignore[no-untyped-def]
    _fill(bounce_app, dovecot)
    result, _ = _poll(bounce_app, dovecot.url("pop3"))
    assert (result.error, result.fetched, result.recorded, len(result.kept)) == ("", 4, 2, 2)
    assert dovecot.count("INBOX") == 2  # the forged and the unreadable one stay
    with bounce_app.extensions["db"].session() as session:
        sources = set(session.scalars(select(BounceEvent.source)))
        assert sources == {"pop3"}
        assert session.scalar(select(func.count()).select_from(BounceEvent)) == 2
    assert _statuses(bounce_app)["r0@example.com"] == "bounced"


def test_a_failed_poll_is_reported_and_remembered(bounce_app, dovecot) -> None:  # type: ignore[no-untyped-def]
    wrong = dovecot.url("imap").replace("s3cret-mailbox", "wrong")
    result, config = _poll(bounce_app, wrong)
    assert result.error and "wrong" not in result.summary().split("error")[0]
    closed = f"imap://u:p@127.0.0.1:{free_port()}/INBOX"
    assert _poll(bounce_app, closed)[0].error
    poll = last_poll(bounce_app.extensions["db"], config)
    assert poll is not None and poll.last_success_at is None and poll.last_error
    assert "must read imap" in _poll(bounce_app, "imap://127.0.0.1/INBOX")[0].error  # no user


def test_the_poll_command_and_the_beat_entry(bounce_app, dovecot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from service.cli import main
    from service.queue import make_celery

    _fill(bounce_app, dovecot)
    config = bounce_app.config["NEWSLETTER"]
    env = {"NEWSLETTER_DATABASE_URL": config.database_url,
           "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "cli"),
           "NEWSLETTER_SECRET_KEY": config.secret_key,  # the key that signed the VERP tokens
           "NEWSLETTER_BOUNCE_DOMAIN": BOUNCE_DOMAIN,
           "NEWSLETTER_MAIL_FROM": config.mail_from,
           "NEWSLETTER_BOUNCE_MAILBOX_URL": dovecot.url("imap")}
    result = CliRunner().invoke(main, ["bounces", "poll"], env=env)
    assert result.exit_code == 0, result.output
    assert "4 fetched, 2 recorded" in result.output and "kept:" in result.output
    listed = CliRunner().invoke(main, ["bounces", "list", "--kind", "hard"], env=env)
    assert "r0@example.com" in listed.output and "r1@example.com" not in listed.output
    failed = CliRunner().invoke(main, ["bounces", "poll"], env={
        **env, "NEWSLETTER_BOUNCE_MAILBOX_URL": f"pop3://u:p@127.0.0.1:{free_port()}"})
    assert failed.exit_code == 1 and "error" in failed.output
    schedule = make_celery(replace(config, bounce_mailbox_url=dovecot.url())).conf.beat_schedule
    assert schedule["poll-bounces"]["task"] == "newsletter.poll_bounces"
    assert "poll-bounces" not in make_celery(config).conf.beat_schedule


@pytest.mark.parametrize(("url", "expected"), [
    ("imaps://u%40x:p%2Fw@mail.example.org/Bounces", ("imap", True, 993, "u@x", "p/w", "Bounces")),
    ("imap://u:p@mail.example.org:1143", ("imap", False, 1143, "u", "p", "INBOX")),
    ("pop3s://u:p@mail.example.org", ("pop3", True, 995, "u", "p", "INBOX")),
])
def test_mailbox_urls(url: str, expected: tuple) -> None:  # type: ignore[type-arg]
    s = parse_mailbox_url(url)
    assert (s.protocol, s.tls, s.port, s.user, s.password, s.folder) == expected
    assert s.name.startswith(f"{url.split(':')[0]}://") and f":{s.password}@" not in s.name
    with pytest.raises(ValueError):
        parse_mailbox_url("http://u:p@host/")
