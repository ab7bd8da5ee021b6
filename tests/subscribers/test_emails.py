"""Transactional emails take list names and reader names as data: whatever the text, it shows
as text, and it never adds front matter, Markdown, HTML, a link or a header."""

from __future__ import annotations

import email
import email.policy
import re
from html import escape as html_escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape as markup_escape
from sqlalchemy import select

from service.mail.models import OutboxMessage
from service.subscribers.addresses import clean_name
from service.subscribers.emails import TransactionalEmails
from service.subscribers.lists import ListError, clean_list_text, create_list
from service.subscribers.models import MailingList, Subscriber
from tests.subscribers.test_pages import _signup

HOSTILE_NAMES = [
    "News: weekly",
    "Weekly\nsubject: You won a prize",
    "Issue #5 of the digest",
    "<script>alert(1)</script>",
    "[click](http://evil.example)",
    "---\ntitle: forged\n---",
    "**bold** _it_ `code` {{ list_name }} %(name)s",
    "Ünïcødé — 简报 & <b>",
]
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.function_scoped_fixture])


@pytest.fixture
def emails(app) -> TransactionalEmails:  # type: ignore[no-untyped-def]
    return app.extensions["subscribers"].emails


def _parse(message) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    return (
        str(parsed["Subject"]),
        parsed.get_body(("html",)).get_content(),
        parsed.get_body(("plain",)).get_content(),
    )


def _build(emails: TransactionalEmails, kind: str, list_name: str, language: str = "en",
           reader_name: str = "", description: str = ""):  # type: ignore[no-untyped-def]
    mailing_list = MailingList(id=7, slug="x", name=list_name, description=description,
                               language=language)
    subscriber = Subscriber(id=3, email="reader@example.com", email_key="reader@example.com",
                            name=reader_name)
    return emails.build(kind, mailing_list, subscriber, "https://news.example.org/confirm/T0KEN")


SUBJECTS = {
    "confirm": "Please confirm your subscription to {}",
    "welcome": "Welcome to {}",
    "preferences": "Your link to your {} preferences",
}


def _html_text(text: str) -> str:
    return html_escape(text, quote=True)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("kind", ["confirm", "welcome", "preferences"])
def test_hostile_list_names_show_as_text(emails, name: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    flat = " ".join(name.split())
    subject, html, text = _parse(_build(emails, kind, name, description=name))
    assert subject == SUBJECTS[kind].format(flat)  # no line of the name became a header
    assert "<script>" not in html and "<b>" not in html
    assert 'href="http://evil.example"' not in html and "<strong>bold</strong>" not in html
    assert _html_text(flat) in html
    assert flat in text
    assert re.findall(r'href="([^"]+)"', html).count("https://news.example.org/confirm/T0KEN") == 1


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_list_with_any_name_takes_signups(app, name: str) -> None:  # type: ignore[no-untyped-def]
    """`lists create weekly --name "News: weekly"` used to make every signup a 500."""
    with app.extensions["db"].session() as session:
        shown = create_list(session, "weekly", name, language="en").name
    client = app.test_client()
    page = client.get("/subscribe/weekly")
    assert page.status_code == 200
    assert str(markup_escape(shown)) in page.get_data(as_text=True)
    assert _signup(client, "reader@example.com", slug="weekly").status_code == 200
    with app.extensions["db"].session() as session:
        [row] = session.scalars(select(OutboxMessage)).all()
    parsed = email.message_from_bytes(row.message, policy=email.policy.default)
    assert parsed["Subject"] == f"Please confirm your subscription to {shown}"
    assert "<script>" not in parsed.get_body(("html",)).get_content()


@SETTINGS
@given(list_name=st.text(max_size=250), reader_name=st.text(max_size=250),
       language=st.sampled_from(["en", "zh-CN", "fr"]),
       kind=st.sampled_from(["confirm", "welcome", "preferences"]))
def test_any_text_as_list_or_reader_name_builds_an_email(  # type: ignore[no-untyped-def]
    emails, list_name: str, reader_name: str, language: str, kind: str
) -> None:
    name = clean_list_text(list_name) or "x"
    subject, html, text = _parse(
        _build(emails, kind, name, language, clean_name(reader_name), description=list_name)
    )
    if language == "en" or language == "fr":
        assert subject == SUBJECTS[kind].format(name)
    else:
        assert name in subject
    assert "QXZ" not in html and "QXZ" not in text  # every placeholder was filled
    assert "<script" not in html.lower() and _html_text(name) in html


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_as_a_list_name_is_kept_or_refused_clearly(app, name: str) -> None:  # type: ignore[no-untyped-def]
    db = app.extensions["db"]
    try:
        with db.session() as session:
            mailing_list = create_list(session, "fuzz", name)
            assert mailing_list.name == clean_list_text(name)
            assert "\n" not in mailing_list.name and "\x00" not in mailing_list.name
            session.rollback()
    except ListError as exc:
        assert "name" in str(exc) and "\n" not in str(exc)
