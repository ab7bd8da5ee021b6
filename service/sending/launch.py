"""Launch a send: the one call the command line, the admin pages and the REST API make to turn
(issue, lists, time) into a Send, and the exact count of readers it will reach.

``launch_send`` compiles the issue once, creates the send with its frozen email, applies the
schedule (now, later, or missed), writes the delivery ledger when it starts now, and enqueues
its work after the commit: the same steps ``newsletter send`` has always taken.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.issues.errors import IssueError
from service.issues.loader import Issue
from service.queue import enqueue_for_running_send
from service.sending.sends import SendError, create_send, start_send
from service.sending.states import SendStatus
from service.subscribers.models import MailingList
from service.zones import known_zone

SEND_ISSUE = "newsletter.send_issue"


class LaunchError(ValueError):
    """The send cannot be made; the message says why, ``kind`` says what kind of wrong:
    ``not_found`` (no such issue or list), ``conflict`` (a draft, or already sent to these
    lists) or ``invalid`` (a bad time, no list, an issue that does not render)."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class LaunchedSend:
    send_id: int
    status: str  # sending, scheduled, or paused (its time was missed by over an hour)
    status_reason: str
    total: int  # deliveries written (0 until a scheduled send starts)
    scheduled_at: dt.datetime | None
    queued: bool = True  # False: the broker was away; beat's sweeper queues the send later


def count_recipients(session: Session, list_ids: Sequence[int]) -> int:
    """How many readers a send to ``list_ids`` would reach now: confirmed subscribers with a
    confirmed subscription to any of the lists, each counted once. The same conditions as
    ``start_send``'s INSERT ... SELECT (a suppressed reader is never ``confirmed``)."""
    ids = sorted({int(list_id) for list_id in list_ids})
    if not ids:
        return 0
    placeholders = ", ".join(f":l{i}" for i in range(len(ids)))
    return session.scalar(
        text(
            "SELECT COUNT(DISTINCT sub.subscriber_id)"
            " FROM subscription sub JOIN subscriber s ON s.id = sub.subscriber_id"
            f" WHERE sub.list_id IN ({placeholders}) AND sub.status = 'confirmed'"
            " AND s.status = 'confirmed'"
        ),
        {f"l{i}": list_id for i, list_id in enumerate(ids)},
    ) or 0


# count_recipients' conditions, per list, in one pass: a (subscriber, list) pair is unique.
_PER_LIST = text(
    "SELECT sub.list_id, COUNT(*)"
    " FROM subscription sub JOIN subscriber s ON s.id = sub.subscriber_id"
    " WHERE sub.status = 'confirmed' AND s.status = 'confirmed' GROUP BY sub.list_id")


def recipients_per_list(session: Session) -> dict[int, int]:
    """count_recipients for each list on its own, in one statement (the send form shows every
    list's count on each load)."""
    return dict(session.execute(_PER_LIST).all())  # type: ignore[arg-type]


def resolve_lists(session: Session, keys: Sequence[str | int]) -> list[MailingList]:
    """Lists by slug (text) or id (an int, or text of digits that is no slug)."""
    if not keys:
        raise LaunchError("a send needs at least one list")
    found: dict[int, MailingList] = {}
    for key in keys:
        query = select(MailingList)
        if isinstance(key, int):
            mailing_list = session.scalar(query.where(MailingList.id == key))
        else:
            mailing_list = session.scalar(query.where(MailingList.slug == key))
            if mailing_list is None and key.isdigit():
                mailing_list = session.scalar(query.where(MailingList.id == int(key)))
        if mailing_list is None:
            raise LaunchError(f"no list {key!r}", "not_found")
        found[mailing_list.id] = mailing_list
    return list(found.values())


def zone_for(lists: Sequence[MailingList], default: str) -> str:
    """The time zone a send's time is read in: the lists' own when they all name the same
    one, else ``default`` (NEWSLETTER_TIMEZONE)."""
    zones = {mailing_list.timezone or "" for mailing_list in lists}
    return zones.pop() or default if len(zones) == 1 else default


def next_default_time(mailing_list: MailingList, default_zone: str,
                      now: dt.datetime | None = None) -> dt.datetime | None:
    """The next time the list's schedule default names (its weekday, or any day, at its
    ``send_time``, in its time zone), or None when it names no time."""
    if not mailing_list.send_time:
        return None
    zone = ZoneInfo(mailing_list.timezone or default_zone)
    local_now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    hour, minute = (int(part) for part in mailing_list.send_time.split(":"))
    today = local_now.date()
    for days in range(8):
        day = today + dt.timedelta(days=days)
        if mailing_list.send_weekday is not None and day.weekday() != mailing_list.send_weekday:
            continue
        candidate = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
        if candidate > local_now:
            return candidate
    return None


def parse_send_at(value: dt.datetime | str | None, timezone: str) -> dt.datetime | None:
    """An aware time from a datetime or ISO 8601 text; a naive one is read in ``timezone``."""
    if value is None or value == "":
        return None
    zone = known_zone(timezone)
    if zone is None:
        raise LaunchError(f"unknown time zone {timezone!r}")
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise LaunchError(f"not an ISO 8601 date-time: {value!r}") from None
    aware = value if value.tzinfo else value.replace(tzinfo=zone)
    try:
        local = aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError:  # 9999-12-31 23:59 west of UTC is in the year 10000 there
        raise LaunchError(f"{value.isoformat()} is outside the years 1 to 9999 in UTC") from None
    if value.tzinfo is None and local != value:
        # A wall time the clocks skip (spring forward) names no instant; Python would move it.
        raise LaunchError(f"{value:%Y-%m-%d %H:%M} does not exist in {timezone}:"
                          " the clocks skip that hour")
    return aware


def launch_send(
    app: Any,
    issue: str | Issue,
    lists: Sequence[str | int],
    send_at: dt.datetime | str | None = None,
    timezone: str | None = None,
    *,
    again: bool = False,
) -> LaunchedSend:
    """Create a send of ``issue`` (a slug, or a loaded Issue) to ``lists`` (slugs or ids).

    ``send_at``: None sends at the issue's own ``send_at`` when its front matter has one,
    else now; a time in the future schedules it (beat starts it); a time missed by more than
    an hour makes a paused send that waits for a resume. A naive time is read in ``timezone``,
    by default the lists' own time zone when they share one, else NEWSLETTER_TIMEZONE.
    ``again`` allows lists this issue already went to.
    Raises LaunchError. ``app`` is the Flask app (its db, config and issue library)."""
    config = app.config["NEWSLETTER"]
    library = app.extensions["issues"]
    loaded = library.collection().by_slug(issue) if isinstance(issue, str) else issue
    if loaded is None:
        raise LaunchError(f"no issue {issue!r} in the issues folder", "not_found")
    if loaded.draft:
        raise LaunchError(f"{loaded.path.name} is a draft: remove 'draft: true' to send it",
                          "conflict")
    try:
        compiled = library.compiled(loaded)  # rendered once, shared with every recipient
    except IssueError as exc:
        raise LaunchError(str(exc)) from None
    with app.extensions["db"].session() as session:
        chosen = resolve_lists(session, lists)
        zone = timezone or zone_for(chosen, config.timezone)
        when = parse_send_at(send_at, zone) or loaded.send_at
        try:
            new = create_send(session, compiled, chosen, mail_from=config.mail_from,
                              reply_to=config.reply_to, scheduled_at=when, again=again)
        except SendError as exc:
            raise LaunchError(str(exc), "conflict") from None
        if new.status == SendStatus.DRAFT:
            start_send(session, new)
        launched = LaunchedSend(new.id, str(new.status), new.status_reason, new.total,
                                new.scheduled_at)
    if launched.status == SendStatus.SENDING:  # after the commit: the rows are there
        queued = enqueue_for_running_send(config, SEND_ISSUE, launched.send_id)
        launched = replace(launched, queued=queued)
    return launched


def count_for(session: Session, list_keys: Sequence[str | int]) -> int:
    """count_recipients for lists named by slug or id."""
    return count_recipients(session, [m.id for m in resolve_lists(session, list_keys)])

