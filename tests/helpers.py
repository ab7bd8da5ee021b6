"""Small readers used by several tests: link targets in Markdown and in HTML."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from service.issues.markdown import CJK_CHAR

MARKDOWN_LINK = re.compile(r"\]\((?P<url>[^)\s]+)\)")
RAW_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
IMAGE_SOURCES = re.compile(
    r"""!\[[^\]]*\]\((?P<md>[^)\s]+)\)|\bsrc\s*=\s*["'](?P<raw>[^"']+)["']"""
)
BARE_URL = re.compile(r"https?://[^\s<>()\[\]\"']+")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.tags_without_style: list[str] = []
        self.tags: int = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("href", "src"):
            if values.get(name):
                self.urls.append(values[name] or "")
        if tag in ("p", "a", "h1", "h2", "h3", "li", "td", "th", "blockquote"):
            self.tags += 1
            if not values.get("style"):
                self.tags_without_style.append(tag)


def html_links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser


def source_urls(markdown: str) -> set[str]:
    """Every link target an editor wrote: Markdown links, raw HTML attributes, bare URLs."""
    urls = {m.group("url") for m in MARKDOWN_LINK.finditer(markdown)}
    urls |= set(RAW_ATTR.findall(markdown))
    for match in BARE_URL.finditer(markdown):
        url = match.group(0)
        cut = CJK_CHAR.search(url)
        url = url[: cut.start()] if cut else url
        if url not in urls:  # a bare URL's trailing punctuation is not part of it
            urls.add(url.rstrip(".,;:!?"))
    return urls


def is_absolute(url: str) -> bool:
    return url.startswith(("http://", "https://", "mailto:", "#"))


def image_sources(markdown: str) -> set[str]:
    return {m.group("md") or m.group("raw") for m in IMAGE_SOURCES.finditer(markdown)}
