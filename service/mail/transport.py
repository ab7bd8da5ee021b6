"""SMTP transport: settings from a URL, one connection kept open across messages, replies
classified as sent, deferred (4xx, dropped connection) or failed (5xx)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT = 30.0


class Outcome(Enum):
    SENT = "sent"
    DEFERRED = "deferred"  # try again later: 4xx, or the connection failed
    FAILED = "failed"  # the server refused for good: 5xx


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "plain"  # plain, starttls or ssl
    username: str = ""
    password: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def describe(self) -> str:
        return f"{self.host}:{self.port} ({self.security})"


def parse_smtp_urls(urls: str) -> list[SmtpSettings]:
    """Several servers, comma- or space-separated, tried in order (failover)."""
    parts = [part for part in urls.replace(",", " ").split() if part]
    if not parts:
        raise ValueError("no SMTP URL given")
    return [parse_smtp_url(part) for part in parts]


def parse_smtp_url(url: str) -> SmtpSettings:
    """``smtp://user:pass@host:587?tls=starttls``, ``smtps://host:465``, ``smtp://host:25``."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"not an smtp:// or smtps:// URL: {url!r}")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    security = "ssl" if parts.scheme == "smtps" else query.get("tls", "plain").lower()
    if security not in ("plain", "starttls", "ssl"):
        raise ValueError(f"tls must be plain, starttls or ssl, not {security!r}")
    default_port = {"plain": 25, "starttls": 587, "ssl": 465}[security]
    return SmtpSettings(
        host=parts.hostname,
        port=parts.port or default_port,
        security=security,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        timeout=float(query.get("timeout", DEFAULT_TIMEOUT)),
    )


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


def _classify(code: int, text: str) -> Reply:
    if 200 <= code < 300:
        return Reply(Outcome.SENT, code, text)
    if 400 <= code < 500:
        return Reply(Outcome.DEFERRED, code, text)
    return Reply(Outcome.FAILED, code, text)


def _decode(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


class SmtpConnection:
    """One SMTP session, opened on first use and reopened after the server drops it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo_or_helo_if_needed()
        if s.username:
            smtp.login(s.username, s.password)
        return smtp

    def send_prepared(self, mail_from: str, to: str, data: bytes) -> Reply:
        """Send bytes already in wire form (see assembly): no dot-stuffing or line-end regexes.

        With PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one write and their three
        replies are read together: two round trips a message instead of four.
        """
        try:
            if self._smtp is None:
                self._smtp = self._open()
            smtp = self._smtp
            utf8 = not (mail_from + to).isascii()
            option = " SMTPUTF8" if utf8 and smtp.has_extn("smtputf8") else ""
            if utf8 and not option:
                return Reply(Outcome.FAILED, 553, "the server does not accept UTF-8 addresses")
            if smtp.has_extn("pipelining"):
                smtp.send(f"MAIL FROM:<{mail_from}>{option}\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode())
                replies = [smtp.getreply() for _ in range(3)]
            else:
                replies = [smtp.mail(mail_from, [option.strip()] if option else [])]
                if replies[0][0] == 250:
                    replies.append(smtp.rcpt(to))
                    if replies[1][0] in (250, 251):
                        smtp.putcmd("data")
                        replies.append(smtp.getreply())
            return self._finish(smtp, replies, data)
        except smtplib.SMTPResponseException as exc:
            self._reset()
            return _classify(exc.smtp_code, _decode(exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Reply(Outcome.DEFERRED, 0, f"connection to {self.settings.describe()}: {exc}")

    def _finish(self, smtp: smtplib.SMTP, replies: list[tuple[int, bytes]], data: bytes) -> Reply:
        for (code, message), wanted in zip(replies, (250, 250, 354), strict=False):
            if code == 251:
                code = 250
            if code != wanted:
                if len(replies) == 3 and replies[2][0] == 354:
                    smtp.send(b".\r\n")  # DATA was accepted after all: end it empty
                    smtp.getreply()
                if code == 421:
                    self.close()
                else:
                    self._reset()
                return _classify(code, _decode(message))
        if len(replies) < 3:
            self._reset()
            return _classify(replies[-1][0], _decode(replies[-1][1]))
        smtp.send(data + b".\r\n")
        code, message = smtp.getreply()
        if code == 421:
            self.close()
        return _classify(code, _decode(message))

    def send(self, mail_from: str, to: str, data: bytes) -> Reply:
        """Send one message; never raises for an SMTP or network problem, it answers a Reply."""
        try:
            if self._smtp is None:
                self._smtp = self._open()
            options = ["SMTPUTF8"] if not (mail_from + to).isascii() else []
            self._smtp.sendmail(mail_from, [to], data, mail_options=options)
            return Reply(Outcome.SENT, 250, "ok")
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            return _classify(code, _decode(message))
        except smtplib.SMTPResponseException as exc:
            self._reset()
            return _classify(exc.smtp_code, _decode(exc.smtp_error))
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self.close()
            return Reply(Outcome.DEFERRED, 0, f"connection to {self.settings.describe()}: {exc}")

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None


class FailoverTransport:
    """Connections to one or more servers; a connection failure moves on to the next server."""

    def __init__(self, servers: list[SmtpSettings]) -> None:
        self.connections = [SmtpConnection(server) for server in servers]
        self.current = 0

    def send_prepared(self, mail_from: str, to: str, data: bytes) -> Reply:
        reply = Reply(Outcome.DEFERRED, 0, "no SMTP server")
        for _ in range(len(self.connections)):
            reply = self.connections[self.current].send_prepared(mail_from, to, data)
            if reply.code != 0:  # the server answered: right or wrong, it was reachable
                return reply
            self.current = (self.current + 1) % len(self.connections)
        return reply

    def send(self, mail_from: str, to: str, data: bytes) -> Reply:
        """Like send_prepared, for bytes that still need dot-stuffing (a stdlib message)."""
        reply = Reply(Outcome.DEFERRED, 0, "no SMTP server")
        for _ in range(len(self.connections)):
            reply = self.connections[self.current].send(mail_from, to, data)
            if reply.code != 0:
                return reply
            self.current = (self.current + 1) % len(self.connections)
        return reply

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
