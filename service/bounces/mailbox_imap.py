"""The IMAP half of the bounce mailbox poller (see ``service.bounces.mailbox``).

Messages are addressed by UID, fetched with ``BODY.PEEK[]`` (which leaves them unread), and
moved with MOVE (RFC 6851) where the server has it, else copied and flagged ``\\Deleted``,
then expunged by UID at the end. Mail already flagged ``\\Deleted`` is skipped.
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from typing import TYPE_CHECKING

from service.config import Config

if TYPE_CHECKING:
    from service.bounces.mailbox import Handler, MailboxSettings, PollResult

log = logging.getLogger(__name__)
_LIST_NAME = re.compile(rb'\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$')


class FolderError(imaplib.IMAP4.error):
    """A folder could not be selected, created or written to."""


def quote(name: str) -> str:
    """An IMAP quoted string (folder names may hold spaces)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(answer: tuple[str, list], what: str) -> list:  # type: ignore[type-arg]
    status, data = answer
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise FolderError(f"{what}: {status} {detail}".strip())
    return data


def _folders(client: imaplib.IMAP4) -> set[str]:
    names = set()
    for line in _check(client.list(), "LIST"):
        match = _LIST_NAME.match(line) if isinstance(line, bytes) else None
        if match:
            names.add(match.group("name").decode("utf-8", "replace").strip('"'))
    return names


def _ensure_folders(client: imaplib.IMAP4, wanted: list[str]) -> None:
    existing = _folders(client)
    for folder in wanted:
        if folder and folder not in existing:
            _check(client.create(quote(folder)), f"CREATE {folder}")


def _message_bytes(data: list) -> bytes | None:  # type: ignore[type-arg]
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


class _Mover:
    """Moves (or copies and flags) one message at a time; expunges once at the end."""

    def __init__(self, client: imaplib.IMAP4) -> None:
        self.client = client
        capabilities = {c.upper() for c in client.capabilities}
        self.can_move = "MOVE" in capabilities
        self.uidplus = "UIDPLUS" in capabilities
        self.flagged: list[bytes] = []

    def move(self, uid: bytes, folder: str) -> None:
        if self.can_move:
            _check(self.client.uid("MOVE", uid, quote(folder)), f"MOVE to {folder}")
            return
        _check(self.client.uid("COPY", uid, quote(folder)), f"COPY to {folder}")
        self.flag(uid)
        self.flagged.append(uid)

    def flag(self, uid: bytes) -> None:
        _check(self.client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Seen \Deleted)"), "STORE")

    def expunge(self) -> None:
        """Expunge the originals of the copies, and only those: that takes UIDPLUS. Without
        it they stay flagged, which the next poll skips; a plain EXPUNGE could remove mail
        that someone flagged for another reason."""
        if self.flagged and self.uidplus:
            self.client.uid("EXPUNGE", b",".join(self.flagged))


def poll_imap(settings: MailboxSettings, config: Config, handle: Handler, result: PollResult,
              limit: int) -> None:
    kind = imaplib.IMAP4_SSL if settings.tls else imaplib.IMAP4
    extra = {"ssl_context": ssl.create_default_context()} if settings.tls else {}
    client = kind(settings.host, settings.port, timeout=30, **extra)  # type: ignore[arg-type]
    try:
        client.login(settings.user, settings.password)
        done, unparsed = config.bounce_mailbox_done, config.bounce_mailbox_unparsed
        _ensure_folders(client, [done, unparsed])
        _check(client.select(quote(settings.folder)), f"SELECT {settings.folder}")
        uids = _check(client.uid("SEARCH", None, "UNDELETED"), "SEARCH")[0].split()
        mover = _Mover(client)
        try:
            for uid in uids[:limit]:
                _one(client, mover, uid, handle, result, done, unparsed)
        finally:
            mover.expunge()
        client.logout()
    except BaseException:
        try:
            client.shutdown()
        except OSError:
            pass
        raise


def _one(client: imaplib.IMAP4, mover: _Mover, uid: bytes, handle: Handler,
         result: PollResult, done: str, unparsed: str) -> None:
    raw = _message_bytes(_check(client.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH"))
    if raw is None:
        return  # expunged by someone else meanwhile
    result.fetched += 1
    try:
        outcome = handle(raw, "imap")
    except Exception:  # noqa: BLE001 - left unread in place for the next poll
        log.exception("bounce mailbox: recording IMAP message %s failed", uid.decode())
        result.left += 1
        return
    result.count(outcome, f"uid {uid.decode()}")
    if outcome.done and done:
        mover.move(uid, done)
    elif outcome.done:
        mover.flag(uid)
    elif unparsed:
        mover.move(uid, unparsed)
