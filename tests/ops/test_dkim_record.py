"""``newsletter dkim record``: the TXT value for each kind of key, and a clear refusal."""

from __future__ import annotations

import base64

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from service.cli import main


def pem(key) -> bytes:  # type: ignore[no-untyped-def]
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_records_for_rsa_and_ed25519_keys_and_a_bad_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.pem").write_bytes(pem(rsa_key))
    result = runner.invoke(main, ["dkim", "record", str(tmp_path / "rsa.pem"),
                                  "--selector", "news2026", "--domain", "example.org"])
    assert result.exit_code == 0, result.output
    name, record = result.output.splitlines()
    assert name == "news2026._domainkey.example.org. TXT"
    assert record.startswith("v=DKIM1; k=rsa; p=")
    public = serialization.load_der_public_key(base64.b64decode(record.split("p=")[1]))
    assert public.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]

    ed_key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "ed.pem").write_bytes(pem(ed_key))
    result = runner.invoke(main, ["dkim", "record", str(tmp_path / "ed.pem")])
    raw = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert result.output == f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}\n"

    (tmp_path / "bad.pem").write_text("not a key")
    result = runner.invoke(main, ["dkim", "record", str(tmp_path / "bad.pem")])
    assert result.exit_code == 1 and "not a PEM private key" in result.output
