"""The issues pages under ``/admin/issues``: the list of issues with their state. Thin: the
rows come from service.admin.issues_state."""

from __future__ import annotations

from flask import current_app, render_template

from service.admin import auth
from service.admin.issues_state import list_issue_rows
from service.admin.views import blueprint


@blueprint.get("/issues")
@auth.require_role("editor")
def issues() -> str:
    found = current_app.extensions["issues"].collection().issues
    with current_app.extensions["db"].session() as session:
        rows = list_issue_rows(session, found)
    return render_template("admin/issues.html", rows=rows)
