"""The readers pages: search, filters, keyset pages, one reader's page, the admin's changes,
the CSV export; admins only, and every change needs its CSRF token."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from sqlalchemy import func, select

from service.bounces.models import BounceEvent
from service.mail.models import OutboxMessage
from service.sending.models import Delivery, Send
from service.subscribers.importer import import_csv
from service.subscribers.lists import create_list
from service.subscribers.models import Subscriber, SubscriberEvent, Subscription
from tests.admin.conftest import ADMIN, EDITOR, csrf_token, log_in

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
ROW = re.compile(r'href="/admin/readers/(\d+)"')
LINK = {rel: re.compile(rf'rel="{rel}" href="([^"]+)"') for rel in ("next", "prev")}


def seed(app, count: int = 130) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """``count`` readers on "news"; a third share the name "Same" (equal sort keys), every
    tenth is also on "other"."""
    db = app.extensions["db"]
    with db.session() as session:
        news, other = create_list(session, "news", "News"), create_list(session, "other", "Other")
    rows = "".join(
        f"{'Zed' if n % 2 else 'amy'}{n:03d}@Example.com,{'Same' if n % 3 == 0 else f'Name{n:03d}'}\n"
        for n in range(count))
    import_csv(db, io.StringIO("email,name\n" + rows), news, confirmed=True)
    tenth = "".join(f"{'Zed' if n % 2 else 'amy'}{n:03d}@example.com\n" for n in range(0, count, 10))
    import_csv(db, io.StringIO("email\n" + tenth), other)
    return {"news": news.id, "other": other.id}


def ids_on(page: str) -> list[int]:
    return [int(i) for i in ROW.findall(page)]


def walk(client, url: str, rel: str = "next") -> list[list[int]]:  # type: ignore[no-untyped-def]
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        pages.append(ids_on(body))
        found = LINK[rel].search(body)
        url = html.unescape(found.group(1)) if found else ""
    return pages


def expected_order(app, sort: str) -> list[int]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        readers = session.execute(select(Subscriber.id, Subscriber.email_key, Subscriber.name)).all()
    if sort == "newest":
        return sorted((r.id for r in readers), reverse=True)
    if sort == "email":
        return [r.id for r in sorted(readers, key=lambda r: r.email_key)]
    return [r.id for r in sorted(readers, key=lambda r: (r.name, r.id))]


def test_keyset_pages_show_every_reader_once_both_ways(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    seed(app)
    log_in(client, *ADMIN)
    for sort in ("newest", "email", "name"):
        expected = expected_order(app, sort)
        forward = walk(client, f"/admin/readers?sort={sort}")
        assert [len(p) for p in forward] == [50, 50, 30]
        assert sum(forward, []) == expected, sort  # none repeated or skipped, ties included
        last = client.get(f"/admin/readers?sort={sort}&last=1").get_data(as_text=True)
        assert ids_on(last) == expected[-50:]
        backward = walk(client, f"/admin/readers?sort={sort}&last=1", rel="prev")
        assert sum(reversed(backward), []) == expected, sort


@POSTGRES
def test_search_and_filters(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    seed(app)
    log_in(client, *ADMIN)

    def found(query: str) -> list[str]:
        body = client.get("/admin/readers?" + query).get_data(as_text=True)
        return re.findall(r'href="/admin/readers/\d+">([^<]+)</a>', body)

    assert found("q=AMY01") == [f"amy{n:03d}@example.com" for n in (10, 12, 14, 16, 18)]
    assert found("q=Same&field=name")[:2] == ["amy000@example.com", "Zed003@example.com"]
    assert len(found("q=Same&field=name")) == 44
    assert found("q=same&field=name") == []  # a name prefix is taken as typed
    assert len(found("list=other")) == 13
    assert len(found("list=other&status=pending")) == 13 and found("list=other&status=confirmed") == []
    assert found("status=bounced") == [] and found("q=nobody") == []
    assert client.get("/admin/readers?after=not-a-cursor").status_code == 400


def _reader(app, email: str) -> Subscriber:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email_key == email.lower())).one()


def _add_delivery_and_bounce(app, subscriber_id: int, list_id: int) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        send = Send(issue_slug="2026-09-14", status="finished", content_hash="x", subject="S",
                    html="", text="", tokens="{}", mail_from="a@example.org", list_ids=str(list_id))
        session.add(send)
        session.flush()
        delivery = Delivery(send_id=send.id, subscriber_id=subscriber_id, list_id=list_id,
                            status="bounced", attempts=1, last_reply="550 5.1.1 no such user")
        session.add(delivery)
        session.flush()
        session.add(BounceEvent(dedup_key="t:1", source="smtp", kind="hard", reason="unknown-user",
                                status="5.1.1", diagnostic="no such user here", recipient="x",
                                subscriber_id=subscriber_id, send_id=send.id,
                                delivery_id=delivery.id, action="suppressed"))


@POSTGRES
def test_edit_refuses_bad_addresses_and_only_admins_with_a_token_change_readers(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    seed(app, 4)
    reader = _reader(app, "amy000@example.com")
    log_in(client, *ADMIN)
    token = csrf_token(client, "/admin/readers")
    url = f"/admin/readers/{reader.id}/edit"
    taken = client.post(url, data={"csrf_token": token, "email": "ZED001@example.com", "name": "X"})
    assert taken.status_code == 400 and "another reader" in taken.get_data(as_text=True)
    malformed = client.post(url, data={"csrf_token": token, "email": "not an address", "name": "X"})
    assert malformed.status_code == 400 and "not a valid address" in malformed.get_data(as_text=True)
    assert _reader(app, "amy000@example.com").name == "Same"  # nothing changed
    saved = client.post(url, data={"csrf_token": token, "email": "New@Example.com",
                                   "name": "Anna\r\nBcc: x@evil.test"})
    assert saved.status_code == 302
    edited = _reader(app, "new@example.com")
    assert edited.id == reader.id and edited.name == "Anna Bcc: x@evil.test"
    with app.extensions["db"].session() as session:
        kinds = session.scalars(select(SubscriberEvent.detail).where(
            SubscriberEvent.subscriber_id == reader.id, SubscriberEvent.kind == "edit")).all()
    assert kinds == [f"by {ADMIN[0]}: email, name"]
    # An editor sees no reader page (403); an admin's POST without its token changes nothing.
    editor = app.test_client()
    log_in(editor, *EDITOR)
    for url in ("/admin/readers", f"/admin/readers/{reader.id}", "/admin/readers/export.csv"):
        assert editor.get(url).status_code == 403
    editor_token = csrf_token(editor, "/admin/issues")
    assert editor.post(f"/admin/readers/{reader.id}/delete",
                       data={"csrf_token": editor_token}).status_code == 403
    for action in ("delete", "edit", "unsubscribe", "unsuppress"):
        response = client.post(f"/admin/readers/{reader.id}/{action}",
                               data={"email": "x@example.com", "list_id": "1"})
        assert response.status_code == 400
    after = _reader(app, "new@example.com")
    assert (after.id, after.name, after.status) == (reader.id, "Anna Bcc: x@evil.test", "confirmed")


@POSTGRES
def test_detail_page_then_unsubscribe_unsuppress_and_erase(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    lists = seed(app, 20)
    reader = _reader(app, "amy000@example.com")
    _add_delivery_and_bounce(app, reader.id, lists["news"])
    log_in(client, *ADMIN)
    page = client.get(f"/admin/readers/{reader.id}").get_data(as_text=True)
    subscriptions = page.split('id="subscriptions"')[1].split("</table>")[0]
    assert "news" in subscriptions and "other" in subscriptions and "confirmed" in subscriptions
    assert "import" in page.split('id="consent"')[1]
    assert "2026-09-14" in page and "550 5.1.1 no such user" in page
    assert "unknown-user" in page.split('id="bounces"')[1]
    assert client.get("/admin/readers/999999").status_code == 404
    token = csrf_token(client, "/admin/readers")
    base = f"/admin/readers/{reader.id}"
    assert client.post(base + "/unsubscribe", data={"csrf_token": token, "list_id": lists["news"]}).status_code == 302
    db = app.extensions["db"]
    with db.session() as session:
        statuses = dict(session.execute(select(Subscription.list_id, Subscription.status).where(
            Subscription.subscriber_id == reader.id)).all())
        assert statuses == {lists["news"]: "unsubscribed", lists["other"]: "pending"}
        session.get(Subscriber, reader.id).status = "bounced"
    lifted = client.post(base + "/unsuppress", data={"csrf_token": token})
    assert lifted.status_code == 302 and _reader(app, "amy000@example.com").status == "confirmed"
    again = client.post(base + "/unsuppress", data={"csrf_token": token})
    assert again.status_code == 400 and "not suppressed" in again.get_data(as_text=True)
    erased = client.post(base + "/delete", data={"csrf_token": token})
    assert erased.status_code == 302
    with db.session() as session:
        for model, column in ((Subscriber, Subscriber.id), (Subscription, Subscription.subscriber_id),
                              (SubscriberEvent, SubscriberEvent.subscriber_id),
                              (Delivery, Delivery.subscriber_id), (BounceEvent, BounceEvent.subscriber_id)):
            assert session.scalar(select(func.count()).select_from(model).where(column == reader.id)) == 0
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 19
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@POSTGRES
def test_export_is_filtered_and_guards_formulas(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    seed(app, 20)
    with app.extensions["db"].session() as session:
        reader = session.scalars(select(Subscriber).where(Subscriber.email_key == "amy010@example.com")).one()
        reader.name = "=HYPERLINK(\"http://evil.test\")"
    log_in(client, *ADMIN)
    response = client.get("/admin/readers/export.csv?list=other")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["email", "name", "lists", "status", "created", "confirmed"]
    assert len(rows) == 3  # the header and the two readers on "other"
    guarded = next(r for r in rows if r[0] == "amy010@example.com")
    assert guarded[1] == "'=HYPERLINK(\"http://evil.test\")"
    assert guarded[2] == "news:confirmed;other:pending" and guarded[3] == "confirmed"
