"""What the preview page shows of one issue: the real message a reader gets (assembled and
signed as a send does it), split into its headers, HTML and text, with the warnings an editor
should see before sending."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from service.config import Config
from service.db import Database
from service.issues.compile import CompiledEmail
from service.issues.errors import IssueError
from service.issues.library import IssueLibrary
from service.issues.loader import Issue, IssueCollection, slugify
from service.sending.preview import preview_message
from service.subscribers.links import LinkBuilder

# The reader the preview is made for: no subscriber, so the links in it lead to a page that
# says the subscription does not exist rather than to anyone's preferences.
SAMPLE_READER = "reader@example.com"
# The headers worth a look, in this order; the rest follow.
SHOWN_FIRST = ("Subject", "From", "Reply-To", "To", "List-Id", "List-Unsubscribe",
               "List-Unsubscribe-Post", "Date", "Message-ID")
HREF = re.compile(r"""\bhref\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


class PreviewUnavailable(Exception):
    """The issue cannot be shown: no such file, or a file that does not load or render."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IssuePreview:
    issue: Issue
    compiled: CompiledEmail
    headers: list[tuple[str, str]]  # decoded for reading
    html: str
    text: str
    warnings: list[str]


def find_issue(library: IssueLibrary, slug: str) -> Issue:
    """The issue with ``slug``, or PreviewUnavailable naming what is wrong with its file."""
    collection = library.collection()
    issue = collection.by_slug(slug)
    if issue is not None:
        return issue
    for error in collection.errors:
        if slugify(error.path.stem) == slug:
            raise PreviewUnavailable(str(error), 422)
    raise PreviewUnavailable(f"there is no issue {slug!r} in the issues folder", 404)


def build_preview(config: Config, db: Database, library: IssueLibrary, links: LinkBuilder,
                  slug: str) -> IssuePreview:
    issue = find_issue(library, slug)
    try:
        compiled = library.compiled(issue)
    except IssueError as exc:
        raise PreviewUnavailable(str(exc), 422) from None
    try:
        raw = preview_message(config, db, links, compiled, SAMPLE_READER)
    except ValueError as exc:  # a From or Reply-To setting that cannot be a header
        raise PreviewUnavailable(f"cannot assemble the message: {exc}", 422) from None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    return IssuePreview(
        issue=issue,
        compiled=compiled,
        headers=_headers(message),
        html=html_part.get_content() if html_part is not None else "",
        text=text_part.get_content() if text_part is not None else "",
        warnings=render_warnings(issue, compiled, library.collection(), config.base_url),
    )


def _headers(message: email.message.EmailMessage) -> list[tuple[str, str]]:
    pairs = [(name, str(value)) for name, value in message.items()
             if not name.lower().startswith(("content-", "mime-"))]
    order = {name.lower(): index for index, name in enumerate(SHOWN_FIRST)}
    return sorted(pairs, key=lambda pair: order.get(pair[0].lower(), len(order)))


def render_warnings(issue: Issue, compiled: CompiledEmail, collection: IssueCollection,
                    base_url: str) -> list[str]:
    """What the loader guessed, assets that are not there, and links to past issues that
    lead nowhere: to no issue, or to a draft the archive does not show."""
    warnings = list(issue.warnings)
    if issue.draft:
        warnings.append(f"{issue.path.name} is a draft: it can be test-sent, not sent to a list")
    warnings.extend(f"{issue.path.name}: image or file not found in the issues folder: {asset}"
                    for asset in compiled.missing_assets)
    prefix = base_url.rstrip("/") + "/issues/"
    reported: set[str] = set()
    for href in HREF.findall(compiled.html):
        if not href.startswith(prefix):
            continue
        slug = unquote(href[len(prefix):].split("?", 1)[0].split("#", 1)[0]).strip("/")
        if not slug or slug == issue.slug or slug in reported:
            continue
        target = collection.by_slug(slug)
        if target is None:
            reported.add(slug)
            warnings.append(f"{issue.path.name}: broken link to a past issue: {href}"
                            f" (no issue {slug!r} in the issues folder)")
        elif target.draft:
            reported.add(slug)
            warnings.append(f"{issue.path.name}: link to {Path(target.path).name}, a draft"
                            f" the archive does not show: {href}")
    return warnings
