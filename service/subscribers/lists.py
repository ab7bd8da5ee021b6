"""Mailing lists: create them, find them, count their subscribers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.subscribers.models import MailingList, Subscription

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
LANGUAGES = ("zh-CN", "en")
MAX_LIST_NAME = 200
# Characters no name can hold: C0/C1 controls (NUL cannot even be stored in PostgreSQL).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_list_text(text: str) -> str:
    """A list's name as one line of text: any characters, controls and line breaks aside.
    It is shown as text everywhere (pages escape it; emails take it as data)."""
    return " ".join(CONTROL.sub(" ", text).split())


class ListError(ValueError):
    """A list cannot be created or found; the message says why."""


def create_list(
    session: Session,
    slug: str,
    name: str,
    *,
    language: str = "zh-CN",
    double_opt_in: bool = True,
    description: str = "",
) -> MailingList:
    if not SLUG.match(slug):
        raise ListError(f"slug {slug!r} must be lower-case letters, digits and dashes")
    if language not in LANGUAGES:
        raise ListError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    name = clean_list_text(name)
    if not name:
        raise ListError("a list needs a name")
    if len(name) > MAX_LIST_NAME:
        raise ListError(f"a list's name has at most {MAX_LIST_NAME} characters, not {len(name)}")
    mailing_list = MailingList(
        slug=slug,
        name=name,
        language=language,
        double_opt_in=double_opt_in,
        description=CONTROL.sub(" ", description).strip(),
    )
    try:
        with session.begin_nested():
            session.add(mailing_list)
    except IntegrityError:
        raise ListError(f"a list with the slug {slug!r} exists already") from None
    return mailing_list


def get_list(session: Session, slug: str) -> MailingList:
    mailing_list = session.scalars(select(MailingList).where(MailingList.slug == slug)).one_or_none()
    if mailing_list is None:
        raise ListError(f"no list with the slug {slug!r} (see 'newsletter lists')")
    return mailing_list


@dataclass(frozen=True)
class ListCounts:
    mailing_list: MailingList
    counts: dict[str, int]  # subscription status → number


def list_counts(session: Session) -> list[ListCounts]:
    rows = session.execute(
        select(Subscription.list_id, Subscription.status, func.count()).group_by(
            Subscription.list_id, Subscription.status
        )
    ).all()
    by_list: dict[int, dict[str, int]] = {}
    for list_id, status, count in rows:
        by_list.setdefault(list_id, {})[status] = count
    lists = session.scalars(select(MailingList).order_by(MailingList.id))
    return [ListCounts(m, by_list.get(m.id, {})) for m in lists]


DEFAULT_SLUG = "news"


def ensure_default_list(session: Session, name: str, language: str) -> MailingList:
    """The first list, made on a fresh install so that the signup page works at once."""
    existing = session.scalars(select(MailingList).order_by(MailingList.id).limit(1)).one_or_none()
    if existing is not None:
        return existing
    return create_list(session, DEFAULT_SLUG, name, language=language if language in LANGUAGES else "en")
