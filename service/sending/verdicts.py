"""Whose fault a refusal is, when one reply cannot tell.

A refusal of the message after DATA, or a refusal at RCPT that speaks of policy (a 5.7.x
status, relaying, the sender), may be about the reader or about us: a content filter, a
size limit, a broken signature, a relay that will not take our sender. One such refusal is
the reader's; the same kind of refusal for consecutive different readers is the server's. So
such a refusal is held until the next reader's outcome is known. A server-level reply in
between (a dropped line, a 421) tells nothing about the held reader and keeps it held.
"""

from __future__ import annotations

import re

from service.mail.transport import Outcome, Reply, Stage
from service.sending.leases import Claimed

# Refusals at RCPT that are about who sends, not about who receives.
POLICY_AT_RCPT = re.compile(r"\b5\.7\.\d{1,3}\b|relay|sender|\bspf\b|dmarc|authenticat",
                            re.IGNORECASE)


def as_server(reply: Reply) -> Reply:
    return Reply(Outcome.SERVER, reply.code, reply.text, reply.stage)


class Verdicts:
    def __init__(self) -> None:
        self.held: tuple[Claimed, Reply] | None = None
        self.streak = False  # the last suspect refusals were judged the server's
        self.delivered_before = False

    @staticmethod
    def suspect(row: Claimed, reply: Reply) -> bool:
        if reply.outcome is not Outcome.FAILED or row.email.lower() in reply.text.lower():
            return False  # a refusal that names its reader is that reader's
        if reply.stage is Stage.MESSAGE:
            return True
        return reply.stage is Stage.RCPT and POLICY_AT_RCPT.search(reply.text) is not None

    def judge(self, row: Claimed, reply: Reply) -> list[tuple[Claimed, Reply]]:
        """The (row, reply) pairs whose verdict is now known, server-level ones rewritten."""
        if self.suspect(row, reply):
            if self.held is not None or self.streak:
                self.streak = True
                earlier, self.held = ([self.held] if self.held else []), None
                return [(r, as_server(rep)) for r, rep in earlier] + [(row, as_server(reply))]
            self.held = (row, reply)
            return []
        if reply.outcome is Outcome.SERVER:
            return [(row, reply)]
        self.streak = False
        self.delivered_before = self.delivered_before or reply.outcome is Outcome.SENT
        earlier, self.held = ([self.held] if self.held else []), None
        return earlier + [(row, reply)]

    def leftover(self) -> list[tuple[Claimed, Reply]]:
        """At the end of the batch: a held refusal stands as the reader's only if this batch
        saw the server take messages; otherwise it waits for another try."""
        if self.held is None:
            return []
        row, reply = self.held
        self.held = None
        return [(row, reply if self.delivered_before else as_server(reply))]
