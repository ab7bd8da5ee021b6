"""The web archive over HTTP: list, issue pages, feed and assets, with caching headers."""

from __future__ import annotations

import re
from dataclasses import replace

import feedparser

from service import create_app
from service.config import PROJECT_ROOT
from service.issues import load_issues
from tests.conftest import TEST_BASE_URL

SAMPLES = load_issues(PROJECT_ROOT / "issues").issues


def test_archive_lists_every_issue_newest_first(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/archive")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    linked = re.findall(r'href="/issues/([^"]+)"', page)
    assert linked == [issue.slug for issue in SAMPLES]
    assert "演讲实录" in page
    # The preheader shown is explicit where set, else the lead paragraph.
    assert "端侧大模型的量化新进展" in page and "大家好，今天想和大家分享" in page
    assert response.headers["Cache-Control"].startswith("public")


def test_issue_page_is_the_same_render_without_personal_links(client, app) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/issues/2026-09-14")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().by_slug("2026-09-14"))
    assert page == compiled.web_html(f"{TEST_BASE_URL}/issues/2026-09-14")
    assert "NPU" in page and 'style="' in page
    assert "/unsubscribe/" not in page and "%%" not in page
    assert f"{TEST_BASE_URL}/assets/images/edge-npu-banner.png" in page


def test_issue_page_answers_conditional_requests(client) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/issues/mcu-vision-talk")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=300"
    again = client.get("/issues/mcu-vision-talk", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""


def test_unknown_and_draft_issues_are_not_found(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    issues_dir = tmp_path / "issues"
    issues_dir.mkdir()
    (issues_dir / "2026-01-01.md").write_text("# 已发布 (2026-01-01)\n\n正文\n", encoding="utf-8")
    (issues_dir / "2026-02-01.md").write_text(
        "---\ndraft: true\n---\n# 草稿 (2026-02-01)\n\n正文\n", encoding="utf-8"
    )
    app = create_app(replace(config, issues_dir=issues_dir))
    client = app.test_client()
    assert client.get("/issues/2026-01-01").status_code == 200
    assert client.get("/issues/2026-02-01").status_code == 404
    assert client.get("/issues/no-such-issue").status_code == 404
    assert "草稿" not in client.get("/archive").get_data(as_text=True)
    app.extensions["db"].dispose()


def test_feed_is_valid_atom(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/feed.xml")
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.get_data())
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert [entry.link for entry in feed.entries] == [
        f"{TEST_BASE_URL}/issues/{issue.slug}" for issue in SAMPLES
    ]
    assert feed.entries[0].title == SAMPLES[0].title
    assert "MCU" in feed.entries[0].content[0].value


def test_assets_are_served_and_sources_are_not(client) -> None:  # type: ignore[no-untyped-def]
    image = client.get("/assets/images/edge-npu-banner.png")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.get_data().startswith(b"\x89PNG")
    assert "ETag" in image.headers
    assert client.get("/assets/qrcode.png").status_code == 200
    assert client.get("/assets/2026-09-14.md").status_code == 404
    assert client.get("/assets/../pyproject.toml").status_code == 404
    assert client.get("/assets/%2e%2e/pyproject.toml").status_code == 404
    assert client.get("/assets/images/missing.png").status_code == 404


def test_root_redirects_to_archive(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/archive")


def test_assets_are_streamed_with_validators_from_size_and_time(config, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil
    import types

    import service.archive.views as archive_views

    def no_hashing(*_args):  # type: ignore[no-untyped-def]
        raise AssertionError("an asset's bytes were hashed for a request")

    monkeypatch.setattr(archive_views, "hashlib", types.SimpleNamespace(sha256=no_hashing))

    issues_dir = tmp_path / "issues"
    shutil.copytree(PROJECT_ROOT / "issues", issues_dir)
    app = create_app(replace(config, issues_dir=issues_dir))
    client = app.test_client()
    path = issues_dir / "qrcode.png"
    try:
        first = client.get("/assets/qrcode.png")
        assert first.status_code == 200 and first.get_data() == path.read_bytes()
        etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        assert "public" in first.headers["Cache-Control"] and "max-age=" in first.headers["Cache-Control"]
        assert client.get("/assets/qrcode.png", headers={"If-None-Match": etag}).status_code == 304
        assert client.get("/assets/qrcode.png", headers={"If-Modified-Since": modified}).status_code == 304
        ranged = client.get("/assets/qrcode.png", headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 206 and ranged.get_data() == b"\x89PNG"
        # The same bytes with a new time are a new version: the tag follows size and time.
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + 60))
        touched = client.get("/assets/qrcode.png", headers={"If-None-Match": etag})
        assert touched.status_code == 200 and touched.headers["ETag"] != etag
    finally:
        app.extensions["db"].dispose()
