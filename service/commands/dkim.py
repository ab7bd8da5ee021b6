"""``newsletter dkim record KEYFILE``: the DNS TXT value that publishes a DKIM key."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys."""


@dkim_group.command("record")
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--selector", default="", help="Also print the name to publish it at.")
@click.option("--domain", default="", help="The d= domain (with --selector).")
def dkim_record(key_file: Path, selector: str, domain: str) -> None:
    """Print the TXT record value (v=DKIM1; k=rsa or k=ed25519; p=...) for a PEM private key:
    publish it at <selector>._domainkey.<domain>."""
    from service.sending.dkim_signing import public_key_record

    try:
        record = public_key_record(key_file.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise click.ClickException(f"{key_file}: not a PEM private key without a password ({exc})") from None
    if selector and domain:
        click.echo(f"{selector}._domainkey.{domain}. TXT")
    click.echo(record)
