"""The one error type the issue loader and renderer raise."""

from __future__ import annotations

from pathlib import Path


class IssueError(Exception):
    """An issue file cannot be loaded or rendered; the message is one line for the editor."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path.name}: {self.problem}")
