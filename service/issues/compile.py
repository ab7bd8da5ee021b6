"""Render an issue once into a compiled email: inline-styled HTML and plain text with slots.

Markdown → HTML (markdown-it), the Jinja2 layout, then premailer. This costs
milliseconds and runs once per issue version; :meth:`CompiledEmail.personalise`
is the per-recipient path and only joins strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jinja2
import premailer

from service.issues import markdown
from service.issues.errors import IssueError
from service.issues.links import LinkResolver
from service.issues.loader import Issue, slugify
from service.issues.personalise import SlotTemplate, html_values, make_tokens, recipient_values
from service.issues.plaintext import render_inline, render_text

RENDERER_VERSION = "1"
PREHEADER_MAX = 140
PERSONAL_START, PERSONAL_END = "<!--personal-->", "<!--/personal-->"
LABELS = {
    "zh-CN": {
        "view_in_browser": "在浏览器中查看",
        "archive": "往期回顾",
        "unsubscribe": "退订",
        "preferences": "订阅设置",
        "sent_to": "本邮件发送给",
        "transactional": "你收到这封邮件，是因为有人用这个地址在我们的网站上操作过。如果不是你，请忽略本邮件。",
    },
    "en": {
        "view_in_browser": "View in your browser",
        "archive": "Past issues",
        "unsubscribe": "Unsubscribe",
        "preferences": "Preferences",
        "sent_to": "This email was sent to",
        "transactional": "You received this email because this address was entered on our site. If it was not you, just ignore it.",
    },
}


@dataclass(frozen=True)
class CompiledEmail:
    """One issue rendered for email, with per-recipient slots still open."""

    slug: str
    title: str
    date: str
    subject: str
    preheader: str
    html: str
    text: str
    tokens: Mapping[str, str]
    content_hash: str
    assets: tuple[str, ...] = ()
    missing_assets: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict, compare=False)

    @cached_property
    def html_template(self) -> SlotTemplate:
        return SlotTemplate.split(self.html, self.tokens)

    @cached_property
    def text_template(self) -> SlotTemplate:
        return SlotTemplate.split(self.text, self.tokens)

    def personalise(self, values: Mapping[str, str]) -> tuple[str, str]:
        """(html, text) for one recipient: substitution into precomputed pieces, nothing more."""
        return self.html_template.fill(html_values(values)), self.text_template.fill(values)

    def web_html(self, web_url: str) -> str:
        """The archive's web version: the same render with the recipient-only footer cut out."""
        html = self.html
        while (start := html.find(PERSONAL_START)) != -1:
            end = html.find(PERSONAL_END, start)
            if end == -1:
                break
            html = html[:start] + html[end + len(PERSONAL_END) :]
        template = SlotTemplate.split(html, self.tokens)
        return template.fill(html_values(recipient_values(web_url=web_url)))


class IssueRenderer:
    """Holds what every render shares: the Markdown parser, the Jinja2 layout, the settings."""

    def __init__(
        self,
        templates_dir: Path,
        base_url: str,
        newsletter_name: str,
        language: str = "zh-CN",
        assets_dir: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.newsletter_name = newsletter_name
        self.language = language if language in LABELS else "en"
        self.assets_dir = assets_dir
        self.md = markdown.make_markdown()
        self.jinja = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.html_layout = self.jinja.get_template("email/issue.html")
        self.text_layout = self.jinja.get_template("email/issue.txt")
        layout_sources = b"".join(
            Path(t.filename).read_bytes() for t in (self.html_layout, self.text_layout)
        )
        settings = "|".join([RENDERER_VERSION, self.base_url, newsletter_name, self.language])
        self.fingerprint = hashlib.sha256(layout_sources + settings.encode()).hexdigest()[:16]
        logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)

    def content_hash(self, issue: Issue) -> str:
        """Identifies one render: the same source, layout and settings give the same email."""
        return hashlib.sha256(f"{issue.source_hash}:{self.fingerprint}".encode()).hexdigest()

    def compile_message(
        self, slug: str, subject: str, title: str, markdown_body: str, action_label: str = ""
    ) -> CompiledEmail:
        """A transactional email (confirmation, welcome) in the same layout, without the
        subscriber footer. ``action_label`` makes a button to the ``action_url`` slot."""
        issue = Issue(
            path=Path(f"{slug}.md"),
            slug=slug,
            title=title,
            date=dt.date.today(),
            subject=subject,
            body=markdown_body,
            source_hash=hashlib.sha256(markdown_body.encode()).hexdigest(),
        )
        return self.compile(issue, transactional=True, action_label=action_label)

    def compile(
        self,
        issue: Issue,
        slug_for_stem: Callable[[str], str] | None = None,
        transactional: bool = False,
        action_label: str = "",
    ) -> CompiledEmail:
        """Render an issue. Raises IssueError when any stage fails."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        resolver = LinkResolver(self.base_url, slug_for_stem or slugify)
        body = markdown.article_to_markdown(issue.body) if issue.long_form else issue.body
        try:
            tokens = markdown.parse(self.md, body, resolver)
            body_html = markdown.render_html(self.md, tokens)
            body_text = render_text(tokens)
        except Exception as exc:  # markdown-it is robust; a failure here is a bug worth naming
            raise IssueError(issue.path, f"cannot parse Markdown: {exc}") from exc
        preheader = issue.preheader or lead_paragraph(tokens)
        timings["markdown"] = time.perf_counter() - started

        content_hash = self.content_hash(issue)
        slots = make_tokens(content_hash[:10])
        context = {
            "newsletter_name": self.newsletter_name,
            "title": issue.title,
            "date": issue.date.isoformat(),
            "preheader": preheader,
            "language": self.language,
            "labels": LABELS[self.language],
            "archive_url": f"{self.base_url}/archive",
            "base_url": self.base_url,
            "slot": slots,
            "personal_start": PERSONAL_START,
            "personal_end": PERSONAL_END,
            "transactional": transactional,
            "action_label": action_label,
        }
        started = time.perf_counter()
        layout_html = self.html_layout.render(body=jinja2.filters.Markup(body_html), **context)
        text = self.text_layout.render(body=body_text, **context)
        timings["layout"] = time.perf_counter() - started

        started = time.perf_counter()
        html = inline_css(layout_html, issue.path)
        timings["premailer"] = time.perf_counter() - started

        missing = tuple(
            sorted(
                a
                for a in resolver.assets
                if self.assets_dir and not (self.assets_dir / a).is_file()
            )
        )
        return CompiledEmail(
            slug=issue.slug,
            title=issue.title,
            date=issue.date.isoformat(),
            subject=issue.subject,
            preheader=preheader,
            html=html,
            text=normalise_text(text),
            tokens=slots,
            content_hash=content_hash,
            assets=tuple(sorted(resolver.assets)),
            missing_assets=missing,
            timings=timings,
        )


def inline_css(html: str, path: Path) -> str:
    """premailer: CSS into style attributes; media queries stay in a style block."""
    try:
        inlined = premailer.Premailer(
            html,
            allow_network=False,
            disable_validation=True,
            strip_important=False,
            remove_classes=False,
            cssutils_logging_level=logging.CRITICAL,
        ).transform(pretty_print=False)
    except Exception as exc:  # lxml and cssutils raise many types on odd raw HTML or CSS
        raise IssueError(path, f"cannot inline CSS: {type(exc).__name__}: {exc}") from exc
    # MIME bodies end with a line break; ending with one here keeps parse-back exact.
    return inlined if inlined.endswith("\n") else inlined + "\n"


def lead_paragraph(tokens: list) -> str:
    """The first paragraph's plain text, for the preheader."""
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and index + 1 < len(tokens):
            text = " ".join(render_inline(tokens[index + 1].children or []).split())
            if text:
                return text if len(text) <= PREHEADER_MAX else text[: PREHEADER_MAX - 1] + "…"
    return ""


def normalise_text(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
