"""The development inbox catches what the service sends and shows it."""

from __future__ import annotations

import re
from dataclasses import replace

from service import create_app
from service.devinbox import DevInbox
from service.mail.transport import parse_smtp_urls
from service.subscribers.lists import ensure_default_list
from tests.smtp_sink import free_port


def test_a_confirmation_lands_in_the_dev_inbox_and_can_be_read(config) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    config = replace(config, dev_inbox=True, smtp_url=f"smtp://127.0.0.1:{port}")
    inbox = DevInbox(config.instance_dir / "devinbox", "127.0.0.1", port)
    inbox.start()
    app = create_app(config)
    try:
        with app.extensions["db"].session() as session:
            news = ensure_default_list(session, "嵌入式AI简报", "zh-CN")
            assert ensure_default_list(session, "again", "en").id == news.id
            app.extensions["subscribers"].subscribe(session, email="dev@example.com", mailing_list=news)
        from service.mail.outbox import deliver_due

        assert deliver_due(app.extensions["db"], parse_smtp_urls(config.smtp_url)) == 1
        client = app.test_client()
        listing = client.get("/dev/inbox").get_data(as_text=True)
        assert "请确认订阅「嵌入式AI简报」" in listing
        name = re.search(r'href="/dev/inbox/([^"]+\.eml)"', listing).group(1)  # type: ignore[union-attr]
        page = client.get(f"/dev/inbox/{name}").get_data(as_text=True)
        assert "dev@example.com" in page and "/confirm/" in page
        html = client.get(f"/dev/inbox/{name}/html")
        assert "sandbox" in html.headers["Content-Security-Policy"] and "确认订阅" in html.get_data(as_text=True)
        assert client.get("/dev/inbox/..%2Fsecret.eml").status_code == 404
    finally:
        inbox.stop()
        app.extensions["outbox"].stop()
        app.extensions["db"].dispose()


def test_the_dev_inbox_is_off_unless_asked_for(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/dev/inbox").status_code == 404


def test_a_message_in_an_unknown_charset_shows_as_bytes_not_a_500(config) -> None:  # type: ignore[no-untyped-def]
    config = replace(config, dev_inbox=True)
    folder = config.instance_dir / "devinbox"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1-odd.eml").write_bytes(
        b"From: a@example.com\r\nTo: b@example.com\r\n"
        b"Subject: =?x-no-such-charset?q?caf=E9?=\r\nDate: nonsense\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \xff\xfe\r\n"
        b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\xff\r\n--XX--\r\n"
    )
    (folder / "2-binary.eml").write_bytes(b"\x00\xff garbage without headers \r\n\r\n\xfe")
    app = create_app(config)
    try:
        client = app.test_client()
        listing = client.get("/dev/inbox")
        assert listing.status_code == 200
        page = client.get("/dev/inbox/1-odd.eml")
        assert page.status_code == 200
        assert "caf\\xe9 \\xff\\xfe" in page.get_data(as_text=True)  # the bytes, shown as such
        assert client.get("/dev/inbox/1-odd.eml/html").status_code == 200
        for path in ("/dev/inbox/2-binary.eml", "/dev/inbox/2-binary.eml/html"):
            assert client.get(path).status_code == 200
    finally:
        app.extensions["outbox"].stop()
        app.extensions["db"].dispose()
