"""``newsletter bounces list`` and ``bounces poll``: the bounce commands that need the
database. They join ``classify`` (``service.bounces.cli``, which stays free of the app)."""

from __future__ import annotations

import json
import sys

import click

from service.bounces.cli import bounces_group
from service.commands.support import cli_app

__all__ = ["bounces_group"]


@bounces_group.command("list")
@click.option("--send", "send_id", type=int, default=None, help="Only this send's bounces.")
@click.option("--kind", type=click.Choice(["hard", "soft", "complaint", "ignore"]), default=None)
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event.")
def list_command(send_id: int | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Recorded bounces and complaints, newest first."""
    from sqlalchemy import select

    from service.bounces.models import BounceEvent

    query = select(BounceEvent).order_by(BounceEvent.id.desc()).limit(limit)
    if send_id is not None:
        query = query.where(BounceEvent.send_id == send_id)
    if kind is not None:
        query = query.where(BounceEvent.kind == kind)
    with cli_app().extensions["db"].session() as session:
        events = list(session.scalars(query))
    for event in events:
        if as_json:
            click.echo(json.dumps(_event_record(event), ensure_ascii=False))
            continue
        where = f"send {event.send_id}" if event.send_id else "no send"
        click.echo(f"{event.id:>6}  {event.received_at:%Y-%m-%d %H:%M}  {event.source:<9}"
                   f" {event.kind}/{event.reason} {event.status or '-'}"
                   f"  {event.recipient or '?'}  {where}  {event.action}")
    if not events and not as_json:
        click.echo("no bounces recorded")


def _event_record(event) -> dict[str, object]:  # type: ignore[no-untyped-def]
    names = ("id", "source", "kind", "reason", "status", "diagnostic", "recipient",
             "subscriber_id", "send_id", "delivery_id", "matched_by", "action")
    record: dict[str, object] = {name: getattr(event, name) for name in names}
    for name in ("occurred_at", "received_at"):
        value = getattr(event, name)
        record[name] = value.isoformat() if value else None
    return record


@bounces_group.command("poll")
def poll_command() -> None:
    """Poll NEWSLETTER_BOUNCE_MAILBOX_URL once (beat does it every
    NEWSLETTER_BOUNCE_POLL_SECONDS). Exit status 1 when the poll failed."""
    from service.bounces.mailbox import poll_mailbox

    app = cli_app()
    config = app.config["NEWSLETTER"]
    if not config.bounce_mailbox_url:
        raise click.ClickException("set NEWSLETTER_BOUNCE_MAILBOX_URL to the bounce mailbox")
    result = poll_mailbox(app.extensions["db"], config)
    for kept in result.kept:
        click.echo(f"kept: {kept}", err=True)
    click.echo(result.summary())
    if result.error:
        sys.exit(1)
