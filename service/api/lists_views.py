"""``/api/lists``: the mailing lists, read-only."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint, abort
from sqlalchemy import select

from service.api.auth import protect, require_role
from service.api.schemas import ListSchema
from service.subscribers.lists import SLUG
from service.subscribers.models import MailingList

blueprint = protect(Blueprint("lists", __name__, url_prefix="/api/lists",
                              description="Mailing lists (read-only)."))


def describe(mailing_list: MailingList) -> dict[str, Any]:
    return {"key": mailing_list.slug, "name": mailing_list.name,
            "description": mailing_list.description, "language": mailing_list.language,
            "double_opt_in": mailing_list.double_opt_in, "created_at": mailing_list.created_at}


@blueprint.get("")
@blueprint.response(200, ListSchema(many=True))
@require_role("editor")
def list_lists() -> list[dict[str, Any]]:
    """Every list, oldest first."""
    with current_app.extensions["db"].session() as session:
        return [describe(m) for m in session.scalars(select(MailingList).order_by(MailingList.id))]


@blueprint.get("/<string(maxlength=100):key>")
@blueprint.response(200, ListSchema)
@require_role("editor")
def get_list(key: str) -> dict[str, Any]:
    """One list by its key (slug)."""
    with current_app.extensions["db"].session() as session:
        mailing_list = session.scalars(
            select(MailingList).where(MailingList.slug == key)).one_or_none() if SLUG.match(key) else None
        if mailing_list is None:
            abort(404, message=f"no list {key!r}")
        return describe(mailing_list)
