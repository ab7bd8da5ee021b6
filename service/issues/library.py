"""The issues folder as the app sees it: loaded when files change, each version compiled once.

Compiled emails are cached in memory and in the ``compiled_issue`` table, keyed by a hash
of the source, the layout and the settings, so every web worker and every send shares one
render per issue version.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from service.db import Database
from service.issues.compile import CompiledEmail, IssueRenderer
from service.issues.loader import Issue, IssueCollection, load_issues
from service.issues.models import CompiledIssue

MEMORY_CACHE_SIZE = 256


class IssueLibrary:
    def __init__(
        self, issues_dir: Path, renderer: IssueRenderer, db: Database | None, timezone: str = "UTC"
    ) -> None:
        self.issues_dir = issues_dir
        self.renderer = renderer
        self.db = db
        self.timezone = timezone
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._collection = IssueCollection([], [])
        self._compiled: dict[str, CompiledEmail] = {}

    def _folder_signature(self) -> tuple:
        entries = []
        for path in sorted(self.issues_dir.glob("*.md")):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(entries)

    def collection(self) -> IssueCollection:
        """Every issue, reloaded only when a file in the folder was added, removed or changed."""
        signature = self._folder_signature()
        with self._lock:
            if signature != self._signature:
                self._collection = load_issues(self.issues_dir, self.timezone)
                self._signature = signature
            return self._collection

    def published(self) -> list[Issue]:
        return [issue for issue in self.collection().issues if not issue.draft]

    def compiled(self, issue: Issue) -> CompiledEmail:
        key = f"{issue.source_hash}:{self.renderer.fingerprint}"
        cached = self._compiled.get(key)
        if cached is not None:
            return cached
        compiled = self._load_stored(issue) if self.db else None
        if compiled is None:
            compiled = self.renderer.compile(issue, self.collection().slug_for_stem)
            if self.db:
                self._store(compiled)
        if len(self._compiled) >= MEMORY_CACHE_SIZE:
            self._compiled.pop(next(iter(self._compiled)))
        self._compiled[key] = compiled
        return compiled

    def _load_stored(self, issue: Issue) -> CompiledEmail | None:
        assert self.db is not None
        with self.db.session() as session:
            row = session.get(CompiledIssue, self.renderer.content_hash(issue))
            if row is None:
                return None
            return CompiledEmail(
                slug=row.slug,
                title=row.title,
                date=row.issue_date,
                subject=row.subject,
                preheader=row.preheader,
                html=row.html,
                text=row.text,
                tokens=json.loads(row.tokens),
                content_hash=row.content_hash,
            )

    def _store(self, compiled: CompiledEmail) -> None:
        assert self.db is not None
        row = CompiledIssue(
            content_hash=compiled.content_hash,
            slug=compiled.slug,
            title=compiled.title,
            issue_date=compiled.date,
            subject=compiled.subject,
            preheader=compiled.preheader,
            html=compiled.html,
            text=compiled.text,
            tokens=json.dumps(dict(compiled.tokens)),
        )
        try:
            with self.db.session() as session:
                session.add(row)
        except IntegrityError:
            pass  # another worker stored the same render first; it is identical
