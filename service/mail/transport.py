"""SMTP transport: settings from a URL, one connection kept open across messages, and every
reply classified by the stage that gave it.

Only two replies are about the reader: a refusal of the recipient (RCPT), and a refusal of
the message after its content went through. Everything else (no connection, a 421, a refused
greeting, EHLO, AUTH or sender) is about the server or our own configuration, and must never
be held against a reader: it is ``Outcome.SERVER``.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from enum import Enum, StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT = 30.0


class Stage(StrEnum):
    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command itself
    MESSAGE = "message"  # the reply after the content


class Outcome(Enum):
    SENT = "sent"
    DEFERRED = "deferred"  # the reader's server says later: a 4xx to RCPT or to the message
    FAILED = "failed"  # the reader's server refuses: a 5xx to RCPT or to the message
    SERVER = "server"  # not about the reader: connection, 421, greeting, EHLO, AUTH, MAIL, DATA


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
    try:
        port, timeout = parts.port or default_port, float(query.get("timeout", DEFAULT_TIMEOUT))
    except ValueError as exc:
        raise ValueError(f"bad port or timeout in {url!r}: {exc}") from None
    return SmtpSettings(
        host=parts.hostname, port=port, security=security,
        username=unquote(parts.username or ""), password=unquote(parts.password or ""),
        timeout=timeout,
    )


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    code: int
    text: str
    stage: Stage = Stage.MESSAGE

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()

    @property
    def server_unusable(self) -> bool:
        """The server failed before taking any message: worth trying another one."""
        return self.outcome is Outcome.SERVER and self.stage in (
            Stage.CONNECT, Stage.GREETING, Stage.EHLO, Stage.AUTH, Stage.MAIL)

    @property
    def retry_elsewhere(self) -> bool:
        """A server fault before the content went out: another server may take the message
        without any risk of a second copy."""
        return self.outcome is Outcome.SERVER and self.stage is not Stage.MESSAGE

    @property
    def server_in_trouble(self) -> bool:
        """Worth resting the server: it failed before a message, dropped the line, or 421."""
        return self.server_unusable or (
            self.outcome is Outcome.SERVER and self.code in (0, 421))


def classify(code: int, text: str, stage: Stage) -> Reply:
    if not 200 <= code < 600:  # no reply, or one smtplib could not read: the line is broken
        return Reply(Outcome.SERVER, max(code, 0), text, stage)
    if 200 <= code < 400:
        return Reply(Outcome.SENT, code, text, stage)
    if code == 421 or code == 0 or stage not in (Stage.RCPT, Stage.MESSAGE):
        return Reply(Outcome.SERVER, code, text, stage)
    if 400 <= code < 500:
        return Reply(Outcome.DEFERRED, code, text, stage)
    return Reply(Outcome.FAILED, code, text, stage)


def _decode(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


class _StageError(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


class SmtpConnection:
    """One SMTP session, opened on first use and reopened after the server drops it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        s, stage = self.settings, Stage.CONNECT
        try:
            if s.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            stage = Stage.EHLO
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo_or_helo_if_needed()
            stage = Stage.AUTH
            if s.username:
                smtp.login(s.username, s.password)
            return smtp
        except smtplib.SMTPConnectError as exc:
            raise _StageError(classify(exc.smtp_code, _decode(exc.smtp_error), Stage.GREETING)) from None
        except smtplib.SMTPResponseException as exc:
            raise _StageError(classify(exc.smtp_code, _decode(exc.smtp_error), stage)) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise _StageError(Reply(Outcome.SERVER, 0, f"connection to {s.describe()}: {exc}",
                                    stage)) from None

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._open()
        return self._smtp

    def send_prepared(self, mail_from: str, to: str, data: bytes) -> Reply:
        """Send bytes already in wire form (see assembly): no dot-stuffing or line-end regexes.

        With PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one write and their three
        replies are read together: two round trips a message instead of four. A kept
        connection that the server closed while idle is reopened once, not counted a fault.
        """
        reused = self._smtp is not None
        reply = self._send_prepared_once(mail_from, to, data)
        if reused and reply.outcome is Outcome.SERVER and reply.code == 0 and (
                reply.stage is Stage.MAIL):
            return self._send_prepared_once(mail_from, to, data)
        return reply

    def _send_prepared_once(self, mail_from: str, to: str, data: bytes) -> Reply:
        stage = Stage.CONNECT
        try:
            smtp = self._session()
            utf8 = not (mail_from + to).isascii()
            option = " SMTPUTF8" if utf8 and smtp.has_extn("smtputf8") else ""
            if utf8 and not option:  # our relay's shortcoming, not the reader's
                return Reply(Outcome.SERVER, 553, "the SMTP server does not offer SMTPUTF8,"
                             " needed for this address", Stage.MAIL)
            stage = Stage.MAIL
            if smtp.has_extn("pipelining"):
                smtp.send(f"MAIL FROM:<{mail_from}>{option}\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode())
                replies = [smtp.getreply() for _ in range(3)]
            else:
                replies = [smtp.mail(mail_from, [option.strip()] if option else [])]
                if replies[0][0] == 250:
                    stage = Stage.RCPT
                    replies.append(smtp.rcpt(to))
                    if replies[1][0] in (250, 251):
                        stage = Stage.DATA
                        smtp.putcmd("data")
                        replies.append(smtp.getreply())
            stage = Stage.MESSAGE
            return self._finish(smtp, replies, data)
        except _StageError as exc:
            self.close()
            return exc.reply
        except smtplib.SMTPResponseException as exc:
            self._reset()
            return classify(exc.smtp_code, _decode(exc.smtp_error), stage)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Reply(Outcome.SERVER, 0, f"connection to {self.settings.describe()}: {exc}", stage)

    def _finish(self, smtp: smtplib.SMTP, replies: list[tuple[int, bytes]], data: bytes) -> Reply:
        for (code, message), wanted, stage in zip(
                replies, (250, 250, 354), (Stage.MAIL, Stage.RCPT, Stage.DATA), strict=False):
            if code == 251:
                code = 250
            if code == wanted:
                continue
            data_open = len(replies) == 3 and replies[2][0] == 354
            if 400 <= code < 600 and code != 421 and not data_open:
                self._reset()
                return classify(code, _decode(message), stage)
            # 421, a reply out of step, or DATA left open after a refusal: never send an
            # empty message to end it; drop the session.
            self.close()
            if 400 <= code < 600:
                return classify(code, _decode(message), stage)
            return Reply(Outcome.SERVER, max(code, 0), f"unexpected reply: {_decode(message)}",
                         stage)
        if len(replies) < 3:  # cannot happen with sane replies; never call it sent
            self.close()
            return Reply(Outcome.SERVER, 0, "the server's replies were out of step", Stage.DATA)
        smtp.send(data + b".\r\n")
        code, message = smtp.getreply()
        if code == 421 or not 200 <= code < 600:
            self.close()
        return classify(code, _decode(message), Stage.MESSAGE)

    def send(self, mail_from: str, to: str, data: bytes) -> Reply:
        """Send a stdlib message (sendmail dot-stuffs it); never raises, answers a Reply."""
        try:
            smtp = self._session()
            options = ["SMTPUTF8"] if not (mail_from + to).isascii() else []
            smtp.sendmail(mail_from, [to], data, mail_options=options)
            return Reply(Outcome.SENT, 250, "ok")
        except _StageError as exc:
            self.close()
            return exc.reply
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            return classify(code, _decode(message), Stage.RCPT)
        except smtplib.SMTPSenderRefused as exc:
            self._reset()
            return classify(exc.smtp_code, _decode(exc.smtp_error), Stage.MAIL)
        except smtplib.SMTPDataError as exc:
            self._reset()
            return classify(exc.smtp_code, _decode(exc.smtp_error), Stage.MESSAGE)
        except smtplib.SMTPResponseException as exc:
            self._reset()
            return classify(exc.smtp_code, _decode(exc.smtp_error), Stage.MAIL)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Reply(Outcome.SERVER, 0, f"connection to {self.settings.describe()}: {exc}",
                         Stage.CONNECT)

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
                self._smtp.close()
            self._smtp = None
