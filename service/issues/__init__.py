"""Issues: load Markdown files and render each once into a compiled email.

This package knows nothing of subscribers or sending.
"""

from service.issues.errors import IssueError
from service.issues.loader import Issue, IssueCollection, load_issue, load_issues, parse_issue

__all__ = ["Issue", "IssueCollection", "IssueError", "load_issue", "load_issues", "parse_issue"]
