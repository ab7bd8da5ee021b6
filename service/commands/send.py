"""``newsletter send``: send an issue to lists, schedule it, or send a test copy."""

from __future__ import annotations

import datetime as dt
import sys
import time

import click

from service.commands.support import cli_app


def _parse_when(value: str | None, timezone: str) -> dt.datetime | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def _load_issue(app, issue: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from service.issues.errors import IssueError
    from service.issues.loader import load_issue

    library = app.extensions["issues"]
    config = app.config["NEWSLETTER"]
    try:
        loaded = (
            load_issue(Path(issue), config.timezone) if Path(issue).is_file()
            else library.collection().by_slug(issue)
        )
        if loaded is None:
            raise click.ClickException(f"no issue file or slug {issue!r}")
        return loaded, library.compiled(loaded)
    except IssueError as exc:
        raise click.ClickException(str(exc)) from None


def _test_send(app, compiled, addresses: str) -> None:  # type: ignore[no-untyped-def]
    from service.mail.failover import FailoverTransport
    from service.mail.message import smtp_address
    from service.mail.transport import Outcome, parse_smtp_urls
    from service.sending.assembly import MessageTemplate, Recipient
    from service.sending.preview import personal_values
    from service.subscribers.addresses import InvalidAddress, normalise_address

    config = app.config["NEWSLETTER"]
    links = app.extensions["subscribers"].links
    template = MessageTemplate(compiled, mail_from=config.mail_from, reply_to=config.reply_to,
                               subject_prefix="[TEST] ")
    transport = FailoverTransport(parse_smtp_urls(config.smtp_url))
    failures = 0
    try:
        for number, raw in enumerate(a.strip() for a in addresses.split(",") if a.strip()):
            try:
                address = normalise_address(raw)
            except InvalidAddress as exc:
                click.echo(f"{raw}: not sent: {exc}", err=True)
                failures += 1
                continue
            recipient = Recipient(
                address=smtp_address(address.email), name="",
                message_id=f"<nl.test.{int(time.time())}.{number}@{config.message_id_domain}>",
                values=personal_values(links, compiled, address.email),
            )
            reply = transport.send_prepared(
                email_address(config.mail_from), recipient.address, template.render(recipient)
            )
            ok = reply.outcome is Outcome.SENT
            failures += not ok
            click.echo(f"{address.email}: {'sent' if ok else 'not sent: ' + str(reply)}")
    finally:
        transport.close()
    if failures:
        sys.exit(1)


def email_address(mailbox: str) -> str:
    from email.utils import parseaddr

    return parseaddr(mailbox)[1]


@click.command("send")
@click.argument("issue")
@click.option("--list", "slugs", multiple=True, help="A list to send to (repeatable).")
@click.option("--at", "at", default=None, help="ISO 8601 time to send at (beat starts it).")
@click.option("--wait", is_flag=True, help="Show live progress until the send ends.")
@click.option("--again", is_flag=True, help="Send even though this issue went to a list before.")
@click.option("--test-to", default=None, help="Comma-separated addresses: a [TEST] copy only.")
def send(issue: str, slugs: tuple[str, ...], at: str | None, wait: bool, again: bool,
         test_to: str | None) -> None:
    """Send ISSUE (a slug from the issues folder, or a file) to one or more lists."""
    from service.queue import enqueue
    from service.sending.sends import SendError, create_send, start_send
    from service.sending.states import SendStatus
    from service.subscribers.lists import ListError, get_list

    app = cli_app()
    config = app.config["NEWSLETTER"]
    loaded, compiled = _load_issue(app, issue)
    for warning in loaded.warnings:  # a guess the loader made, e.g. a title from the first line
        click.echo(f"warning: {warning}", err=True)
    if test_to:
        _test_send(app, compiled, test_to)
        return
    if not slugs:
        raise click.UsageError("name at least one --list (or use --test-to)")
    if loaded.draft:
        raise click.ClickException(
            f"{loaded.path.name} is a draft: remove 'draft: true' to send it (--test-to works)"
        )
    when = _parse_when(at, config.timezone) or loaded.send_at
    try:
        with app.extensions["db"].session() as session:
            lists = [get_list(session, slug) for slug in slugs]
            new = create_send(session, compiled, lists, mail_from=config.mail_from,
                              reply_to=config.reply_to, scheduled_at=when, again=again)
            if new.status == SendStatus.DRAFT:
                start_send(session, new)
            send_id, status, total = new.id, new.status, new.total
    except (SendError, ListError) as exc:
        raise click.ClickException(str(exc)) from None
    if status == SendStatus.SENDING:
        enqueue(config, "newsletter.send_issue", send_id)
        click.echo(f"send {send_id}: {total} recipients queued")
    elif status == SendStatus.SCHEDULED:
        click.echo(f"send {send_id}: scheduled for {when.isoformat()}")  # type: ignore[union-attr]
    else:
        click.echo(f"send {send_id}: paused: its time {when.isoformat()} passed more than an hour ago;"  # type: ignore[union-attr]
                   f" 'newsletter sends resume {send_id}' sends it")
    if wait and status == "sending":
        _watch(app, send_id)


def _watch(app, send_id: int) -> None:  # type: ignore[no-untyped-def]
    from service.sending.sends import progress

    db = app.extensions["db"]
    started, first_done = time.monotonic(), None
    with db.session() as session:
        total = progress(session, send_id).send.total
    with click.progressbar(length=max(total, 1), label=f"send {send_id}", file=sys.stderr,
                           show_eta=False, item_show_func=lambda x: x) as bar:
        shown = 0
        while True:
            with db.session() as session:
                p = progress(session, send_id)
            done = p.done
            if first_done is None:
                first_done = done
            elapsed = time.monotonic() - started
            rate = (done - first_done) / elapsed if elapsed > 0 else 0.0
            eta = f"{p.remaining / rate:.0f}s" if rate > 0 else "?"
            bar.current_item = (
                f"sent {p.counts.get('sent', 0)} deferred {p.counts.get('deferred', 0)}"
                f" failed {p.counts.get('failed', 0)} remaining {p.remaining}"
                f" {rate:.0f}/s ETA {eta}"
            )
            bar.update(done - shown)
            shown = done
            if p.send.status != "sending":
                break
            time.sleep(0.5)
    click.echo(f"send {send_id}: {p.send.status} {p.send.status_reason}".rstrip())
    if p.send.status != "finished":
        sys.exit(1)
