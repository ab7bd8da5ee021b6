"""One issue for one address: the ``newsletter render`` command and, later, test sends."""

from __future__ import annotations

from email.message import EmailMessage
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from service.config import Config
from service.issues.compile import CompiledEmail
from service.issues.personalise import recipient_values
from service.sending.message import Envelope, build_message
from service.tokens import TokenSigner


class RecipientError(ValueError):
    """The address cannot receive mail."""


def normalise_address(address: str) -> str:
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise RecipientError(f"{address!r} is not a valid email address: {exc}") from None
    # An internationalised domain travels as punycode; a UTF-8 local part stays as it is.
    return valid.ascii_email or valid.normalized


@lru_cache(maxsize=4)
def signer_for(secret_key: str) -> TokenSigner:
    return TokenSigner(secret_key)


def personal_values(config: Config, compiled: CompiledEmail, address: str, name: str = "") -> dict:
    """The slot values for one address. The tokens name the address and their purpose."""
    signer = signer_for(config.secret_key)
    return recipient_values(
        email=address,
        name=name,
        unsubscribe_url=f"{config.base_url}/unsubscribe/{signer.sign('unsubscribe', address)}",
        preferences_url=f"{config.base_url}/preferences/{signer.sign('preferences', address)}",
        web_url=f"{config.base_url}/issues/{compiled.slug}",
    )


def message_for(
    config: Config, compiled: CompiledEmail, address: str, name: str = ""
) -> EmailMessage:
    address = normalise_address(address)
    values = personal_values(config, compiled, address, name)
    html, text = compiled.personalise(values)
    envelope = Envelope(
        mail_from=config.mail_from,
        to=address,
        to_name=name,
        reply_to=config.reply_to,
        unsubscribe_url=values["unsubscribe_url"],
        message_id_domain=config.message_id_domain,
    )
    return build_message(compiled, envelope, html, text)
