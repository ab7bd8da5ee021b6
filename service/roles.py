"""The two roles, one check of them, and the view decorator both the console and the API
wrap their views in. What a refusal looks like (a login redirect, an HTML or a JSON 403)
is the caller's."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from service.admin.models import ROLES


def role_allows(held: str, needed: str) -> bool:
    """Whether ``held`` covers ``needed``: roles are ordered, and admin covers editor."""
    return ROLES.index(held) >= ROLES.index(needed)


def role_required(role: str, refusal: Callable[[str], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator: ``refusal(role)`` runs first; when it answers anything but None, that
    answer is the response (or it raises one) and the view does not run."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = refusal(role)
            return refused if refused is not None else view(*args, **kwargs)

        return wrapped

    return decorator
