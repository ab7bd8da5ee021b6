"""Why a send paused itself, told so that a person knows what to do next."""

from __future__ import annotations

from service.mail.transport import Reply, Stage

# What to check, by the stage at which the server (or our configuration) failed.
HINTS = {
    Stage.CONNECT: "no SMTP server answered: check NEWSLETTER_SMTP_URL and that the server runs",
    Stage.GREETING: "the SMTP server refused the connection at its greeting: it may block"
                    " this host, or be overloaded",
    Stage.EHLO: "the SMTP server refused EHLO or STARTTLS: check the tls= setting of"
                " NEWSLETTER_SMTP_URL",
    Stage.AUTH: "the SMTP server refused our login: check the user and password in"
                " NEWSLETTER_SMTP_URL",
    Stage.MAIL: "the SMTP server refused the sender: check NEWSLETTER_MAIL_FROM and"
                " NEWSLETTER_BOUNCE_DOMAIN against what the server lets us send as",
    Stage.RCPT: "the SMTP server closed the session while taking recipients (421): it is"
                " limiting us; lower NEWSLETTER_SEND_RATE or wait",
    Stage.DATA: "the SMTP server refused the DATA command",
    Stage.MESSAGE: "the SMTP server refused the message for several different readers in a"
                   " row: look at its size, content and DKIM signature, or the server's limits",
}


def pause_reason(errors: int, reply: Reply | None) -> str:
    if reply is None:
        return f"paused after {errors} server errors in a row"
    hint = HINTS.get(reply.stage, "the SMTP server failed")
    if reply.code == 0:
        hint = HINTS[Stage.CONNECT] if reply.stage is Stage.CONNECT else (
            f"the connection to the SMTP server dropped at {reply.stage}")
    return (f"paused after {errors} server errors in a row: {hint}. Last reply at"
            f" {reply.stage}: {reply}. Nobody was marked failed for it; fix the cause, then"
            " run 'newsletter sends resume ID'.")
