"""The render store: each issue version renders once, shared through the database."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select

from service.config import PROJECT_ROOT
from service.db import Database
from service.issues.compile import IssueRenderer
from service.issues.library import IssueLibrary
from service.issues.models import CompiledIssue
from tests.conftest import TEST_BASE_URL


class CountingRenderer(IssueRenderer):
    """A real renderer that counts how often it renders."""

    calls = 0

    def compile(self, issue, slug_for_stem=None):  # type: ignore[no-untyped-def]
        CountingRenderer.calls += 1
        return super().compile(issue, slug_for_stem)


def _library(issues_dir: Path, db: Database) -> IssueLibrary:
    renderer = CountingRenderer(PROJECT_ROOT / "templates", TEST_BASE_URL, "Test")
    return IssueLibrary(issues_dir, renderer, db)


def test_each_version_renders_once_across_processes(database_url: str, tmp_path: Path) -> None:
    issues_dir = tmp_path / "issues"
    shutil.copytree(PROJECT_ROOT / "issues", issues_dir)
    db = Database(database_url)
    CountingRenderer.calls = 0
    first = _library(issues_dir, db)
    issue = first.collection().by_slug("2026-09-14")
    compiled = first.compiled(issue)
    first.compiled(issue)
    assert CountingRenderer.calls == 1

    # A second library stands for another web worker: it finds the stored render.
    second = _library(issues_dir, db)
    stored = second.compiled(second.collection().by_slug("2026-09-14"))
    assert CountingRenderer.calls == 1
    assert (stored.html, stored.text, stored.subject) == (
        compiled.html,
        compiled.text,
        compiled.subject,
    )

    # Editing the file makes a new version, rendered once more.
    path = issues_dir / "2026-09-14.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n新增一段。\n", encoding="utf-8")
    edited = second.compiled(second.collection().by_slug("2026-09-14"))
    assert CountingRenderer.calls == 2 and "新增一段" in edited.html
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(CompiledIssue)) == 2
    db.dispose()
