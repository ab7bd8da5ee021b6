"""Make every link and image in an issue absolute.

Relative asset paths become ``<base>/assets/<path>`` (served by the archive);
links to other issues' ``.md`` files become their archive pages. Absolute URLs
are never touched, so every byte of a long query string survives.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import quote, unquote

HAS_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
RAW_HTML_URL_ATTR = re.compile(
    r"""(?P<lead>\b(?:href|src)\s*=\s*)(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s>"']+))""",
    re.IGNORECASE,
)


def is_absolute(url: str) -> bool:
    return not url or url.startswith(("#", "//")) or bool(HAS_SCHEME.match(url))


@dataclass
class LinkResolver:
    """Resolves URLs found in one issue. ``folder`` is the issue's folder inside the issues root."""

    base_url: str
    slug_for_stem: Callable[[str], str]
    folder: str = ""
    assets: set[str] = field(default_factory=set)

    def resolve(self, url: str) -> str:
        url = url.strip()
        if is_absolute(url):
            return url
        path, sep_q, rest = _split_path(url)
        decoded = unquote(path)
        if decoded.lower().endswith(".md"):
            stem = PurePosixPath(decoded).stem
            return f"{self.base_url}/issues/{quote(self.slug_for_stem(stem))}{sep_q}{rest}"
        asset = self._asset_path(decoded)
        if not asset:
            return url
        self.assets.add(asset)
        return f"{self.base_url}/assets/{quote(asset)}{sep_q}{rest}"

    def _asset_path(self, path: str) -> str:
        joined = path.lstrip("/") if path.startswith("/") else posixpath.join(self.folder, path)
        parts: list[str] = []
        for part in joined.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                # A path that climbs out of the issues folder (as Jekyll sites do for shared
                # images) is clamped to the issues folder itself.
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/".join(parts)

    def rewrite_raw_html(self, markup: str) -> str:
        """Resolve href/src attribute values inside a raw HTML fragment."""

        def replace(match: re.Match[str]) -> str:
            value = match.group("dq")
            quote_char = '"'
            if value is None:
                value, quote_char = match.group("sq"), "'"
            if value is None:
                value, quote_char = match.group("bare"), '"'
            original = html.unescape(value)
            resolved = self.resolve(original)
            if resolved == original:
                return match.group(0)
            return (
                f"{match.group('lead')}{quote_char}{html.escape(resolved, quote=True)}{quote_char}"
            )

        return RAW_HTML_URL_ATTR.sub(replace, markup)


def _split_path(url: str) -> tuple[str, str, str]:
    """Split 'path?query#frag' into (path, first separator, the rest)."""
    for index, char in enumerate(url):
        if char in "?#":
            return url[:index], char, url[index + 1 :]
    return url, "", ""
