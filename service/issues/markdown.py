"""Markdown → token tree → HTML, with markdown-it-py.

CommonMark plus tables and strikethrough, raw HTML passed through, hard breaks
honoured, bare URLs linked. One parse feeds both the HTML and the text part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from service.issues.links import LinkResolver

# Ideographs, kana, hangul, and full-width punctuation: text that needs no spaces
# between lines, and that never belongs to a bare URL.
CJK_CHAR = re.compile(
    r"[\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
)


def is_cjk(char: str) -> bool:
    return bool(char) and CJK_CHAR.match(char) is not None


def _trim_linkified_urls(state: StateCore) -> None:
    """Cut a bare URL at the first CJK character: '见https://x.com/a。然后' links only the URL."""
    md = state.md
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children = block.children
        index = 0
        while index < len(children):
            token = children[index]
            if token.type == "link_open" and token.markup == "linkify":
                text_token = children[index + 1]
                cut = CJK_CHAR.search(text_token.content)
                if cut and cut.start() > 0:
                    url, rest = text_token.content[: cut.start()], text_token.content[cut.start() :]
                    text_token.content = url
                    full = url if re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I) else "http://" + url
                    token.attrSet("href", md.normalizeLink(full))
                    tail = Token("text", "", 0)
                    tail.content = rest
                    children.insert(index + 3, tail)
            index += 1


def _resolve_links(state: StateCore) -> None:
    resolver: LinkResolver | None = state.env.get("resolver")
    if resolver is None:
        return
    for block in state.tokens:
        if block.type == "html_block":
            block.content = resolver.rewrite_raw_html(block.content)
        for token in block.children or ():
            if token.type == "link_open":
                token.attrSet("href", resolver.resolve(str(token.attrGet("href") or "")))
            elif token.type == "image":
                token.attrSet("src", resolver.resolve(str(token.attrGet("src") or "")))
            elif token.type == "html_inline":
                token.content = resolver.rewrite_raw_html(token.content)


def _render_softbreak(
    self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return softbreak_text(tokens, idx, "\n")


def softbreak_text(tokens: Sequence[Token], idx: int, otherwise: str) -> str:
    """A line break inside a paragraph joins CJK text with nothing (a space would show)."""
    before = tokens[idx - 1].content[-1:] if idx > 0 and tokens[idx - 1].type == "text" else ""
    after = (
        tokens[idx + 1].content[:1]
        if idx + 1 < len(tokens) and tokens[idx + 1].type == "text"
        else ""
    )
    if is_cjk(before) and is_cjk(after):
        return ""
    return otherwise


def make_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": True, "typographer": False})
    md.enable(["table", "strikethrough", "linkify"])
    md.core.ruler.after("linkify", "trim_linkified_urls", _trim_linkified_urls)
    md.core.ruler.push("resolve_links", _resolve_links)
    md.add_render_rule("softbreak", _render_softbreak)
    return md


def article_to_markdown(body: str) -> str:
    """A long-form article with one paragraph per line: make every line its own paragraph."""
    lines = [line.strip() for line in body.split("\n") if line.strip()]
    return "\n\n".join(lines) + "\n"


def parse(md: MarkdownIt, body: str, resolver: LinkResolver | None) -> list[Token]:
    return md.parse(body, {"resolver": resolver})


def render_html(md: MarkdownIt, tokens: list[Token]) -> str:
    return md.renderer.render(tokens, md.options, {})
