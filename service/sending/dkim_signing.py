"""Optional DKIM signatures (dkimpy) on every message of a send.

The signed headers always include From, Subject, List-Unsubscribe and List-Unsubscribe-Post,
as RFC 8058 requires for one-click unsubscribe to be trusted. A signature is per message (the
body carries the recipient's own links), so signing costs an RSA operation per recipient.
"""

from __future__ import annotations

from pathlib import Path

import dkim

SIGNED_HEADERS = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To", b"List-Id",
    b"List-Unsubscribe", b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type",
)


class DkimSigner:
    def __init__(self, selector: str, domain: str, private_key: bytes) -> None:
        self.selector = selector.encode()
        self.domain = domain.encode()
        self.private_key = private_key

    @classmethod
    def from_settings(cls, selector: str, domain: str, key_file: str) -> DkimSigner | None:
        if not selector:
            return None
        if not key_file or not domain:
            raise ValueError("DKIM needs NEWSLETTER_DKIM_KEY_FILE and a domain besides the selector")
        return cls(selector, domain, Path(key_file).read_bytes())

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front."""
        signature = dkim.sign(
            message, self.selector, self.domain, self.private_key,
            include_headers=list(SIGNED_HEADERS), linesep=b"\r\n",
        )
        return signature + message
