"""``newsletter send``: send an issue to lists, schedule it, or send a test copy."""

from __future__ import annotations

import sys
import time

import click

from service.commands.support import cli_app


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
    from service.sending.copies import MAX_TEST_ADDRESSES, parse_test_addresses, send_test_copies

    # Bad addresses are named and the good ones still get their copy; too many, none go.
    parsed = parse_test_addresses(addresses)
    for raw, problem in parsed.errors:
        click.echo(f"{raw or '--test-to'}: not sent: {problem}", err=True)
    if not parsed.valid or len(parsed.valid) > MAX_TEST_ADDRESSES:
        sys.exit(1)
    results = send_test_copies(app.config["NEWSLETTER"], app.extensions["subscribers"].links,
                               compiled, parsed.valid)
    for result in results:
        click.echo(f"{result.address}: {'sent' if result.sent else 'not sent: ' + result.detail}")
    if parsed.errors or not all(result.sent for result in results):
        sys.exit(1)


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
    from service.sending.launch import LaunchError, launch_send
    from service.sending.states import SendStatus

    app = cli_app()
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
    try:
        launched = launch_send(app, loaded, list(slugs), at, again=again)
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from None
    send_id, status, when = launched.send_id, launched.status, launched.scheduled_at
    if status == SendStatus.SENDING:
        click.echo(f"send {send_id}: {launched.total} recipients queued")
        if not launched.queued:
            click.echo(f"send {send_id}: the task queue (Redis) cannot be reached; beat's sweeper"
                       " starts the send as soon as it answers again", err=True)
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
