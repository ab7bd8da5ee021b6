"""Sending from the console: roles, CSRF, the form's checks, the one-time confirm, the
progress fragment, the report's log, and retrying only the failed readers."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import replace as replace_config
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from service.db import utcnow
from service.sending.batch import process_batch
from service.sending.models import Delivery, Send
from service.sending.orchestration import finish_if_done
from service.sending.retry import retry_failed
from service.sending.sender import Sender
from service.sending.sends import SendError
from service.sending.states import DeliveryStatus as DS
from tests.admin.conftest import ADMIN, EDITOR, csrf_token, log_in
from tests.sending.conftest import fill_list, start

# The database makes no difference to these pages: PostgreSQL, as in production.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
SLUG = "2026-09-14"
CONFIRMATION = re.compile(r'name="confirmation" value="([^"]+)"')


def _client(app, who):  # type: ignore[no-untyped-def]
    client = app.test_client()
    log_in(client, *who)
    return client


def _sends(app) -> list[Send]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return list(session.scalars(select(Send).order_by(Send.id)))


def _review(client, list_ids, **fields):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/admin/issues/{SLUG}/send")
    data = {"csrf_token": token, "lists": [str(i) for i in list_ids], "when": "now", **fields}
    return client.post(f"/admin/issues/{SLUG}/send", data=data)


def test_an_admin_sends_once_however_often_the_confirm_is_posted(app, admins) -> None:  # type: ignore[no-untyped-def]
    news = fill_list(app, 12)
    tech = fill_list(app, 5, slug="tech", prefix="t")
    fill_list(app, 3, slug="both", prefix="r")  # r0-r2 are on news too: counted once
    client = _client(app, ADMIN)
    form = client.get(f"/admin/issues/{SLUG}/send").get_data(as_text=True)
    assert 'hx-get="/admin/sends/count"' in form and "htmx-2.0.11.min.js" in form
    assert "NEWSLETTER_TIMEZONE" in form
    count = client.get(f"/admin/sends/count?lists={news}&lists={tech}&lists=99")
    assert 'data-count="17"' in count.get_data(as_text=True)
    both = _both_id(app)
    review = _review(client, [news, tech, both])
    page = review.get_data(as_text=True)
    assert review.status_code == 200 and 'id="confirm-count" data-count="17"' in page
    assert _sends(app) == []  # reviewing makes nothing
    confirmation = CONFIRMATION.search(page).group(1)  # type: ignore[union-attr]
    data = {"csrf_token": csrf_token(client, f"/admin/issues/{SLUG}/send"),
            "confirmation": html.unescape(confirmation)}
    first = client.post(f"/admin/issues/{SLUG}/send/confirm", data=data)
    assert first.status_code == 302 and first.headers["Location"] == "/admin/sends/1"
    again = client.post(f"/admin/issues/{SLUG}/send/confirm", data=data)  # a double click
    assert again.status_code == 302 and again.headers["Location"] == "/admin/sends/1"
    assert "used already" in client.get("/admin/sends/1").get_data(as_text=True)
    [send] = _sends(app)
    assert send.status == "sending" and send.total == 17
    # An altered confirmation is refused and makes nothing.
    data["confirmation"] = data["confirmation"][:-2] + "xx"
    assert client.post(f"/admin/issues/{SLUG}/send/confirm", data=data).status_code == 400
    assert len(_sends(app)) == 1


def _both_id(app) -> int:  # type: ignore[no-untyped-def]
    from service.subscribers.lists import get_list

    with app.extensions["db"].session() as session:
        return get_list(session, "both").id


def test_the_form_names_what_is_wrong_and_makes_nothing(app, admins) -> None:  # type: ignore[no-untyped-def]
    news = fill_list(app, 3)
    client = _client(app, ADMIN)
    with app.extensions["db"].session() as session:
        from service.subscribers.lists import get_list

        weekly = get_list(session, "news")
        weekly.timezone, weekly.send_weekday, weekly.send_time = "Asia/Shanghai", 0, "08:00"
    form = client.get(f"/admin/issues/{SLUG}/send").get_data(as_text=True)
    proposed = re.search(r'name="at" id="at" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
    assert "Asia/Shanghai" in form and "its usual time: next Mon" in form
    assert proposed.endswith("T08:00")
    with app.extensions["db"].session() as session:
        get_list(session, "news").timezone = ""  # the zone NEWSLETTER_TIMEZONE from here on
    past = (dt.datetime.now() - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    cases = [
        ([], {}, "choose at least one list"),
        ([news], {"when": "at", "at": ""}, "give the date and time"),
        ([news], {"when": "at", "at": "tomorrow"}, "not an ISO 8601 date-time"),
        ([news], {"when": "at", "at": past}, "has passed"),
        ([news], {"when": "whenever"}, "choose “send now” or a time"),
    ]
    for lists, fields, words in cases:
        response = _review(client, lists, **fields)
        assert response.status_code == 422 and words in html.unescape(response.get_data(as_text=True))
    start(app, queue=False)  # the issue has gone to news already
    response = _review(client, [news])
    assert response.status_code == 422 and "send again" in response.get_data(as_text=True)
    assert len(_sends(app)) == 1
    assert client.get("/admin/issues/no-such/send").status_code == 404
    # A time is read in the configured zone (the list names none) and schedules the send.
    zone = ZoneInfo(app.config["NEWSLETTER"].timezone)
    local = (dt.datetime.now(zone) + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    page = _review(client, [news], again="1", when="at", at=local.strftime("%Y-%m-%dT%H:%M"))
    assert page.status_code == 200
    confirmation = CONFIRMATION.search(page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    client.post(f"/admin/issues/{SLUG}/send/confirm", data={
        "csrf_token": csrf_token(client, "/admin/sends"), "confirmation": html.unescape(confirmation)})
    scheduled = _sends(app)[-1]
    assert scheduled.status == "scheduled" and scheduled.scheduled_at == local.astimezone(dt.UTC)


def test_an_editor_watches_but_cannot_send_or_control(app, admins) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 4)
    send_id = start(app, queue=False)
    client = _client(app, EDITOR)
    token = csrf_token(client, f"/admin/issues/{SLUG}")
    for method, path in [("get", f"/admin/issues/{SLUG}/send"), ("post", f"/admin/issues/{SLUG}/send"),
                         ("post", f"/admin/issues/{SLUG}/send/confirm"), ("get", "/admin/sends/count"),
                         ("post", f"/admin/sends/{send_id}/pause"),
                         ("post", f"/admin/sends/{send_id}/resume"),
                         ("post", f"/admin/sends/{send_id}/cancel"),
                         ("post", f"/admin/sends/{send_id}/retry-failed")]:
        response = getattr(client, method)(path, data={"csrf_token": token})
        assert response.status_code == 403, path
    assert _sends(app)[0].status == "sending"
    for path in ("/admin/sends", f"/admin/sends/{send_id}", f"/admin/sends/{send_id}/report",
                 f"/admin/sends/{send_id}/progress"):
        assert client.get(path).status_code == 200, path
    fragment = client.get(f"/admin/sends/{send_id}/progress").get_data(as_text=True)
    assert 'id="pause"' not in fragment and 'id="count-remaining">4<' in fragment
    # The report's figures, but not the log that names readers, nor its address filter.
    report = client.get(f"/admin/sends/{send_id}/report?q=r0").get_data(as_text=True)
    assert 'id="log-admins-only"' in report and "r0@example.com" not in report
    admin_report = _client(app, ADMIN).get(f"/admin/sends/{send_id}/report").get_data(as_text=True)
    assert 'id="log-rows"' in admin_report and "r0@example.com" in admin_report
    anonymous = app.test_client().get(f"/admin/sends/{send_id}/progress")
    assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]


def test_posts_without_the_form_token_change_nothing(app, admins) -> None:  # type: ignore[no-untyped-def]
    news = fill_list(app, 4)
    send_id = start(app, queue=False)
    client = _client(app, ADMIN)
    review = _review(client, [news], again="1")
    confirmation = html.unescape(CONFIRMATION.search(review.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
    posts = [(f"/admin/issues/{SLUG}/send", {"lists": [str(news)], "when": "now"}),
             (f"/admin/issues/{SLUG}/send/confirm", {"confirmation": confirmation}),
             (f"/admin/sends/{send_id}/pause", {}), (f"/admin/sends/{send_id}/cancel", {}),
             (f"/admin/sends/{send_id}/resume", {}), (f"/admin/sends/{send_id}/retry-failed", {}),
             (f"/admin/issues/{SLUG}/test", {"addresses": "a@example.org"})]
    for path, data in posts:
        assert client.post(path, data=data).status_code == 400, path
    [send] = _sends(app)
    assert send.status == "sending"
    # The confirmation was not used up by the refused POST: with the token it works once.
    token = csrf_token(client, "/admin/sends")
    ok = client.post(f"/admin/issues/{SLUG}/send/confirm",
                     data={"csrf_token": token, "confirmation": confirmation})
    assert ok.status_code == 302 and len(_sends(app)) == 2


def test_controls_and_the_fragment_follow_the_send(app, admins) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 6)
    send_id = start(app, queue=False)
    client = _client(app, ADMIN)
    fragment = client.get(f"/admin/sends/{send_id}/progress").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in fragment and 'id="pause"' in fragment
    token = csrf_token(client, f"/admin/sends/{send_id}")
    assert client.post(f"/admin/sends/{send_id}/pause", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/admin/sends/{send_id}").get_data(as_text=True)
    assert "send 1: paused" in page and 'id="status-reason"' in page
    assert "paused by an operator" in page and 'id="resume"' in page
    with app.extensions["db"].session() as session:
        session.execute(update(Send).values(status_reason="SMTP server refused MAIL FROM: 550"))
    app.extensions["admin_progress"].forget(send_id)
    fragment = client.get(f"/admin/sends/{send_id}/progress").get_data(as_text=True)
    assert "SMTP server refused MAIL FROM: 550" in fragment and 'every 5s' in fragment
    # The page's buttons post with htmx and get the fresh fragment back.
    resumed = client.post(f"/admin/sends/{send_id}/resume", data={"csrf_token": token},
                          headers={"HX-Request": "true"})
    assert resumed.status_code == 200 and 'data-status="sending"' in resumed.get_data(as_text=True)
    assert "send 1: sending" in resumed.get_data(as_text=True)
    client.post(f"/admin/sends/{send_id}/cancel", data={"csrf_token": token})
    fragment = client.get(f"/admin/sends/{send_id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in fragment and 'id="report-link"' in fragment  # polling stops
    again = client.post(f"/admin/sends/{send_id}/cancel", data={"csrf_token": token})
    assert "cancelled already" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert client.post("/admin/sends/99/pause", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/admin/sends/{send_id}/explode",
                       data={"csrf_token": token}).status_code == 404


def _sender(app) -> Sender:  # type: ignore[no-untyped-def]
    return Sender.build(app.config["NEWSLETTER"], app.extensions["db"])


def test_retry_sends_only_the_failed_rows_again(app, admins, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 10)
    send_id = start(app, queue=False)
    process_batch(_sender(app), send_id)
    assert len(smtp_sink.wait_for(10)) == 10
    db = app.extensions["db"]
    with db.session() as session:
        failed = list(session.scalars(select(Delivery.id).where(Delivery.send_id == send_id)
                                      .order_by(Delivery.id).limit(3)))
        session.execute(update(Delivery).where(Delivery.id.in_(failed)).values(
            status=DS.FAILED, attempts=5, last_reply="DATA: 554 rejected for policy"))
        finish_if_done(session, send_id)
        sent_before = dict(session.execute(select(Delivery.id, Delivery.sent_at)
                                           .where(Delivery.status == DS.SENT)).all())
    client = _client(app, ADMIN)
    report = client.get(f"/admin/sends/{send_id}/report?state=failed").get_data(as_text=True)
    assert report.count("554 rejected for policy") == 3 and 'id="retry-failed"' in report
    smtp_sink.clear()
    token = csrf_token(client, f"/admin/sends/{send_id}/report")
    response = client.post(f"/admin/sends/{send_id}/retry-failed", data={"csrf_token": token})
    assert response.status_code == 302
    with db.session() as session:
        assert session.get(Send, send_id).status == "sending"
        queued = set(session.scalars(select(Delivery.id).where(Delivery.status == DS.QUEUED)))
    assert queued == set(failed)
    process_batch(_sender(app), send_id)
    received = smtp_sink.wait_for(3)
    with db.session() as session:
        counts = dict(session.execute(select(Delivery.status, func.count())
                                      .group_by(Delivery.status)).all())
        resent = dict(session.execute(select(Delivery.id, Delivery.sent_at)
                                      .where(Delivery.id.in_(failed))).all())
        unchanged = dict(session.execute(select(Delivery.id, Delivery.sent_at)
                                         .where(Delivery.id.in_(list(sent_before)))).all())
    assert len(received) == 3 and counts == {"sent": 10}
    assert unchanged == sent_before and all(resent.values())
    with pytest.raises(SendError, match="only a finished send"):
        retry_failed(db, app.config["NEWSLETTER"], send_id)  # it is sending again
    with db.session() as session:
        finish_if_done(session, send_id)
    with pytest.raises(SendError, match="no failed deliveries"):
        retry_failed(db, app.config["NEWSLETTER"], send_id)


def test_the_log_filters_and_pages_by_keyset(app, admins) -> None:  # type: ignore[no-untyped-def]
    from service.admin import send_report

    fill_list(app, 120)
    send_id = start(app, queue=False)
    with app.extensions["db"].session() as session:
        session.execute(update(Delivery).where(Delivery.id % 10 == 0)
                        .values(status=DS.FAILED, last_reply="RCPT: 550 no such user"))
        first = send_report.delivery_log(session, send_id)
        second = send_report.delivery_log(session, send_id, after=first.next_after)  # type: ignore[arg-type]
        assert len(first.rows) == 50 and first.rows[-1].delivery_id < second.rows[0].delivery_id
        failed = send_report.delivery_log(session, send_id, state="failed")
        assert len(failed.rows) == 12 and failed.next_after is None
        assert {r.status for r in failed.rows} == {"failed"}
        one = send_report.delivery_log(session, send_id, query="r11@")
        assert [r.email for r in one.rows] == ["r11@example.com"]
        assert send_report.delivery_log(session, send_id, query="%").rows == []  # no wildcard
        shown = {r.email for r in failed.rows if "r1" in r.email}
        hidden = {r.email for r in send_report.delivery_log(session, send_id, query="r1").rows}
        hidden -= shown
        # Two hard bounces (one reader twice) and a complaint, with their reasons.
        from service.bounces.models import BounceEvent

        rows = session.execute(select(Delivery.id, Delivery.subscriber_id)
                               .where(Delivery.status == DS.QUEUED).limit(2)).all()
        for n, (kind, reason, row) in enumerate([("hard", "unknown_user", rows[0]),
                                                 ("hard", "unknown_user", rows[0]),
                                                 ("complaint", "complaint", rows[1])]):
            session.add(BounceEvent(dedup_key=f"k{n}", source="test", kind=kind, reason=reason,
                                    send_id=send_id, delivery_id=row.id,
                                    subscriber_id=row.subscriber_id))
        session.execute(update(Delivery).where(Delivery.status == DS.QUEUED)
                        .values(status=DS.SENT, sent_at=utcnow()))
    client = _client(app, EDITOR)
    report = client.get(f"/admin/sends/{send_id}/report").get_data(as_text=True)
    assert "<td>unknown_user</td><td>2</td>" in report  # bounces by reason
    assert 'id="complaint-rate">1 (0.83%)' in report  # 1 of the 120 that went out
    assert "complaint rate 0.83% is above 0.1%" in report
    assert 'id="retry-failed"' not in report and 'id="log-rows"' not in report  # an editor's
    client = _client(app, ADMIN)
    page = client.get(f"/admin/sends/{send_id}/report?state=failed&q=R1").get_data(as_text=True)
    assert "550 no such user" in page
    assert shown and hidden and all(f"<td>{address}</td>" in page for address in shown)
    assert not any(f"<td>{address}</td>" in page for address in hidden)
    page = client.get(f"/admin/sends/{send_id}/report").get_data(as_text=True)
    assert 'id="next-page"' in page and "after=" in page


def test_a_proposed_time_is_read_in_the_zone_it_was_written_in(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The issue asks for an instant; the form proposes it in the lists' shared zone, or in
    NEWSLETTER_TIMEZONE when they differ, and posting it back unchanged schedules that instant,
    whichever lists are ticked."""
    from service.admin.users import create_admin_user
    from service.subscribers.lists import get_list
    from tests.conftest import running_app

    wanted = (utcnow() + dt.timedelta(days=5)).replace(second=0, microsecond=0)
    folder = tmp_path / "issues"
    folder.mkdir()
    (folder / "2030-01-06.md").write_text(
        f"---\nsend_at: {wanted.isoformat()}\n---\n# 一期 (2030-01-06)\n\n正文。\n", encoding="utf-8")
    with running_app(replace_config(config, issues_dir=folder, timezone="UTC")) as app:
        with app.extensions["db"].session() as session:
            create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
        east = fill_list(app, 2)
        fill_list(app, 2, slug="west", prefix="w")
        with app.extensions["db"].session() as session:
            get_list(session, "news").timezone = "Asia/Shanghai"
        client = _client(app, ADMIN)
        for zones, shown in ((("Asia/Shanghai", "Asia/Shanghai"), "Asia/Shanghai"),
                             (("Asia/Shanghai", "America/New_York"), "UTC")):
            with app.extensions["db"].session() as session:
                get_list(session, "west").timezone = zones[1]
            form = client.get("/admin/issues/2030-01-06/send").get_data(as_text=True)
            proposed = re.search(r'name="at" id="at" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
            assert f'id="at-zone">{shown}<' in form
            assert proposed == wanted.astimezone(ZoneInfo(shown)).strftime("%Y-%m-%dT%H:%M")
            token = csrf_token(client, "/admin/issues/2030-01-06/send")
            review = client.post("/admin/issues/2030-01-06/send", data={
                "csrf_token": token, "lists": [str(east)], "when": "at", "at": proposed,
                "at_zone": shown, "again": "1"})
            assert review.status_code == 200, review.get_data(as_text=True)
            confirmation = CONFIRMATION.search(review.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
            client.post("/admin/issues/2030-01-06/send/confirm", data={
                "csrf_token": csrf_token(client, "/admin/sends"),
                "confirmation": html.unescape(confirmation)})
            assert _sends(app)[-1].scheduled_at == wanted, zones
