"""The lists pages: create and edit a list with its sender and schedule, refuse what could
break a header or repeat a key, show the signup URL and a form that really signs up."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from service.sending.sends import create_send
from service.subscribers.list_settings import sender_for
from service.subscribers.models import MailingList, SignupRequest
from tests.admin.conftest import ADMIN, EDITOR, csrf_token, log_in
from tests.conftest import TEST_BASE_URL

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
GOOD = {"slug": "weekly", "name": "Weekly 周报", "language": "zh-CN",
        "sender": "Weekly 周报 <weekly@example.org>", "reply_to": "editor@example.org",
        "timezone": "Asia/Shanghai", "send_weekday": "4", "send_time": "09:30",
        "double_opt_in": "on", "description": ""}


def _list(app, slug: str) -> MailingList | None:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalars(select(MailingList).where(MailingList.slug == slug)).one_or_none()


@POSTGRES
def test_create_edit_refuse_bad_values_and_keep_out_editors(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    log_in(client, *ADMIN)
    token = csrf_token(client, "/admin/lists")
    created = client.post("/admin/lists/new", data={**GOOD, "csrf_token": token})
    assert created.status_code == 302 and created.headers["Location"] == "/admin/lists/weekly"
    weekly = _list(app, "weekly")
    assert (weekly.sender, weekly.reply_to, weekly.timezone, weekly.send_weekday, weekly.send_time) == (
        "Weekly 周报 <weekly@example.org>", "editor@example.org",
        "Asia/Shanghai", 4, "09:30")
    refused = {
        "slug": ("weekly", "exists already"),
        "sender": ("not an address", "is not an address"),
        "reply_to": ("x@@example.org", "reply-to"),
        "name": ("Weekly\r\nBcc: x@evil.test", "line breaks"),
        "send_time": ("25:00", "09:30"),
        "timezone": ("Mars/Olympus", "unknown time zone"),
    }
    for field, (value, message) in refused.items():
        response = client.post("/admin/lists/new", data={**GOOD, "slug": "other", field: value,
                                                          "csrf_token": token})
        assert response.status_code == 400, field
        assert message in html.unescape(response.get_data(as_text=True)), field
    assert _list(app, "other") is None
    header_injection = client.post("/admin/lists/weekly", data={
        **GOOD, "sender": "Weekly <weekly@example.org>\r\nBcc: x@evil.test", "csrf_token": token})
    assert header_injection.status_code == 400
    assert _list(app, "weekly").sender.endswith("<weekly@example.org>")
    edited = client.post("/admin/lists/weekly", data={**GOOD, "name": "Weekly", "sender": "",
                                                      "send_weekday": "", "csrf_token": token})
    assert edited.status_code == 302
    weekly = _list(app, "weekly")
    assert (weekly.name, weekly.sender, weekly.send_weekday) == ("Weekly", "", None)
    assert "weekly" in client.get("/admin/lists").get_data(as_text=True)
    # An editor gets 403; an admin's POST without its token changes nothing.
    editor = app.test_client()
    log_in(editor, *EDITOR)
    assert editor.get("/admin/lists").status_code == 403
    editor_token = csrf_token(editor, "/admin/issues")
    assert editor.post("/admin/lists/new", data={**GOOD, "slug": "third", "csrf_token": editor_token}).status_code == 403
    assert client.post("/admin/lists/new", data={**GOOD, "slug": "third"}).status_code == 400
    assert client.post("/admin/lists/weekly", data={**GOOD, "name": "Changed"}).status_code == 400
    assert _list(app, "third") is None and _list(app, "weekly").name == "Weekly"


@POSTGRES
def test_signup_url_and_embeddable_form_sign_a_reader_up(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    log_in(client, *ADMIN)
    client.post("/admin/lists/new", data={**GOOD, "csrf_token": csrf_token(client, "/admin/lists")})
    page = client.get("/admin/lists/weekly").get_data(as_text=True)
    assert f'href="{TEST_BASE_URL}/subscribe/weekly"' in page
    snippet = html.unescape(re.search(r'<textarea id="snippet"[^>]*>(.*?)</textarea>', page, re.S).group(1))
    assert f'action="{TEST_BASE_URL}/api/subscribe"' in snippet
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', snippet))
    assert fields == {"list": "weekly"}
    assert client.get("/subscribe/weekly").status_code == 200
    # What the pasted form posts, from another site: no session, no CSRF token.
    visitor = app.test_client()
    answer = visitor.post("/api/subscribe", data={**fields, "email": "reader@example.com",
                                                  "name": "", "website": ""})
    assert answer.status_code == 202
    with app.extensions["db"].session() as session:
        queued = session.scalars(select(SignupRequest)).all()
    assert [(r.email, r.list_id) for r in queued] == [("reader@example.com", _list(app, "weekly").id)]
    # A send to the list goes out from the list's own sender and reply-to.
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().by_slug("2026-09-14"))
    with app.extensions["db"].session() as session:
        weekly = session.scalars(select(MailingList).where(MailingList.slug == "weekly")).one()
        send = create_send(session, compiled, [weekly], mail_from=app.config["NEWSLETTER"].mail_from)
        assert (send.mail_from, send.reply_to) == (GOOD["sender"], GOOD["reply_to"])


def test_a_send_takes_the_lists_own_sender_when_they_agree() -> None:
    one = MailingList(slug="a", name="A", sender="A <a@example.org>", reply_to="")
    two = MailingList(slug="b", name="B", sender="A <a@example.org>", reply_to="r@example.org")
    other = MailingList(slug="c", name="C", sender="", reply_to="")
    assert sender_for([one, two], "D <d@example.org>", "") == ("A <a@example.org>", "")
    assert sender_for([one], "D <d@example.org>", "x@example.org") == ("A <a@example.org>", "x@example.org")
    assert sender_for([one, other], "D <d@example.org>", "") == ("D <d@example.org>", "")
