"""The real newsletter's issues in ../shared/seeds render right (skipped when that folder is absent)."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest
from markdown_it.tree import SyntaxTreeNode

from service.config import PROJECT_ROOT, load_config
from service.issues import load_issue
from service.issues.compile import IssueRenderer
from service.issues.plaintext import render_inline
from service.sending.assembly import MessageTemplate, Recipient
from service.sending.preview import personal_values
from service.subscribers.links import LinkBuilder
from service.tokens import TokenSigner
from tests.conftest import SEEDS_DIR, TEST_BASE_URL
from tests.helpers import html_links, image_sources, is_absolute, source_urls

SEED_FILES = sorted(SEEDS_DIR.glob("*.txt")) if SEEDS_DIR.is_dir() else []
pytestmark = pytest.mark.skipif(not SEED_FILES, reason="../shared/seeds is absent")


@pytest.fixture(scope="module")
def renderer() -> IssueRenderer:
    return IssueRenderer(PROJECT_ROOT / "templates", TEST_BASE_URL, "嵌入式AI简报")


@pytest.fixture(scope="module")
def config():  # type: ignore[no-untyped-def]
    return load_config(environ={}, env="development", base_url=TEST_BASE_URL,
                       secret_key="seed-test-key")


LINKS = LinkBuilder(TEST_BASE_URL, TokenSigner("seed-test-key"))


def _render(renderer: IssueRenderer, config, path: Path):  # type: ignore[no-untyped-def]
    issue = load_issue(path)
    compiled = renderer.compile(issue)
    html, text = compiled.personalise(personal_values(LINKS, compiled, "reader@example.com"))
    return issue, compiled, html, text


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_no_markdown_syntax_leaks_into_html(renderer, config, path: Path) -> None:
    _, _, html, _ = _render(renderer, config, path)
    assert "](" not in html
    assert "**" not in html
    assert not re.search(r"^#{1,6} ", html, re.MULTILINE)


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_every_link_target_survives_byte_for_byte(renderer, config, path: Path) -> None:
    issue, _, html, text = _render(renderer, config, path)
    targets = set(html_links(html).urls)
    absolute = {url for url in source_urls(issue.body) if is_absolute(url)}
    assert absolute, "the seed has links"
    missing = sorted(url for url in absolute if url not in targets)
    assert missing == []
    # Link targets are visible in the text part; image sources only where they stand alone.
    for url in absolute - image_sources(issue.body) - {u for u in absolute if u.startswith("#")}:
        assert url in text, f"{url} is not visible in the text part"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_relative_paths_are_gone(renderer, config, path: Path) -> None:
    _, _, html, _ = _render(renderer, config, path)
    relative = [url for url in html_links(html).urls if not is_absolute(url)]
    assert relative == []
    assert "../" not in html


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_css_is_inlined(renderer, config, path: Path) -> None:
    _, _, html, _ = _render(renderer, config, path)
    links = html_links(html)
    assert links.tags > 20
    assert links.tags_without_style == []
    # Only the media queries stay in a style block, for clients that honour them.
    for block in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S):
        assert block.strip().startswith("@media")


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_eml_parses_back_with_the_same_cjk_text(renderer, config, path: Path) -> None:
    issue = load_issue(path)
    compiled = renderer.compile(issue)
    values = personal_values(LINKS, compiled, "读者@example.com", "张三", subscriber_id=7)
    html, text = compiled.personalise(values)
    template = MessageTemplate(compiled, mail_from=config.mail_from)
    raw = template.render(Recipient("读者@example.com", "张三", "<nl.1.1.0@example.org>", values))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == compiled.subject
    assert str(parsed["To"]) == "张三 <读者@example.com>"
    assert parsed["List-Unsubscribe"] == f"<{values['unsubscribe_url']}>"
    body_text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    body_html = parsed.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert body_text == text and body_html == html
    assert "嵌入式" in body_text


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_text_part_has_the_same_headings(renderer, config, path: Path) -> None:
    issue, compiled, _, text = _render(renderer, config, path)
    tokens = renderer.md.parse(issue.body, {})
    headings = [
        " ".join(render_inline(node.children[0].token.children or []).split("\n")[0].split())
        for node in SyntaxTreeNode(tokens).walk()
        if node.type == "heading"
    ]
    lines = {line.strip() for line in text.split("\n")}
    assert all(heading in lines for heading in headings), headings
    assert text.startswith(compiled.title + "\n")
