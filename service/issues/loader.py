"""Load newsletter issue files: Markdown with optional YAML front matter.

A bad file raises :class:`IssueError` with one line naming the file and the
problem; :func:`load_issues` collects those errors so the other issues still load.
A file that loads but needed a guess (no title anywhere) carries a warning that the
commands print.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from service.issues.errors import IssueError

FRONT_MATTER_FENCE = "---"
# Keys an editor may set; anything else (Jekyll's ``layout``, ``permalink`` ...) is ignored.
KNOWN_KEYS = {"title", "date", "slug", "subject", "preheader", "send_at", "draft", "format"}
DATE_IN_TEXT = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})")
H1_LINE = re.compile(r"^ {0,3}#(?!#)[ \t]+(.+?)[ \t#]*$")
SLUG_UNSAFE = re.compile(r"[^\w-]+")
# C0 controls other than tab, newline, carriage return and form feed mean a corrupt file.
MAX_TITLE_LINE = 120
# A title made from a file's first line is cut here, at a word boundary where there is one.
FALLBACK_TITLE_MAX = 60
LINE_MARKUP = re.compile(r"!\[[^\]]*\]\([^)]*\)|<[^>]*>")
LINK_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)")
LEADING_MARKERS = re.compile(r"^(?:\s*(?:[#>*+|-]+|\d+[.)])\s+)+")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Issue:
    """One newsletter issue as the editor wrote it, before any rendering."""

    path: Path
    slug: str
    title: str
    date: dt.date
    subject: str
    body: str  # Markdown without front matter (and without the title H1 when it gave the title)
    preheader: str | None = None  # explicit; else the renderer takes the lead paragraph
    send_at: dt.datetime | None = None
    draft: bool = False
    long_form: bool = False
    source_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # guesses the loader made, for the editor to see

    @property
    def stem(self) -> str:
        return self.path.stem


def slugify(text: str) -> str:
    """A URL-safe slug that keeps CJK characters (Flask routes handle Unicode)."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return SLUG_UNSAFE.sub("-", text).strip("-_")


def decode_source(raw: bytes, path: Path) -> str:
    if not raw.strip():
        raise IssueError(path, "empty file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IssueError(
            path, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = CONTROL_CHARS.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise IssueError(path, f"control character U+{ord(bad.group()):04X} at line {line}")
    return text


def split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str, int]:
    """Return (front matter, body, number of lines the front matter took)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        return {}, text, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in (FRONT_MATTER_FENCE, "..."):
            break
    else:
        raise IssueError(path, "front matter opened with '---' on line 1 is never closed")
    raw = "\n".join(lines[1:end])
    try:
        data = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise IssueError(path, f"invalid front matter{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise IssueError(path, "front matter must be a mapping of keys to values")
    return data, "\n".join(lines[end + 1 :]), end + 1


def _as_date(value: Any, path: Path, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    match = DATE_IN_TEXT.search(str(value))
    if match:
        try:
            return dt.date(*(int(g) for g in match.groups()))
        except ValueError:
            pass
    raise IssueError(path, f"front matter '{key}' is not a date: {value!r}")


def _as_datetime(value: Any, path: Path, tz: dt.tzinfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise IssueError(
                path, f"front matter 'send_at' is not an ISO 8601 date-time: {value!r}"
            ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _text(value: Any, path: Path, key: str) -> str:
    if isinstance(value, (dict, list)):
        raise IssueError(path, f"front matter '{key}' must be text, not a {type(value).__name__}")
    text = " ".join(str(value).split())
    if not text:
        raise IssueError(path, f"front matter '{key}' is empty")
    return text


def _date_from(text: str) -> dt.date | None:
    match = DATE_IN_TEXT.search(text)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _take_title_heading(body: str) -> tuple[str | None, str]:
    """Find a leading H1 (after blank lines) and return (its text, body without it)."""
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        match = H1_LINE.match(line)
        if match:
            return match.group(1).strip(), "\n".join(lines[:index] + lines[index + 1 :])
        return None, body
    return None, body


def _take_title_line(body: str) -> tuple[str | None, str]:
    """A plain-text issue's title: a short first line followed by a blank line."""
    lines = body.lstrip("\n").split("\n")
    if len(lines) >= 3 and lines[0].strip() and not lines[1].strip():
        candidate = " ".join(lines[0].split())
        if len(candidate) <= MAX_TITLE_LINE and not candidate.startswith(("<", "[", "!", "|")):
            return candidate, "\n".join(lines[2:])
    return None, body


def _fallback_title(body: str) -> str:
    """A title for a file that names none: its first line with text, without markup, cut at a
    sensible length; "" when no line has any text."""
    for line in body.split("\n"):
        text = LINK_MARKUP.sub(r"\1", LINE_MARKUP.sub(" ", line))
        text = LEADING_MARKERS.sub("", text)
        text = " ".join(text.replace("*", " ").replace("`", " ").split()).strip(" _~=-|")
        if text:
            return _cut(text, FALLBACK_TITLE_MAX)
    return ""


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:，。；：、") + "…"


def _looks_long_form(body: str) -> bool:
    """True for prose with no Markdown structure: one paragraph per line, no blank lines."""
    lines = [line for line in body.split("\n") if line.strip()]
    if len(lines) < 2:
        return False
    structure = re.compile(r"^\s*([#>*+-]|\d+[.)]\s|\||```|<|!\[)")
    if any(structure.match(line) for line in lines) or "](" in body:
        return False
    blank_separated = body.count("\n\n") >= len(lines) - 1
    return not blank_separated


def parse_issue(raw: bytes, path: Path, tz: dt.tzinfo = dt.UTC) -> Issue:
    """Parse one issue file's bytes. Raises IssueError with a one-line reason."""
    text = decode_source(raw, path)
    meta, body, _ = split_front_matter(text, path)
    meta = {str(k).lower(): v for k, v in meta.items()}
    heading, body_without_heading = _take_title_heading(body)
    warnings: list[str] = []

    if meta.get("title") is not None:
        title = _text(meta["title"], path, "title")
        if heading is not None and " ".join(heading.split()) == title:
            body = body_without_heading
    elif heading is not None:
        title, body = " ".join(heading.split()), body_without_heading
    else:
        first_line, rest = _take_title_line(body)
        if first_line is not None:
            title, body = first_line, rest
        else:
            # Keep the whole body: the first line is shown as the start of the text too.
            title = _fallback_title(body)
            source = "its first line" if title else "the file name"
            title = title or _cut(" ".join(path.stem.split()), FALLBACK_TITLE_MAX) or "untitled"
            warnings.append(
                f"{path.name}: no title (no 'title:' in the front matter, no '# Title', no short"
                f" first line followed by a blank line); using {source}: {title!r}"
            )

    if meta.get("date") is not None:
        date = _as_date(meta["date"], path, "date")
    else:
        date = _date_from(title) or _date_from(path.stem)
        if date is None:
            raise IssueError(
                path, "no date: add 'date:' to the front matter, the title or the file name"
            )

    if not body.strip():
        raise IssueError(path, "the issue has a title but no content")

    slug = slugify(_text(meta["slug"], path, "slug")) if meta.get("slug") else slugify(path.stem)
    if not slug:
        raise IssueError(path, "cannot make a URL slug from the file name; set 'slug:'")
    form = str(meta.get("format", "auto")).lower()
    if form not in ("auto", "markdown", "article"):
        raise IssueError(path, f"front matter 'format' must be markdown or article, not {form!r}")

    return Issue(
        path=path,
        slug=slug,
        title=title,
        date=date,
        subject=_text(meta["subject"], path, "subject") if meta.get("subject") else title,
        body=body,
        preheader=_text(meta["preheader"], path, "preheader") if meta.get("preheader") else None,
        send_at=_as_datetime(meta["send_at"], path, tz) if meta.get("send_at") else None,
        draft=bool(meta.get("draft", False)),
        long_form=form == "article" or (form == "auto" and _looks_long_form(body)),
        source_hash=hashlib.sha256(raw).hexdigest(),
        extra={k: v for k, v in meta.items() if k not in KNOWN_KEYS},
        warnings=tuple(warnings),
    )


def load_issue(path: Path, timezone: str = "UTC") -> Issue:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IssueError(path, f"cannot read: {exc.strerror or exc}") from None
    return parse_issue(raw, path, ZoneInfo(timezone))


@dataclass
class IssueCollection:
    """Every issue in a folder, newest first, plus the files that failed to load."""

    issues: list[Issue]
    errors: list[IssueError]

    @property
    def warnings(self) -> list[str]:
        return [warning for issue in self.issues for warning in issue.warnings]

    def by_slug(self, slug: str) -> Issue | None:
        return next((issue for issue in self.issues if issue.slug == slug), None)

    def slug_for_stem(self, stem: str) -> str:
        """The archive slug of the issue whose file is ``<stem>.md`` (or the stem's slug)."""
        for issue in self.issues:
            if issue.stem == stem:
                return issue.slug
        return slugify(stem)


def load_issues(directory: Path, timezone: str = "UTC") -> IssueCollection:
    issues: list[Issue] = []
    errors: list[IssueError] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.md")):
        try:
            issue = load_issue(path, timezone)
        except IssueError as exc:
            errors.append(exc)
            continue
        if issue.slug in seen:
            errors.append(
                IssueError(path, f"slug '{issue.slug}' is already used by {seen[issue.slug].name}")
            )
            continue
        seen[issue.slug] = path
        issues.append(issue)
    issues.sort(key=lambda issue: (issue.date, issue.slug), reverse=True)
    return IssueCollection(issues, errors)
