"""The messages of a batch, each one built while the one before it is on the wire.

With DKIM on, every message costs an RSA signature (about 0.3 ms through OpenSSL), and
OpenSSL works without the GIL. So the next message is drafted (filled in, its headers
canonicalised and hashed: Python work, on the batch's thread) before the current one goes
out, and its private-key operation runs on a helper thread while the batch waits for the
SMTP server's replies. The signature overlaps the wire instead of adding to it.

Only the RSA and Ed25519 operations move. Every decision (halt, rate, lease, verdict) and
every SMTP command stays on the batch's own thread, so a message drafted and then not needed
(the batch stopped) is dropped: nothing was sent and nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from service.sending.dkim_signing import Unsigned
from service.sending.leases import Claimed

Message = tuple[str, bytes]  # the SMTP recipient and the message as it goes on the wire


@dataclass(frozen=True)
class Draft:
    address: str
    data: bytes
    unsigned: Unsigned | None = None  # set when DKIM is on: data is then not yet signed


@dataclass
class _Ahead:
    delivery_id: int
    draft: Draft | None = None
    failure: Exception | None = None  # drafting raised: it belongs to this row, not the last
    signatures: Future[list[bytes]] | None = None

    def message(self) -> Message:
        if self.failure is not None:
            raise self.failure
        assert self.draft is not None
        unsigned = self.draft.unsigned
        if unsigned is None:
            return self.draft.address, self.draft.data
        signatures = self.signatures.result() if self.signatures is not None else None
        return self.draft.address, unsigned.signed(signatures)


class Lookahead:
    """Hands out the messages of ``rows`` in order, one drafted ahead, its signatures made on
    ``pool`` (none: signed in line)."""

    def __init__(self, draft: Callable[[Claimed], Draft], rows: Sequence[Claimed],
                 pool: ThreadPoolExecutor | None) -> None:
        self._draft = draft
        self._pool = pool
        self._queue = iter([row for row in rows if row.deliverable])
        self._ahead: _Ahead | None = None
        self._start_next()

    def message(self, row: Claimed) -> Message:
        """``row``'s message; raises what building it raised."""
        ahead, self._ahead = self._ahead, None
        if ahead is None or ahead.delivery_id != row.delivery_id:
            self._drop(ahead)  # asked out of order: build this one now, nothing ahead
            ahead = self._prepare(row)
        else:
            self._start_next()
        return ahead.message()

    def close(self) -> None:
        self._drop(self._ahead)
        self._ahead = None

    def _start_next(self) -> None:
        row = next(self._queue, None)
        if row is not None:
            self._ahead = self._prepare(row)
            if self._pool is not None and self._ahead.draft and self._ahead.draft.unsigned:
                self._ahead.signatures = self._pool.submit(
                    self._ahead.draft.unsigned.private_operations)

    def _prepare(self, row: Claimed) -> _Ahead:
        try:
            return _Ahead(row.delivery_id, draft=self._draft(row))
        except Exception as exc:  # noqa: BLE001 - raised again when this row is sent
            return _Ahead(row.delivery_id, failure=exc)

    @staticmethod
    def _drop(ahead: _Ahead | None) -> None:
        if ahead is not None and ahead.signatures is not None:
            ahead.signatures.cancel()
