"""The bounce mailbox: poll NEWSLETTER_BOUNCE_MAILBOX_URL over IMAP or POP3 (TLS or not) and
record every bounce in it.

Nothing is lost. IMAP: a message is moved to NEWSLETTER_BOUNCE_MAILBOX_DONE (or flagged
``\\Seen \\Deleted`` where it is, when that is empty) only after it was recorded or found to be
recorded already; mail that cannot be read, or whose VERP token is forged, is moved to
NEWSLETTER_BOUNCE_MAILBOX_UNPARSED for a person to look at. POP3: a message is deleted only
after it was recorded; the rest stays on the server. A database failure leaves the message
where it is for the next poll. Each poll's time and outcome is kept in ``bounce_mailbox``.
"""

from __future__ import annotations

import imaplib
import logging
import poplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from service.bounces.bounce_mail import MailOutcome, handle_bounce_mail
from service.bounces.events import Bounces
from service.bounces.models import BounceMailbox
from service.config import Config
from service.db import Database, utcnow

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30
MAX_PER_POLL = 500  # messages handled per poll; the rest wait for the next one
DEFAULT_PORTS = {("imap", False): 143, ("imap", True): 993, ("pop3", False): 110,
                 ("pop3", True): 995}


@dataclass(frozen=True)
class MailboxSettings:
    protocol: str  # imap or pop3
    tls: bool
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"

    @property
    def name(self) -> str:
        """The URL without its password, to show and to key the poll record by."""
        scheme = self.protocol + ("s" if self.tls else "")
        folder = f"/{self.folder}" if self.protocol == "imap" else ""
        return f"{scheme}://{self.user}@{self.host}:{self.port}{folder}"


def parse_mailbox_url(url: str) -> MailboxSettings:
    """``imap[s]://user:pass@host[:port][/folder]`` or ``pop3[s]://user:pass@host[:port]``."""
    parts = urlsplit(url)
    protocol, tls = parts.scheme.removesuffix("s"), parts.scheme.endswith("s")
    if protocol not in ("imap", "pop3") or not parts.hostname or not parts.username:
        raise ValueError("the bounce mailbox URL must read imap[s]://user:pass@host/folder"
                         " or pop3[s]://user:pass@host")
    try:
        port = parts.port or DEFAULT_PORTS[(protocol, tls)]
    except ValueError:
        raise ValueError("the bounce mailbox URL has a bad port") from None
    return MailboxSettings(protocol, tls, parts.hostname, port, unquote(parts.username),
                           unquote(parts.password or ""), unquote(parts.path.strip("/")) or "INBOX")


@dataclass
class PollResult:
    mailbox: str
    fetched: int = 0
    recorded: int = 0
    duplicates: int = 0
    kept: list[str] = field(default_factory=list)  # what could not be used, and why
    left: int = 0  # failed to record: left in place for the next poll
    error: str = ""  # the poll itself failed (connection, login, folder)

    def count(self, outcome: MailOutcome, where: str) -> None:
        if outcome.outcome == "recorded":
            self.recorded += 1
        elif outcome.outcome == "duplicate":
            self.duplicates += 1
        else:
            self.kept.append(f"{where}: {outcome.outcome}: {outcome.detail}"[:300])

    def summary(self) -> str:
        text = (f"{self.mailbox}: {self.fetched} fetched, {self.recorded} recorded,"
                f" {self.duplicates} already recorded, {len(self.kept)} kept, {self.left} left")
        return text + (f"; error: {self.error}" if self.error else "")


Handler = Callable[[bytes, str], MailOutcome]


def poll_mailbox(db: Database, config: Config, limit: int = MAX_PER_POLL) -> PollResult:
    """Poll the configured mailbox once; the result says what happened, errors included."""
    from service.bounces.mailbox_imap import poll_imap

    try:
        settings = parse_mailbox_url(config.bounce_mailbox_url)
    except ValueError as exc:
        log.error("bounce mailbox: %s", exc)
        return PollResult("(unusable NEWSLETTER_BOUNCE_MAILBOX_URL)", error=str(exc))
    result = PollResult(settings.name)
    bounces = Bounces.from_config(config)

    def handle(raw: bytes, source: str) -> MailOutcome:
        return handle_bounce_mail(db, bounces, raw, source)

    try:
        if settings.protocol == "imap":
            poll_imap(settings, config, handle, result, limit)
        else:
            poll_pop3(settings, handle, result, limit)
    except (OSError, imaplib.IMAP4.error, poplib.error_proto, ssl.SSLError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:500]
    _remember(db, result)
    for kept in result.kept:
        log.warning("bounce mailbox kept a message: %s", kept)
    if result.error:
        log.error("bounce mailbox poll failed: %s", result.summary())
    elif result.fetched:
        log.info("bounce mailbox: %s", result.summary())
    return result


def poll_pop3(settings: MailboxSettings, handle: Handler, result: PollResult, limit: int) -> None:
    kind = poplib.POP3_SSL if settings.tls else poplib.POP3
    extra = {"context": ssl.create_default_context()} if settings.tls else {}
    client = kind(settings.host, settings.port, timeout=TIMEOUT_SECONDS, **extra)
    try:
        client.user(settings.user)
        client.pass_(settings.password)
        count, _size = client.stat()
        for number in range(1, min(count, limit) + 1):
            _response, lines, _octets = client.retr(number)
            result.fetched += 1
            try:
                outcome = handle(b"\r\n".join(lines) + b"\r\n", "pop3")
            except Exception:  # noqa: BLE001 - leave it on the server for the next poll
                log.exception("bounce mailbox: recording POP3 message %s failed", number)
                result.left += 1
                continue
            result.count(outcome, f"message {number}")
            if outcome.done:
                client.dele(number)  # takes effect at QUIT, after everything was recorded
        client.quit()
    except BaseException:
        client.close()  # no QUIT: the server undoes this session's deletions
        raise


def _remember(db: Database, result: PollResult) -> None:
    now = utcnow()
    try:
        with db.session() as session:
            row = session.scalars(
                select(BounceMailbox).where(BounceMailbox.name == result.mailbox)).one_or_none()
            if row is None:
                row = BounceMailbox(name=result.mailbox, last_error="", last_fetched=0,
                                    last_kept=0)
                session.add(row)
            row.last_polled_at = now
            row.last_fetched, row.last_kept = result.fetched, len(result.kept)
            row.last_error = result.error
            if not result.error:
                row.last_success_at = now
    except Exception:  # noqa: BLE001 - the poll's own outcome is what the caller needs
        log.exception("bounce mailbox: recording the poll failed")


def last_poll(db: Database, config: Config) -> BounceMailbox | None:
    """The configured mailbox's last poll, for the dashboard's warning; None if never."""
    if not config.bounce_mailbox_url:
        return None
    name = parse_mailbox_url(config.bounce_mailbox_url).name
    with db.session() as session:
        return session.scalars(
            select(BounceMailbox).where(BounceMailbox.name == name)).one_or_none()
