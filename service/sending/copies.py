"""Test copies of an issue: the email as a reader gets it (DKIM-signed when DKIM is on), its
subject marked "[TEST]", sent to a few addresses the editor names. Used by ``newsletter send
--test-to`` and the admin console's test-send form. No send or delivery rows are made."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

from service.config import Config
from service.issues.compile import CompiledEmail
from service.mail.failover import FailoverTransport
from service.mail.message import smtp_address
from service.mail.transport import Outcome, parse_smtp_urls
from service.sending.assembly import MessageTemplate, Recipient
from service.sending.dkim_signing import DkimSigner
from service.sending.preview import personal_values
from service.subscribers.addresses import Address, InvalidAddress, normalise_address
from service.subscribers.links import LinkBuilder

TEST_SUBJECT_PREFIX = "[TEST] "
# A test copy is for the editor and a few colleagues, not a way round the send's ledger.
MAX_TEST_ADDRESSES = 10


@dataclass(frozen=True)
class TestCopy:
    __test__ = False  # not a pytest test class, whatever its name

    address: str
    sent: bool
    detail: str  # the server's reply when it was not sent


@dataclass(frozen=True)
class ParsedAddresses:
    valid: list[Address]
    errors: list[tuple[str, str]]  # (the text as typed, what is wrong with it)


def parse_test_addresses(raw: str, limit: int = MAX_TEST_ADDRESSES) -> ParsedAddresses:
    """Comma-separated addresses, each validated (email-validator), duplicates dropped. More
    than ``limit`` is an error of its own, reported with the others."""
    valid: list[Address] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            continue
        try:
            address = normalise_address(part)
        except InvalidAddress as exc:
            errors.append((part, str(exc)))
            continue
        if address.key not in seen:
            seen.add(address.key)
            valid.append(address)
    if not valid and not errors:
        errors.append(("", "name at least one address"))
    if len(valid) > limit:
        errors.append(("", f"at most {limit} addresses at a time, not {len(valid)}"))
    return ParsedAddresses(valid, errors)


def send_test_copies(config: Config, links: LinkBuilder, compiled: CompiledEmail,
                     addresses: Sequence[Address]) -> list[TestCopy]:
    """Send one "[TEST]" copy to each address over one SMTP session; answers one result each.
    The links in a copy lead nowhere harmful: an address that is no subscriber gets links to
    a 'no longer exists' page."""
    template = MessageTemplate(compiled, mail_from=config.mail_from, reply_to=config.reply_to,
                               subject_prefix=TEST_SUBJECT_PREFIX)
    envelope_from = parseaddr(config.mail_from)[1]
    signer = DkimSigner.from_config(config)  # signed as a send signs: the copy shows DKIM too
    stamp = int(time.time())
    results = []
    transport = FailoverTransport(parse_smtp_urls(config.smtp_url))
    try:
        for number, address in enumerate(addresses):
            recipient = Recipient(
                address=smtp_address(address.email), name="",
                message_id=f"<nl.test.{stamp}.{number}@{config.message_id_domain}>",
                values=personal_values(links, compiled, address.email),
            )
            data = template.render(recipient)
            reply = transport.send_prepared(envelope_from, recipient.address,
                                            signer.sign(data) if signer else data)
            ok = reply.outcome is Outcome.SENT
            results.append(TestCopy(address.email, ok, "" if ok else str(reply)))
    finally:
        transport.close()
    return results
