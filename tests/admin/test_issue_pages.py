"""The issues list, the preview of one issue and its test-send form."""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.admin.conftest import ADMIN, EDITOR, csrf_token, log_in
from tests.conftest import running_app

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def issues_app(config, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An issues folder of the tests' own: a good issue with a broken link and a link to a
    draft, a draft, an issue without a title, and a corrupt file."""
    folder = tmp_path / "issues"
    folder.mkdir()
    (folder / "2026-09-14.md").write_text(
        "---\ntitle: 九月刊 (2026-09-14)\n---\n\n正文第一段。\n\n"
        "[上一期](2026-08-31.md) · [草稿](2026-12-01.md) · [外链](https://example.org/x?a=1&b=2)\n"
        "\n![图](images/missing.png)\n", encoding="utf-8")
    (folder / "2026-12-01.md").write_text(
        "---\ndraft: true\n---\n# 草稿 (2026-12-01)\n\n还没写完。\n", encoding="utf-8")
    (folder / "2026-10-05.md").write_text(
        "一段没有标题的文字，它很长很长，一直写下去，没有空行也没有井号。\n还有第二行。\n",
        encoding="utf-8")
    (folder / "2026-10-19.md").write_bytes(b"---\ntitle: [unclosed\n---\n\nbody\n")
    (folder / "2026-11-02.md").write_bytes(b"# Broken (2026-11-02)\n\n\xff\xfe not text\n")
    with running_app(replace(config, issues_dir=folder)) as app:
        yield app


@POSTGRES_ONLY
def test_the_list_links_each_issue_and_the_broken_files_get_clear_pages(issues_app, admins) -> None:  # type: ignore[no-untyped-def]
    client = issues_app.test_client()
    log_in(client, *EDITOR)
    page = client.get("/admin/issues").get_data(as_text=True)
    assert 'href="/admin/issues/2026-09-14"' in page
    assert "/2026-09-14/send" not in page  # an editor is not offered the send page
    assert "2026-10-19.md: invalid front matter" in page and "2026-11-02.md: not UTF-8" in page
    # Preview of a file that does not load, or of no file: a clear page, not a 500.
    for slug, status, words in (("2026-10-19", 422, "invalid front matter"),
                                ("2026-11-02", 422, "not UTF-8 (byte 0xff"),
                                ("no-such-issue", 404, "no issue 'no-such-issue'")):
        for suffix in ("", "/email.html"):
            response = client.get(f"/admin/issues/{slug}{suffix}")
            assert response.status_code == status
            assert words in html.unescape(response.get_data(as_text=True))
    client = issues_app.test_client()
    log_in(client, *ADMIN)
    page = client.get("/admin/issues").get_data(as_text=True)
    assert 'href="/admin/issues/2026-09-14/send"' in page
    assert 'href="/admin/issues/2026-12-01/send"' not in page  # a draft is not sent
    draft = client.get("/admin/issues/2026-12-01/send").get_data(as_text=True)
    assert "2026-12-01.md is a draft" in html.unescape(draft)


@POSTGRES_ONLY
def test_the_preview_shows_the_real_email_its_headers_and_warnings(issues_app, admins) -> None:  # type: ignore[no-untyped-def]
    client = issues_app.test_client()
    log_in(client, *EDITOR)
    response = client.get("/admin/issues/2026-09-14")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="frame-desktop"' in page and 'width="680"' in page and 'width="375"' in page
    assert page.count('src="/admin/issues/2026-09-14/email.html"') == 2
    for header in ("Subject", "From", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-ID"):
        assert f"<td>{header}</td>" in page
    assert "九月刊 (2026-09-14)" in page and "正文第一段。" in page  # the text part
    warnings = re.search(r'<ul class="warnings" id="warnings">(.*?)</ul>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "broken link to a past issue" in warnings and "/issues/2026-08-31" in warnings
    assert "a draft the archive does not show" in warnings
    assert "image or file not found in the issues folder: images/missing.png" in warnings
    assert "example.org/x" not in warnings
    assert "<script" not in page  # the preview page needs none

    untitled = client.get("/admin/issues/2026-10-05").get_data(as_text=True)
    assert "no title" in untitled

    # The framed email: sandboxed (no scripts), framable by this site only.
    response = client.get("/admin/issues/2026-09-14/email.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox ") and "allow-scripts" not in policy
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy and response.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = response.get_data(as_text=True)
    assert "九月刊 (2026-09-14)" in body and "%%NL" not in body  # slots filled
    assert response.headers["Cache-Control"] == "no-store"


@POSTGRES_ONLY
def test_an_editor_test_sends_and_bad_addresses_send_nothing(issues_app, admins, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    client = issues_app.test_client()
    log_in(client, *EDITOR)
    token = csrf_token(client, "/admin/issues/2026-09-14")
    cases = [
        ("good@example.org, bad@@x, also bad", ["bad@@x", "also bad"]),
        ("", ["name at least one address"]),
        (",".join(f"r{n}@example.org" for n in range(11)), ["at most 10 addresses"]),
        ("x@example.org\r\nBcc: y@example.org", ["x@example.org"]),
    ]
    for addresses, words in cases:
        response = client.post("/admin/issues/2026-09-14/test",
                               data={"csrf_token": token, "addresses": addresses})
        page = response.get_data(as_text=True)
        assert response.status_code == 422, addresses
        assert "Nothing was sent" in page and all(w in page for w in words)
    assert smtp_sink.received == []
    # Without the form token: refused, nothing sent.
    response = client.post("/admin/issues/2026-09-14/test", data={"addresses": "a@example.org"})
    assert response.status_code == 400 and smtp_sink.received == []
    # Good addresses: one copy each, the subject marked.
    response = client.post("/admin/issues/2026-09-14/test",
                           data={"csrf_token": token, "addresses": "a@example.org, B@Example.org"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "[TEST] copy sent to a@example.org" in page and "copy sent to B@example.org" in page
    received = smtp_sink.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in received) == ["B@example.org", "a@example.org"]
    message = email.message_from_bytes(received[0].data, policy=email.policy.default)
    assert message["Subject"] == "[TEST] 九月刊 (2026-09-14)"
