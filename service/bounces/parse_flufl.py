"""flufl.bounce as a last resort for finding failed addresses, fenced in.

Its detectors know a few old formats (AOL, GroupWise, Netscape, SMTP32, ...) that the generic
text reader may miss. It is called only when nothing else named a recipient, and nothing it
does may escape: it raises on some malformed input, so every call is wrapped.
"""

from __future__ import annotations

import logging
from email.message import Message

from flufl.bounce import all_failures

from service.bounces.parse_address import normalise_address

# flufl.bounce logs a traceback for every detector that trips over malformed input before
# re-raising, and an INFO line per detector per message; the exception is handled here, so
# its records would only be noise in the service's logs.
logging.getLogger("flufl.bounce").propagate = False
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())


def flufl_addresses(message: Message) -> list[str]:
    """Addresses flufl.bounce believes failed, permanent ones first, sorted; [] on any error."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - third-party detectors raise on malformed input
        return []
    found: list[str] = []
    for group in (permanent, temporary):
        for value in sorted(group):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            address = normalise_address(text)
            if address and address not in found:
                found.append(address)
    return found
