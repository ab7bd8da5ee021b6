"""The text/plain part, rendered from the Markdown token tree (never by stripping HTML).

It reads like a hand-made plain-text newsletter: headings on their own lines,
``  • `` bullets with indented continuation lines, numbered lists, visible link
URLs, tables as aligned columns (or records when too wide), and raw HTML reduced
to its text and link targets.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from service.issues.markdown import softbreak_text

BULLET = "•"
INDENT = "    "
RULE = "-" * 24
MAX_TABLE_WIDTH = 78
BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}


def display_width(text: str) -> int:
    """Columns a string takes in a monospace font: wide CJK characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _with_url(text: str, url: str) -> str:
    text = text.strip()
    if not url or url.startswith("#") or text == url or url == f"mailto:{text}":
        return text or url
    if not text:
        return url
    return f"{text} ({url})"


class _HtmlToText(HTMLParser):
    """Raw HTML → its text, with link targets and image alt texts kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.links: list[tuple[str, int]] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("script", "style"):
            self.skip += 1
        elif tag == "a":
            self.links.append((values.get("href", ""), len(self.out)))
        elif tag == "img":
            inside_link = bool(self.links)
            alt = values.get("alt", "").strip()
            self.out.append(alt if inside_link else _with_url(alt, values.get("src", "")))
        elif tag in BLOCK_TAGS:
            self.out.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "a":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            text = "".join(self.out[start:])
            del self.out[start:]
            self.out.append(_with_url(text, href))
        elif tag in BLOCK_TAGS and tag != "br":
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        self.close()
        while self.links:
            self.handle_endtag("a")
        lines = ("".join(self.out)).split("\n")
        return "\n".join(line.strip() for line in lines if line.strip())


def html_to_text(markup: str) -> str:
    parser = _HtmlToText()
    parser.feed(markup)
    return parser.text()


def _starts_line(out: list[str]) -> bool:
    before = "".join(out).rsplit("\n", 1)[-1]
    return not before.strip()


def _ends_line(tokens: list[Token], index: int) -> bool:
    rest = tokens[index + 1 : index + 2]
    return (
        not rest
        or rest[0].type in ("hardbreak", "softbreak")
        or (rest[0].type == "text" and not rest[0].content.strip() and index + 2 >= len(tokens))
    )


def render_inline(tokens: list[Token], url_below: bool = True) -> str:
    """Inline tokens as text. ``url_below`` puts a whole-line link's URL on the next line."""
    out: list[str] = []
    links: list[tuple[str, int]] = []
    html_buffer: list[str] = []
    for index, token in enumerate(tokens):
        kind = token.type
        if kind == "text" or kind == "code_inline":
            out.append(token.content)
        elif kind == "softbreak":
            out.append(softbreak_text(tokens, index, " "))
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link_open":
            links.append((str(token.attrGet("href") or ""), len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            text = "".join(out[start:])
            del out[start:]
            if (
                url_below
                and _starts_line(out)
                and _ends_line(tokens, index)
                and text.strip() != href
            ):
                # A link that is a whole line (a list item's title) gets its URL below it.
                out.append(f"{text.strip()}\n{href}" if text.strip() else href)
            else:
                out.append(_with_url(text, href))
        elif kind == "image":
            alt = "".join(child.content for child in token.children or ())
            out.append(alt if links else _with_url(alt, str(token.attrGet("src") or "")))
        elif kind == "html_inline":
            html_buffer.append(token.content)
            out.append(f"\x00html{len(html_buffer) - 1}\x00")
    text = "".join(out)
    if html_buffer:
        # Inline tags come one token each; the text between them belongs to them too.
        text = _render_inline_html(text, html_buffer)
    return text.strip(" ")


def _render_inline_html(text: str, fragments: list[str]) -> str:
    markup = re.sub(r"\x00html(\d+)\x00", lambda m: fragments[int(m.group(1))], _escape_text(text))
    # html_to_text drops blank lines and joins runs of spaces, as HTML would.
    return html_to_text(markup.replace("\n", "<br>"))


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(node: SyntaxTreeNode) -> list[str]:
    rows: list[list[str]] = []
    for row in (tr for section in node.children for tr in section.children):
        rows.append(
            [
                " ".join(
                    render_inline(cell.children[0].token.children or [], url_below=False).split()
                )
                if cell.children
                else ""
                for cell in row.children
            ]
        )
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    widths = [max(display_width(row[c]) for row in rows) for c in range(columns)]
    if sum(widths) + 3 * (columns - 1) > MAX_TABLE_WIDTH and len(rows) > 1:
        return _table_as_records(rows)
    lines = []
    for number, row in enumerate(rows):
        cells = [cell + " " * (widths[c] - display_width(cell)) for c, cell in enumerate(row)]
        lines.append(" | ".join(cells).rstrip())
        if number == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return lines


def _table_as_records(rows: list[list[str]]) -> list[str]:
    header, lines = rows[0], []
    for row in rows[1:]:
        if lines:
            lines.append("")
        for name, value in zip(header, row, strict=True):
            if value:
                lines.append(f"{name}: {value}" if name else value)
    return lines


def _list(node: SyntaxTreeNode, ordered: bool) -> list[str]:
    lines: list[str] = []
    number = int(node.attrs.get("start", 1)) if ordered else 0
    for item in node.children:
        marker = f"{number}." if ordered else BULLET
        number += 1
        body = render_blocks(item.children, tight=True)
        prefix = f"  {marker} "
        continuation = " " * len(prefix) if ordered else INDENT
        if not body:
            lines.append(prefix.rstrip())
            continue
        lines.append(prefix + body[0])
        lines.extend(continuation + line if line else "" for line in body[1:])
    return lines


def render_block(node: SyntaxTreeNode) -> list[str]:
    kind = node.type
    if kind == "paragraph" or kind == "heading":
        return render_inline(node.children[0].token.children or []).split("\n")
    if kind == "bullet_list":
        return _list(node, ordered=False)
    if kind == "ordered_list":
        return _list(node, ordered=True)
    if kind == "blockquote":
        return [("> " + line).rstrip() for line in render_blocks(node.children)]
    if kind in ("fence", "code_block"):
        return [INDENT + line for line in node.content.rstrip("\n").split("\n")]
    if kind == "hr":
        return [RULE]
    if kind == "table":
        return _table(node)
    if kind == "html_block":
        return html_to_text(node.content).split("\n")
    return render_blocks(node.children)


def render_blocks(nodes: list[SyntaxTreeNode], tight: bool = False) -> list[str]:
    """Blocks separated by a blank line; tight list items keep their paragraphs together."""
    lines: list[str] = []
    for node in nodes:
        block = [line.rstrip() for line in render_block(node)]
        while block and not block[-1]:
            block.pop()
        if not block:
            continue
        hidden_paragraph = tight and node.type == "paragraph" and node.hidden
        if lines and not hidden_paragraph and not (tight and node.type.endswith("_list")):
            lines.append("")
        lines.extend(block)
    return lines


def render_text(tokens: list[Token]) -> str:
    tree = SyntaxTreeNode(tokens)
    lines = render_blocks(tree.children)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
