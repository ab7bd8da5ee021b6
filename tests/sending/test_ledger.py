"""Starting a send writes the ledger: confirmed subscribers only, once each across lists."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from service.sending.models import Delivery
from service.sending.sends import SendError, create_send, start_send
from service.subscribers.importer import import_csv
from service.subscribers.lists import create_list
from service.subscribers.services import find_subscriber


def test_only_confirmed_subscribers_each_once(app) -> None:  # type: ignore[no-untyped-def]
    db, service = app.extensions["db"], app.extensions["subscribers"]
    with db.session() as session:
        news = create_list(session, "news", "News")
        digest = create_list(session, "digest", "Digest")
    for mailing_list in (news, digest):
        import_csv(db, io.StringIO("email\nboth@example.com\nleft@example.com\nbounced@example.com\n"),
                   mailing_list, confirmed=True)
    with db.session() as session:
        service.subscribe(session, email="pending@example.com", mailing_list=session.get(type(news), news.id))
        service.unsubscribe(session, find_subscriber(session, "left@example.com"), news.id)
        service.unsubscribe(session, find_subscriber(session, "left@example.com"), digest.id)
        find_subscriber(session, "bounced@example.com").status = "bounced"
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().by_slug("2026-09-14"))
    with db.session() as session:
        lists = [session.get(type(news), news.id), session.get(type(news), digest.id)]
        send = create_send(session, compiled, lists, mail_from="n@example.org")
        assert start_send(session, send) == 1
        with pytest.raises(SendError):
            start_send(session, send)  # a second start is refused
        rows = session.execute(select(Delivery.subscriber_id, Delivery.list_id)).all()
        both = find_subscriber(session, "both@example.com")
        assert rows == [(both.id, min(news.id, digest.id))]
        assert send.total == 1 and send.status == "sending"
    # The snapshot is frozen: the send keeps the HTML it was created with.
    assert send.html == compiled.html and send.content_hash == compiled.content_hash
