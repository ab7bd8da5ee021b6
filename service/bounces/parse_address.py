"""Mail addresses in headers, report fields and free text."""

from __future__ import annotations

import re

# An addr-spec as bounces print it: ASCII local part, a domain with at least one dot. Text
# around it (CJK labels, angle brackets, "rfc822;") is left out by construction.
ADDRESS = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])"
    r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)"
)
# Local parts that answer for a mail system, never for a reader.
SYSTEM_LOCAL_PARTS = frozenset({
    "mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon", "abuse",
    "noreply", "no-reply", "donotreply", "do-not-reply", "root", "daemon", "hostmaster",
})


def normalise_address(value: str) -> str:
    """The lower-cased addr-spec in a field value such as 'rfc822; <A@Example.com>'; '' if none."""
    match = ADDRESS.search(value or "")
    return match.group(1).lower() if match else ""


def addresses_in(text: str) -> list[str]:
    """Every distinct address in ``text``, lower-cased, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in ADDRESS.finditer(text or ""):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


def is_system_address(address: str) -> bool:
    """True for MAILER-DAEMON, postmaster and their kind, which are never the failed reader."""
    local = address.partition("@")[0].lower()
    return local in SYSTEM_LOCAL_PARTS or local.startswith(("mailer-daemon", "postmaster"))
