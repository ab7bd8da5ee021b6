"""Email addresses and names as subscribers give them: validated, normalised, made harmless.

Addresses go through email-validator. A plain ASCII address takes a fast path that checks the
local part here and asks email-validator about its domain once per domain, which keeps a
million-row import from spending most of its time re-validating ``gmail.com``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

MAX_NAME = 200
# RFC 5321 limits, checked by email-validator as well on its slow path.
MAX_LOCAL, MAX_ADDRESS = 64, 254
# A dot-atom local part made only of the characters every mail system accepts.
SIMPLE_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
# Characters that end a header line somewhere: CR, LF, NEL, the Unicode line/paragraph separators.
LINE_BREAKS = re.compile(r"[\r\n\x85\u2028\u2029]")
# RFC 2047 encoded words would let a name pose as something else once a client decodes it.
ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")


class InvalidAddress(ValueError):
    """The text is not an address mail can be delivered to; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    email: str  # as it will be stored and shown: local part as given, domain lower-cased
    key: str  # the uniqueness key: the whole address in lower case
    ascii_email: str | None  # the form for SMTP when the domain is internationalised


@lru_cache(maxsize=65536)
def _check_domain(domain: str) -> str:
    """The normalised domain, or InvalidAddress; cached because domains repeat."""
    try:
        return validate_email(f"x@{domain}", check_deliverability=False).domain
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None


def normalise_address(text: str) -> Address:
    text = text.strip()
    if not text:
        raise InvalidAddress("the address is empty")
    if "\ufffd" in text:
        raise InvalidAddress("it contains bytes that are not UTF-8 text")
    local, at, domain = text.rpartition("@")
    if (
        at
        and text.isascii()
        and len(text) <= MAX_ADDRESS
        and len(local) <= MAX_LOCAL
        and SIMPLE_LOCAL.match(local)
    ):
        normalised = f"{local}@{_check_domain(domain)}"
        return Address(normalised, normalised.lower(), normalised)
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return Address(valid.normalized, valid.normalized.lower(), valid.ascii_email)


def clean_name(name: str | None) -> str:
    """A display name that can go into a header or a page without changing either."""
    if not name:
        return ""
    # The common case costs one C-level scan: isprintable() is False for every character
    # the slow path below removes (categories C*, line and paragraph separators).
    if len(name) <= MAX_NAME and name.isprintable() and "=?" not in name and "  " not in name:
        return name.strip()
    name = LINE_BREAKS.sub(" ", name)
    name = "".join(
        ch for ch in name if unicodedata.category(ch)[0] != "C" or ch in "\t"
    )  # controls, format characters (bidi overrides), surrogates, unassigned
    name = ENCODED_WORD.sub("", name)
    name = " ".join(name.replace("=?", "").split())
    return name[:MAX_NAME]
