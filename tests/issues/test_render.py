"""Rendering rules, and snapshots of the sample issues' HTML and text."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.config import PROJECT_ROOT
from service.issues import load_issues, parse_issue
from service.issues.compile import IssueRenderer
from service.issues.personalise import recipient_values
from tests.conftest import TEST_BASE_URL
from tests.helpers import html_links

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
SAMPLE_VALUES = recipient_values(
    email="reader@example.com",
    name="读者 <b>&",
    unsubscribe_url=f"{TEST_BASE_URL}/unsubscribe/TOKEN-U",
    preferences_url=f"{TEST_BASE_URL}/preferences/TOKEN-P",
    web_url=f"{TEST_BASE_URL}/issues/SLUG",
)


@pytest.fixture(scope="module")
def renderer() -> IssueRenderer:
    return IssueRenderer(
        PROJECT_ROOT / "templates",
        TEST_BASE_URL,
        "嵌入式AI简报",
        assets_dir=PROJECT_ROOT / "issues",
    )


def compile_text(renderer: IssueRenderer, source: str, name: str = "2020-01-01.md"):  # type: ignore[no-untyped-def]
    return renderer.compile(parse_issue(source.encode(), Path(name)))


SAMPLES = load_issues(PROJECT_ROOT / "issues").issues


@pytest.mark.parametrize("issue", SAMPLES, ids=lambda i: i.slug)
def test_sample_issue_matches_snapshot(renderer: IssueRenderer, issue) -> None:  # type: ignore[no-untyped-def]
    collection = load_issues(PROJECT_ROOT / "issues")
    compiled = renderer.compile(issue, collection.slug_for_stem)
    html, text = compiled.personalise(SAMPLE_VALUES)
    for suffix, rendered in (("html", html), ("txt", text)):
        snapshot = SNAPSHOTS / f"{issue.slug}.{suffix}"
        if UPDATE or not snapshot.exists():
            snapshot.write_text(rendered, encoding="utf-8")
            if not UPDATE:
                pytest.fail(f"wrote missing snapshot {snapshot.name}; check it and commit it")
        assert rendered == snapshot.read_text(encoding="utf-8"), (
            f"{snapshot.name} differs; if the change is intended, rerun with UPDATE_SNAPSHOTS=1"
        )
    assert compiled.missing_assets == ()


def test_relative_links_become_absolute(renderer: IssueRenderer) -> None:
    compiled = compile_text(
        renderer,
        "# T\n\n![qr](../wechat_qrcode.jpg) [past](../embedded-ai-report/2020-04-04.md#top) "
        "[same](2020-04-04.md) <img src='images/a b.png'> [a](https://x.org/a?b=1*2&c=%3D)\n",
    )
    urls = html_links(compiled.html).urls
    assert f"{TEST_BASE_URL}/assets/wechat_qrcode.jpg" in urls
    assert f"{TEST_BASE_URL}/issues/2020-04-04#top" in urls
    assert f"{TEST_BASE_URL}/issues/2020-04-04" in urls
    assert f"{TEST_BASE_URL}/assets/images/a%20b.png" in urls
    assert "https://x.org/a?b=1*2&c=%3D" in urls
    assert set(compiled.missing_assets) == {"wechat_qrcode.jpg", "images/a b.png"}


def test_md_links_use_the_target_issues_slug(renderer: IssueRenderer) -> None:
    issue = parse_issue(b"# T 2020-01-01\n\n[old](old-file.md)\n", Path("x.md"))
    compiled = renderer.compile(issue, {"old-file": "custom-slug"}.get)
    assert f"{TEST_BASE_URL}/issues/custom-slug" in html_links(compiled.html).urls


def test_bare_urls_stop_at_cjk_text(renderer: IssueRenderer) -> None:
    compiled = compile_text(renderer, "# T\n\n见https://x.com/a?b=1。然后再看 http://y.org/z，好\n")
    urls = html_links(compiled.html).urls
    assert "https://x.com/a?b=1" in urls and "http://y.org/z" in urls
    assert "。然后再看" in compiled.html


def test_line_breaks_between_cjk_add_no_space(renderer: IssueRenderer) -> None:
    compiled = compile_text(renderer, "# T\n\n第一行\n第二行\nEnglish\nwords\n\n- 列表\n")
    assert "第一行第二行" in compiled.text
    assert "English words" in compiled.text
    assert "第一行第二行\nEnglish" in compiled.html


def test_hard_breaks_tables_and_raw_html_in_text(renderer: IssueRenderer) -> None:
    compiled = compile_text(
        renderer,
        "# T\n\n摘要：第一句。  \n第二句。\n\n| 名称 | 链接 |\n|---|---|\n| 甲 | [主页](https://a.org) |\n\n"
        '<div class="x">原始 <a href="https://b.org/p?q=1&amp;r=2">链接</a><br>第二行</div>\n\n'
        "1. 一\n   1. 一点一\n2. 二\n",
    )
    text = compiled.text
    assert "摘要：第一句。\n第二句。" in text
    assert "名称 | 链接" in text and "甲   | 主页 (https://a.org)" in text
    assert "原始 链接 (https://b.org/p?q=1&r=2)\n第二行" in text
    assert "  1. 一\n       1. 一点一\n  2. 二" in text
    assert "<br" in compiled.html and "<table" in compiled.html


def test_long_form_article_becomes_paragraphs(renderer: IssueRenderer) -> None:
    compiled = compile_text(
        renderer, "---\ntitle: 实录\n---\n第一段很长的文字。\n第二段也很长。\n第三段。\n"
    )
    assert compiled.html.count("<p ") >= 4  # three paragraphs and the date line
    assert "第一段很长的文字。\n\n第二段也很长。\n\n第三段。" in compiled.text


def test_personalise_escapes_subscriber_values_in_html_only(renderer: IssueRenderer) -> None:
    compiled = compile_text(renderer, "# T\n\n正文\n")
    html, text = compiled.personalise(SAMPLE_VALUES | {"email": "a&b<c>@example.com"})
    assert "a&amp;b&lt;c&gt;@example.com" in html and "a&b<c>@example.com" not in html
    assert (
        f"{TEST_BASE_URL}/unsubscribe/TOKEN-U" in html
        and f"{TEST_BASE_URL}/unsubscribe/TOKEN-U" in text
    )
    assert "%%" not in html and "%%" not in text


def test_an_editor_cannot_forge_a_slot(renderer: IssueRenderer) -> None:
    compiled = compile_text(renderer, "# T\n\n%%NL_email%% {{ slot.email }} %%email%%\n")
    html, _ = compiled.personalise(SAMPLE_VALUES)
    assert "%%NL_email%%" in html and "%%email%%" in html and "{{ slot.email }}" in html


def test_web_version_drops_the_recipient_footer(renderer: IssueRenderer) -> None:
    compiled = compile_text(renderer, "# T\n\n正文\n")
    web = compiled.web_html(f"{TEST_BASE_URL}/issues/x")
    assert "unsubscribe" not in web.lower() and "退订" not in web
    assert f"{TEST_BASE_URL}/archive" in web and "正文" in web


def test_media_queries_survive_inlining(renderer: IssueRenderer) -> None:
    compiled = compile_text(renderer, "# T\n\n正文\n")
    assert "@media only screen and (max-width: 620px)" in compiled.html
    assert "!important" in compiled.html
    assert 'style="' in compiled.html
