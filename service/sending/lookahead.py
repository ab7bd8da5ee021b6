"""The messages of a batch, drafted ahead, their signatures made while earlier ones are sent.

With DKIM on, every message costs an RSA signature (about 0.3 ms through OpenSSL), and
OpenSSL works without the GIL. So the batch drafts messages ahead (fills them in, hashes
their headers and body: Python work, on the batch's own thread) a chunk at a time, and a
helper thread makes a whole chunk's signatures while the chunk before it goes out. The
signatures overlap the wire instead of adding to it, and the two threads hand over once a
chunk, not once a message: each hand-over costs a wake-up and a turn of the GIL.

Only the RSA and Ed25519 operations move. Every decision (halt, rate, lease, verdict) and
every SMTP command stays on the batch's own thread, so messages drafted and then not needed
(the batch stopped) are dropped: nothing was sent and nothing was written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from service.sending.dkim_signing import Unsigned
from service.sending.leases import Claimed

Message = tuple[str, bytes]  # the SMTP recipient and the message as it goes on the wire
# Messages signed per hand-over. Two chunks are drafted ahead: one signing, one being sent.
CHUNK = 16


@dataclass(frozen=True)
class Draft:
    address: str
    data: bytes
    unsigned: Unsigned | None = None  # set when DKIM is on: data is then not yet signed


@dataclass
class _Ahead:
    delivery_id: int
    draft: Draft | None = None
    failure: Exception | None = None  # drafting raised: it belongs to this row, not another
    chunk: Future[list[list[bytes]]] | None = None  # the signatures of this row's chunk
    place: int = 0  # this row's place among them

    def message(self) -> Message:
        if self.failure is not None:
            raise self.failure
        assert self.draft is not None
        unsigned = self.draft.unsigned
        if unsigned is None:
            return self.draft.address, self.draft.data
        signatures = self.chunk.result()[self.place] if self.chunk is not None else None
        return self.draft.address, unsigned.signed(signatures)


def _sign_all(unsigned: list[Unsigned]) -> list[list[bytes]]:
    return [message.private_operations() for message in unsigned]


class Lookahead:
    """Hands out the messages of ``rows`` in order, drafted ahead, their signatures made on
    ``pool`` a chunk at a time (no pool: each message built and signed when asked for)."""

    def __init__(self, draft: Callable[[Claimed], Draft], rows: Sequence[Claimed],
                 pool: ThreadPoolExecutor | None, chunk: int = CHUNK) -> None:
        self._draft = draft
        self._pool = pool
        self._chunk = chunk if pool is not None else 0
        self._rows = iter([row for row in rows if row.deliverable])
        self._ahead: deque[_Ahead] = deque()
        self._fill()

    def message(self, row: Claimed) -> Message:
        """``row``'s message; raises what building it raised."""
        if not self._ahead or self._ahead[0].delivery_id != row.delivery_id:
            self.close()  # asked out of turn (or with nothing ahead): this one now, in line
            self._chunk = 0
            return self._prepare(row).message()
        ahead = self._ahead.popleft()
        self._fill()
        return ahead.message()

    def close(self) -> None:
        for ahead in self._ahead:
            if ahead.chunk is not None:
                ahead.chunk.cancel()
        self._ahead.clear()

    def _fill(self) -> None:
        """Keep two chunks drafted ahead: the next chunk is drafted and handed to the pool
        when only the one being sent is left."""
        while self._chunk and len(self._ahead) <= self._chunk:
            drafted = [self._prepare(row) for row in _take(self._rows, self._chunk)]
            if not drafted:
                return
            signing = [a for a in drafted if a.draft is not None and a.draft.unsigned is not None]
            if signing:
                chunk = self._pool.submit(  # type: ignore[union-attr]
                    _sign_all, [a.draft.unsigned for a in signing])  # type: ignore[union-attr]
                for place, ahead in enumerate(signing):
                    ahead.chunk, ahead.place = chunk, place
            self._ahead.extend(drafted)

    def _prepare(self, row: Claimed) -> _Ahead:
        try:
            return _Ahead(row.delivery_id, draft=self._draft(row))
        except Exception as exc:  # noqa: BLE001 - raised again when this row is sent
            return _Ahead(row.delivery_id, failure=exc)


def _take(rows, count: int) -> list[Claimed]:  # type: ignore[no-untyped-def]
    taken = []
    for row in rows:
        taken.append(row)
        if len(taken) == count:
            break
    return taken
