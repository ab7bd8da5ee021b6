"""The Atom feed (RFC 4287) of the published issues."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import render_template

from service.config import Config
from service.issues.compile import CompiledEmail
from service.issues.loader import Issue

FEED_ENTRIES = 30


def _timestamp(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).isoformat()


def render_feed(
    config: Config, issues: list[Issue], compile_issue: Callable[[Issue], CompiledEmail]
) -> str:
    entries = []
    for issue in issues[:FEED_ENTRIES]:
        compiled = compile_issue(issue)
        url = f"{config.base_url}/issues/{issue.slug}"
        entries.append(
            {
                "title": issue.title,
                "url": url,
                "updated": _timestamp(issue.date),
                "summary": compiled.preheader,
                "content": compiled.web_html(url),
            }
        )
    updated = _timestamp(issues[0].date) if issues else _timestamp(dt.date(2000, 1, 1))
    return render_template("site/feed.xml", site=config, entries=entries, updated=updated)
