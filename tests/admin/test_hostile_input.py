"""Hostile input against the admin console and the public pages.

Two promises. A GET or a HEAD changes nothing: link scanners and prefetchers fetch every URL
they see, and RFC 8058 lets only a POST unsubscribe. And no input, however odd (NUL, line
breaks, digits that are not ASCII, numbers past 64 bits, 10,000 characters, broken CSV), gets
a 500 or stores a value that would later break a message header.
"""

from __future__ import annotations

import email
import email.policy
import html
import io
import re
import time

import pytest
from sqlalchemy import func, select

from service.mail.message import HEADER_BREAKS
from service.models import metadata
from service.sending.assembly import MessageTemplate, Recipient, list_id_header
from service.sending.models import Send
from service.sending.preview import personal_values
from service.subscribers.import_jobs import ImportJob
from service.subscribers.links import ALL_LISTS, make_token
from service.subscribers.lists import CONTROL
from service.subscribers.models import MailingList, Subscriber, Subscription
from tests.admin.conftest import ADMIN, csrf_token, log_in
from tests.sending.conftest import fill_list, start

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
ISSUE = "2026-09-14"
HUGE = str(2**70)  # past 64 bits: neither database can bind it
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


# ------------------------------------------------------------------ helpers


def _admin(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    log_in(client, *ADMIN)
    return client


def _snapshot(app) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def,type-arg]
    """Every row of every table: subscriptions, admin session tokens, lists, sends, all."""
    with app.extensions["db"].session() as session:
        return {
            table.name: sorted(
                (tuple(map(repr, row)) for row in session.execute(table.select())), key=repr)
            for table in metadata.sorted_tables
        }


def _count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(model))


def _lists(app) -> list[MailingList]:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return list(session.scalars(select(MailingList).order_by(MailingList.id)))


def _subscriber(app, email_key: str) -> Subscriber:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email_key == email_key)).one()


def _status(app, subscriber_id: int, list_id: int) -> str:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(Subscription.status).where(
            Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id))


def _check_header_block(raw: bytes) -> email.message.EmailMessage:
    """The message's header lines, unfolded, hold no stray CR or LF, no name twice, no Bcc."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    unfolded = re.sub(rb"\r\n[ \t]", b" ", head).split(b"\r\n")
    assert not [line for line in unfolded if b"\r" in line or b"\n" in line]
    names = [line.split(b":", 1)[0].lower() for line in unfolded]
    assert len(names) == len(set(names)) and b"bcc" not in names, names
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _message_to(app, mailing_list: MailingList, name: str = "Reader") -> bytes:  # type: ignore[no-untyped-def]
    """A send's message from this list's sender, reply-to and List-Id, as the sender makes it."""
    config = app.config["NEWSLETTER"]
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().by_slug(ISSUE))
    template = MessageTemplate(
        compiled, mail_from=mailing_list.sender or config.mail_from,
        reply_to=mailing_list.reply_to or config.reply_to,
        list_id=list_id_header(mailing_list.slug, config.message_id_domain))
    values = personal_values(app.extensions["subscribers"].links, compiled, "reader@example.com")
    return template.render(Recipient(address="reader@example.com", name=name,
                                     message_id="<x@example.org>", values=values))


# ------------------------------------------------------------------ GET and HEAD change nothing


def _seed(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Readers confirmed and pending, a running send; the signed links each reader holds."""
    news = fill_list(app, 3)
    service = app.extensions["subscribers"]
    with app.extensions["db"].session() as session:
        service.subscribe(session, email="pending@example.com",
                          mailing_list=session.get(MailingList, news))
    start(app, queue=False)
    signer = service.links.signer
    reader, pending = _subscriber(app, "r0@example.com"), _subscriber(app, "pending@example.com")
    return {
        "confirm": make_token(signer, "confirm", pending.id, pending.email_key, (news,)),
        "unsubscribe": make_token(signer, "unsubscribe", reader.id, reader.email_key, news),
        "unsubscribe-all": make_token(signer, "unsubscribe", reader.id, reader.email_key, ALL_LISTS),
        "preferences": make_token(signer, "preferences", reader.id, reader.email_key),
    }


def _path(rule, tokens: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
    """A URL for the rule naming things that exist. A new argument name fails here, so that a
    new state-changing URL gets a value (and is tested) rather than skipped."""
    endpoint = rule.endpoint
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name == "slug":
            values[name] = ("news" if endpoint in ("admin.edit_list", "subscribers.subscribe")
                            else ISSUE)
        elif name == "token":
            purpose = endpoint.split(".")[1]
            values[name] = tokens[purpose if purpose in tokens else "preferences"]
        elif name == "action":
            values[name] = "delete" if endpoint == "admin.api_webhook_change" else "cancel"
        elif name.endswith("_id"):
            values[name] = 1
        else:
            raise AssertionError(f"{rule.rule}: give {name!r} a value in _path")
    built = rule.build(values, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


@BOTH
def test_get_and_head_on_every_state_changing_url_change_nothing(app, admins) -> None:  # type: ignore[no-untyped-def]
    tokens = _seed(app)
    news = _lists(app)[0].id
    reader = _subscriber(app, "r0@example.com")
    rules = [r for r in app.url_map.iter_rules() if r.methods & STATE_CHANGING]
    assert {"admin.edit_list", "subscribers.unsubscribe", "admin.reader_delete"} <= {
        r.endpoint for r in rules}
    urls = {_path(rule, tokens) for rule in rules}
    routes = app.url_map.bind("news.example.org")
    # Each link a reader holds, as a scanner fetches it: with RFC 8058's field in the query
    # string, or even in a GET's body.
    for purpose in ("confirm", "unsubscribe", "unsubscribe-all", "preferences"):
        url = f"/{purpose.split('-')[0]}/{tokens[purpose]}"
        urls |= {url, url + "?List-Unsubscribe=One-Click"}
    visitors = {"anonymous": app.test_client(), "admin": _admin(app)}
    before = _snapshot(app)
    for url in sorted(urls):
        for who, client in visitors.items():
            for method in ("GET", "HEAD"):
                response = client.open(url, method=method)
                assert response.status_code < 500, (method, url, who)
                if "GET" not in routes.allowed_methods(url.split("?")[0]):
                    assert response.status_code == 405, (method, url, who)
        body = visitors["anonymous"].get(url, data={"List-Unsubscribe": "One-Click"})
        assert body.status_code < 500, url
    assert _snapshot(app) == before
    assert _status(app, reader.id, news) == "confirmed"
    # The links were good ones: each shows its page, and the one-click POST does unsubscribe.
    for purpose in ("confirm", "unsubscribe", "unsubscribe-all", "preferences"):
        url = f"/{purpose.split('-')[0]}/{tokens[purpose]}"
        assert app.test_client().get(url).status_code == 200, purpose
    one_click = app.test_client().post(f"/unsubscribe/{tokens['unsubscribe']}",
                                       data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and _status(app, reader.id, news) == "unsubscribed"


# ------------------------------------------------------------------ the lists form

LIST_FORM = {"slug": "", "name": "Weekly", "language": "en", "sender": "", "reply_to": "",
             "timezone": "", "send_weekday": "", "send_time": "", "double_opt_in": "on",
             "description": ""}
# (field, value, None when the value is taken, else a phrase of the error the form shows)
LIST_CASES = [
    ("slug", "a:b#c", "lower-case letters"),
    ("slug", "news\r\nBcc: x", "lower-case letters"),
    ("slug", "a" * 10_000, "lower-case letters"),
    ("slug", "٣", "lower-case letters"),
    ("slug", "３", "lower-case letters"),
    ("slug", "a\x00b", "lower-case letters"),
    ("slug", "\u202eswen", "lower-case letters"),
    ("name", "a: #<b> \"c\" 'd'", None),
    ("name", "📰 周报 ٣ \u202eevil", None),
    ("name", "Weekly\r\nBcc: x@evil.test", "line breaks"),
    ("name", "Weekly\u2028Bcc: x@evil.test", "line breaks"),
    ("name", "a\x00b", "control characters"),
    ("name", "x" * 10_000, "at most 200"),
    ("send_weekday", "²", "weekday"),
    ("send_weekday", "٣", "weekday"),
    ("send_weekday", "３", "weekday"),
    ("send_weekday", "-1", "weekday"),
    ("send_weekday", "7", "weekday"),
    ("send_weekday", HUGE, "weekday"),
    ("send_time", "٠٩:٣٠", "09:30"),
    ("send_time", "０９:３０", "09:30"),
    ("send_time", "09:30\x00", "09:30"),
    ("send_time", "9" * 10_000, "09:30"),
    ("timezone", "../../etc/passwd", "unknown time zone"),
    ("timezone", "Mars/Olympus", "unknown time zone"),
    ("timezone", "/etc/localtime", "unknown time zone"),
    ("timezone", "America", "unknown time zone"),
    ("timezone", "Asia/Shanghai\x00", "unknown time zone"),
    ("timezone", "x" * 10_000, "unknown time zone"),
    ("sender", "a@example.org\r\nBcc: x@evil.test", "line breaks"),
    ("sender", "Weekly <a@example.org>\nBcc: x@evil.test", "line breaks"),
    ("sender", "Weekly\u0085 <a@example.org>", "line breaks"),
    ("sender", '"Evil, Inc" <a@example.org>', "without quotes"),
    ("sender", "a@example.org, b@example.org", "not an address"),
    ("sender", "x" * 10_000, "at most 400"),
    ("sender", "<a@example.org>\x00", "control characters"),
    ("sender", "周报 Weekly <weekly@example.org>", None),
    ("reply_to", "a@example.org\nBcc: x@evil.test", "line breaks"),
    ("reply_to", "a@example.org\r\n", None),  # stripped: the break is at the end, not inside
    ("reply_to", "Ed <a@exa\u202emple.org>", "not a valid address"),
    ("language", "zh-CN\r\n", "language must be one of"),
    ("description", "a\x00b\r\nc" + "d" * 10_000, None),
]


@BOTH
def test_the_lists_form_refuses_what_could_break_a_header_and_never_fails(app, admins) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 1)
    client = _admin(app)
    token = csrf_token(client, "/admin/lists")
    for number, (field, value, error) in enumerate(LIST_CASES):
        data = {**LIST_FORM, "slug": f"l{number}", field: value, "csrf_token": token}
        created = client.post("/admin/lists/new", data=data)
        edited = client.post("/admin/lists/news", data=data) if field != "slug" else created
        for response in (created, edited):
            page = html.unescape(response.get_data(as_text=True))
            if error is None:
                assert response.status_code == 302, (field, value[:40])
            else:
                assert response.status_code == 400 and error in page, (field, value[:40])
    stored = _lists(app)
    assert {m.slug for m in stored} == {"news"} | {
        f"l{n}" for n, (_f, _v, error) in enumerate(LIST_CASES) if error is None}
    for mailing_list in stored:
        for value in (mailing_list.name, mailing_list.sender, mailing_list.reply_to,
                      mailing_list.timezone, mailing_list.send_time):
            assert not HEADER_BREAKS.search(value) and not CONTROL.search(value), value
        message = _check_header_block(_message_to(app, mailing_list))
        assert message["List-Id"] == f"<{mailing_list.slug}.{app.config['NEWSLETTER'].message_id_domain}>"
        confirm = app.extensions["subscribers"].emails.build(
            "confirm", mailing_list, Subscriber(email="r@example.com", name="R"), "https://x.test/c")
        assert mailing_list.name in _check_header_block(bytes(confirm))["Subject"]
    cjk = next(m for m in stored if m.sender.startswith("周报"))
    assert _message_to(app, cjk).startswith(b"From: =?utf-8?")  # the CJK name, encoded
    # Names are text on every page: escaped, never markup.
    for page in (client.get("/admin/lists"), app.test_client().get("/subscribe/l7")):
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert "<b>" not in body and "&lt;b&gt;" in body
    assert client.get(f"/admin/issues/{ISSUE}").status_code == 200  # the preview assembles


# ------------------------------------------------------------------ query strings and path ids

ODD_URLS = [
    # (URL, status): a search is text, a cursor is this site's own or a 400
    ("/admin/readers?q=%25_%5C", 200),
    ("/admin/readers?q=r0%00", 200),
    ("/admin/readers?field=name&q=%00", 200),
    ("/admin/readers?q=" + "x" * 10_000, 200),
    ("/admin/readers?q=%ED%A0%80%FF", 200),  # a lone surrogate's bytes, and a byte no UTF-8 has
    ("/admin/readers?list=%00&status=%00&sort=%00&field=%00", 200),
    ("/admin/readers/export.csv?q=%00", 200),
    ("/admin/readers?after=-1", 400),
    ("/admin/readers?after=" + HUGE, 400),
    ("/admin/readers?after=abc!!", 400),
    ("/admin/readers?after=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ", 400),  # [10**22]
    ("/admin/readers?after=Wy0xXQ", 400),  # [-1]
    ("/admin/readers?after=WzEuNV0", 400),  # [1.5]
    ("/admin/readers?after=W3RydWVd", 400),  # [true]
    ("/admin/readers?sort=email&after=WyJcdTAwMDAiXQ", 400),  # ["\u0000"]
    ("/admin/readers?sort=name&after=WyJcdTAwMDAiLDFd", 400),  # ["\u0000", 1]
    ("/admin/readers?sort=name&after=WyJhIiwxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMF0", 400),  # ["a", 10**22]
    ("/admin/readers?before=" + "A" * 10_000, 400),
    ("/admin/readers?last=1&before=%00", 200),  # "last" takes no cursor
    (f"/admin/readers/{HUGE}", 404),
    ("/admin/readers/{reader}?deliveries_before=" + HUGE, 200),
    ("/admin/readers/{reader}?deliveries_before=-" + HUGE, 200),
    (f"/admin/sends/{HUGE}", 404),
    (f"/admin/sends/{HUGE}/progress", 404),
    (f"/admin/sends/{HUGE}/report", 404),
    ("/admin/sends?before=" + HUGE, 200),
    ("/admin/sends?before=-" + HUGE, 200),
    (f"/admin/imports/{HUGE}", 404),
    (f"/admin/imports/{HUGE}/errors.csv", 404),
    ("/admin/sends/count?lists=" + HUGE, 200),
    ("/admin/sends/count?lists=%C2%B2&lists=%D9%A3&lists=-1&lists=abc", 200),  # ², ٣
    ("/admin/api/webhooks/deliveries?before=" + HUGE, 200),
    ("/admin/lists/%00", 404),
    ("/admin/lists/" + "a" * 10_000, 404),
    ("/admin/issues/%00", 404),
    ("/admin/issues/..%2F..%2Fetc%2Fpasswd", 404),
    ("/admin/login?next=%00", 302),
    ("/subscribe/%00", 404),
    ("/issues/%00", 404),
    ("/assets/..%2F..%2Fetc%2Fpasswd", 404),
    ("/confirm/%00", 400),
    ("/unsubscribe/" + "a" * 10_000, 400),
    ("/preferences/%FF%FE", 400),
]


@BOTH
def test_odd_query_strings_and_ids_past_64_bits_get_an_answer(app, admins) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 3)
    reader = _subscriber(app, "r0@example.com").id
    client = _admin(app)
    for url, status in ODD_URLS:
        response = client.get(url.format(reader=reader))
        response.get_data()  # a streamed body fails while it is read
        assert response.status_code == status, url[:80]
    # A search is a prefix as typed: % and _ are no wildcards, and NUL is in no address.
    def found(query: str) -> bool:
        return "r0@example.com" in client.get("/admin/readers?q=" + query).get_data(as_text=True)

    assert found("r0") and not any(found(q) for q in ("%25", "r_", "r%25", "r0%00", "%5C"))
    # A form's id past the column's range: refused, nothing changed.
    token = csrf_token(client, "/admin/readers")
    for value in (HUGE, "-1", "²", "abc", ""):
        response = client.post(f"/admin/readers/{reader}/unsubscribe",
                               data={"csrf_token": token, "list_id": value})
        assert response.status_code == 400, value
    assert _status(app, reader, _lists(app)[0].id) == "confirmed"
    for url in (f"/admin/readers/{HUGE}/delete", f"/admin/sends/{HUGE}/cancel",
                f"/admin/imports/{HUGE}/retry", f"/admin/api/tokens/{HUGE}/revoke"):
        assert client.post(url, data={"csrf_token": token}).status_code == 404, url


# ------------------------------------------------------------------ the send form


@BOTH
def test_the_send_form_refuses_odd_lists_and_times_and_sends_nothing(app, admins) -> None:  # type: ignore[no-untyped-def]
    news = fill_list(app, 2)
    with app.extensions["db"].session() as session:
        session.get(MailingList, news).timezone = "America/New_York"
    client = _admin(app)
    token = csrf_token(client, f"/admin/issues/{ISSUE}/send")
    url = f"/admin/issues/{ISSUE}/send"
    odd_lists = [["999"], [HUGE], ["1" * 5_000], ["abc"], ["²"], ["٣"], ["３"], ["-1"], [""], []]
    for lists in odd_lists:
        response = client.post(url, data={"csrf_token": token, "lists": lists, "when": "now"})
        assert response.status_code == 422, lists
        assert "choose at least one list" in response.get_data(as_text=True) or (
            "does not exist" in response.get_data(as_text=True)), lists
    # A value that is no list id is dropped: the confirm step names the lists it sends to.
    mixed = client.post(url, data={"csrf_token": token, "lists": [str(news), HUGE, "²"],
                                   "when": "now"})
    assert mixed.status_code == 200 and 'id="confirm-count" data-count="2"' in mixed.get_data(as_text=True)
    for when, at, error in [
        ("at", "0001-01-01T00:00", "has passed"),
        ("at", "0001-01-01T00:00-12:00", "has passed"),
        ("at", "garbage", "not an ISO 8601"),
        ("at", "2027-02-30T10:00", "not an ISO 8601"),
        ("at", "x" * 10_000, "not an ISO 8601"),
        ("at", "2027-01-01T10:00+99:00", "not an ISO 8601"),
        ("at", "", "give the date and time"),
        ("never", "", "choose “send now” or a time"),
    ]:
        response = client.post(url, data={"csrf_token": token, "lists": [str(news)],
                                          "when": when, "at": at})
        assert response.status_code == 422, at[:40]
        assert error in html.unescape(response.get_data(as_text=True)), at[:40]
    assert _count(app, Send) == 0


@BOTH
def test_a_time_that_does_not_exist_or_cannot_be_stored_is_refused(app, admins) -> None:  # type: ignore[no-untyped-def]
    news = fill_list(app, 2)
    with app.extensions["db"].session() as session:
        session.get(MailingList, news).timezone = "America/New_York"
    client = _admin(app)
    token = csrf_token(client, f"/admin/issues/{ISSUE}/send")
    # 02:30 on 14 March 2027 is skipped in New York (clocks go from 02:00 to 03:00); the last
    # minute of 9999 in New York is already in the year 10000 in UTC.
    for at, error in [("2027-03-14T02:30", "does not exist in America/New_York"),
                      ("9999-12-31T23:59", "outside the years 1 to 9999"),
                      ("9999-12-31T23:59-12:00", "outside the years 1 to 9999")]:
        response = client.post(f"/admin/issues/{ISSUE}/send", data={
            "csrf_token": token, "lists": [str(news)], "when": "at", "at": at})
        assert response.status_code == 422 and error in response.get_data(as_text=True), at
    # An hour that happens twice (fall back) is a real time: its first occurrence, as shown.
    response = client.post(f"/admin/issues/{ISSUE}/send", data={
        "csrf_token": token, "lists": [str(news)], "when": "at", "at": "2027-11-07T01:30"})
    assert response.status_code == 200 and "2027-11-07T01:30:00-04:00" in response.get_data(as_text=True)
    assert _count(app, Send) == 0


# ------------------------------------------------------------------ a reader's edit form

READER_EDITS = [
    # (email, name, status)
    ("a@example.org\r\nBcc: x@evil.test", "X", 400),
    ("b\x00@example.org", "", 400),
    ("x" * 10_000 + "@example.org", "", 400),
    ('"quoted, local"@example.org', "", 400),
    ("f@[127.0.0.1]", "", 400),
    ("", "", 400),
    ("b@example.org", "Anna\r\nBcc: x@evil.test", 302),
    ("b@example.org", "a\x00b\u2028c\x85d", 302),
    ("b@example.org", "=?utf-8?q?Your_bank?=", 302),
    ("b@example.org", 'Ann "the, reader" <x@evil.test>', 302),
    ("b@example.org", "n" * 10_000, 302),
    ("王@例え.jp", "王小明 \u202egnp.exe 📰", 302),
]


@BOTH
def test_a_readers_edit_keeps_their_headers_whole(app, admins) -> None:  # type: ignore[no-untyped-def]
    news = fill_list(app, 1)
    reader = _subscriber(app, "r0@example.com").id
    client = _admin(app)
    token = csrf_token(client, "/admin/readers")
    for address, name, status in READER_EDITS:
        response = client.post(f"/admin/readers/{reader}/edit",
                               data={"csrf_token": token, "email": address, "name": name})
        assert response.status_code == status, (address[:40], name[:40])
        with app.extensions["db"].session() as session:
            stored = session.get(Subscriber, reader)
        for value in (stored.email, stored.name):
            assert not HEADER_BREAKS.search(value) and not CONTROL.search(value), value
        assert "=?" not in stored.name
        message = _check_header_block(_message_to(app, _lists(app)[0], stored.name))
        assert message["To"].addresses[0].display_name == stored.name
    assert stored.email == "王@例え.jp" and _status(app, reader, news) == "confirmed"


# ------------------------------------------------------------------ CSV imports

CSV_UPLOADS = [
    # (file, status, accepted rows once imported)
    (b"email\nx@example.org\x00\n", 400, None),
    (b"\xef\xbb\xbfemail,name\r\nbom@example.org,B\r\n", 302, 1),
    (b"email,name\r\ncrlf@example.org,C\r\nsecond@example.org,D\r\n", 302, 2),
    (b"email\n" + b"a" * (1024 * 1024) + b"\n", 302, 0),
    (b"email,name\nlatin@example.org,\xe9\xe8\n", 400, None),
    (b"\xff\xfee\x00m\x00a\x00i\x00l\x00", 400, None),
    (b"email\n" + b"\r" * 1000, 302, 0),
    (b"email\n\"unterminated@example.org\n", 302, 1),  # the quote closes at the end
    (b"\n\n\n", 400, None),
]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_imports_refuse_or_report_odd_files_and_never_fail(app, admins) -> None:  # type: ignore[no-untyped-def]
    fill_list(app, 1)
    client = _admin(app)

    def upload(body: bytes, filename: str = "people.csv", slug: str = "news"):  # type: ignore[no-untyped-def]
        data = {"csrf_token": csrf_token(client, "/admin/imports"), "list": slug,
                "file": (io.BytesIO(body), filename)}
        return client.post("/admin/imports", data=data, content_type="multipart/form-data")

    expected = {}
    for body, status, accepted in CSV_UPLOADS:
        response = upload(body)
        assert response.status_code == status, body[:40]
        if status == 302:
            expected[int(response.headers["Location"].rsplit("/", 1)[1])] = accepted
    for slug in ("\x00", "news\x00", "x" * 10_000, "NEWS"):
        assert upload(b"email\nq@example.org\n", slug=slug).status_code == 400, slug[:20]
    for filename in ("../../etc/passwd", "a\x00b.csv", "x" * 5_000 + ".csv", "\u202evsc.exe"):
        response = upload(b"email\nq@example.org\n", filename=filename)
        assert response.status_code == 302, filename[:20]
        expected[int(response.headers["Location"].rsplit("/", 1)[1])] = None
    deadline = time.monotonic() + 20
    while _count_unfinished(app) and time.monotonic() < deadline:
        time.sleep(0.1)
    with app.extensions["db"].session() as session:
        jobs = {job.id: job for job in session.scalars(select(ImportJob))}
    assert set(jobs) == set(expected)
    for job_id, accepted in expected.items():
        job = jobs[job_id]
        assert job.status == "done" and not CONTROL.search(job.filename), job.filename[:40]
        assert len(job.filename) <= 255 and "/" not in job.path.removeprefix("imports/")
        if accepted is not None:
            assert job.accepted == accepted, job_id
        assert client.get(f"/admin/imports/{job_id}").status_code == 200
        assert client.get(f"/admin/imports/{job_id}/errors.csv").status_code == 200
    assert client.get("/admin/imports").status_code == 200


def _count_unfinished(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["db"].session() as session:
        return session.scalar(select(func.count()).select_from(ImportJob).where(
            ImportJob.status.not_in(("done", "failed"))))

