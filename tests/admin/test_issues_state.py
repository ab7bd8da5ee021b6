"""The dashboard's list of issues with their state, computed from the sends."""

from __future__ import annotations

import datetime as dt

from service.admin.issues_state import IssueState, list_issue_rows, state_of
from service.sending.models import Send
from service.sending.states import SendStatus
from service.subscribers.lists import create_list
from tests.admin.conftest import EDITOR, log_in

FINISHED_AT = dt.datetime(2026, 9, 14, 9, 30, tzinfo=dt.UTC)


def _send(slug: str, status: str, list_ids: str, total: int, **times: dt.datetime) -> Send:
    return Send(issue_slug=slug, status=status, content_hash="h", subject="s", html="<p>",
                text="t", tokens="{}", mail_from="a@example.org", list_ids=list_ids, total=total,
                **times)


def _make_sends(app) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        news = create_list(session, "news", "News")
        tech = create_list(session, "tech", "Tech")
        session.flush()
        session.add(_send("2026-09-14", SendStatus.FINISHED, f"{news.id},{tech.id}", 300,
                          started_at=FINISHED_AT - dt.timedelta(minutes=5),
                          finished_at=FINISHED_AT))
        session.add(_send("2026-09-28", SendStatus.CANCELLED, f"{news.id}", 10))
        session.add(_send("gone-issue", SendStatus.PAUSED, f"{tech.id}", 5))


def test_a_sent_issue_shows_when_to_which_lists_and_how_many(app) -> None:  # type: ignore[no-untyped-def]
    _make_sends(app)
    issues = app.extensions["issues"].collection().issues
    with app.extensions["db"].session() as session:
        rows = {row.slug: row for row in list_issue_rows(session, issues)}
    sent = rows["2026-09-14"]
    assert sent.state == IssueState.SENT and not sent.file_missing
    [send] = sent.sends
    assert (send.lists, send.readers, send.when) == (("news", "tech"), 300, FINISHED_AT)
    assert rows["2026-09-28"].state == IssueState.NEVER_SENT  # only a cancelled send
    assert rows["2026-09-28"].sends[0].status == SendStatus.CANCELLED
    assert rows["gone-issue"].file_missing and rows["gone-issue"].state == IssueState.PAUSED
    never = [row for row in rows.values() if not row.sends]
    assert never and all(row.state == IssueState.NEVER_SENT for row in never)
    # Every issue file is listed, in the library's order, before slugs without a file.
    assert [row.slug for row in rows.values()][: len(issues)] == [i.slug for i in issues]


def test_the_liveliest_send_gives_the_state() -> None:
    from service.admin.issues_state import SendSummary

    def summary(status: str) -> SendSummary:
        return SendSummary(1, status, "", (), 0, None, None, None)

    assert state_of([]) == IssueState.NEVER_SENT
    assert state_of([summary("finished"), summary("scheduled")]) == IssueState.SCHEDULED
    assert state_of([summary("finished"), summary("sending")]) == IssueState.SENDING
    assert state_of([summary("failed"), summary("draft")]) == IssueState.NEVER_SENT


def test_the_issues_page_lists_them(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    _make_sends(app)
    log_in(client, *EDITOR)
    page = client.get("/admin/issues").get_data(as_text=True)
    assert 'id="issue-2026-09-14"' in page
    assert "to news, tech: 300 readers, 2026-09-14 09:30 UTC" in page
    assert "file no longer in issues/" in page and "never sent" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
