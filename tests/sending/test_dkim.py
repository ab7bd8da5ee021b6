"""DKIM signatures made through OpenSSL verify with dkimpy against the published key."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from service.sending.dkim_signing import DkimKeyError, DkimSigner, public_key_record
from tests.sending.test_assembly import _message


def write_key(path: Path, key) -> bytes:  # type: ignore[no-untyped-def]
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.write_bytes(pem)
    return pem


def dns_for(records: dict[bytes, str]):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records[name].encode()
    return lookup


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    rsa_file, ed_file = tmp_path / "rsa.pem", tmp_path / "ed.pem"
    write_key(rsa_file, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    write_key(ed_file, ed25519.Ed25519PrivateKey.generate())
    return {"rsa": rsa_file, "ed25519": ed_file}


def test_rsa_and_ed25519_signatures_both_verify(keys) -> None:  # type: ignore[no-untyped-def]
    signer = DkimSigner.from_settings("example.org", "news", str(keys["rsa"]),
                                      "newsed", str(keys["ed25519"]))
    signed = signer.sign(_message())
    dns = dns_for({
        b"news._domainkey.example.org.": public_key_record(keys["rsa"].read_bytes()),
        b"newsed._domainkey.example.org.": public_key_record(keys["ed25519"].read_bytes()),
    })
    assert signed.count(b"DKIM-Signature:") == 2
    assert b"a=ed25519-sha256" in signed and b"a=rsa-sha256" in signed
    # dkimpy checks the first signature by default; index 1 is the second one.
    assert dkim.verify(signed, dnsfunc=dns)
    verifier = dkim.DKIM(signed)
    assert verifier.verify(idx=0, dnsfunc=dns) and verifier.verify(idx=1, dnsfunc=dns)


def test_the_signature_covers_what_receivers_need(keys) -> None:  # type: ignore[no-untyped-def]
    signed = DkimSigner.from_settings("example.org", "news", str(keys["rsa"])).sign(_message())
    header = signed.split(b"\r\n\r\n")[0].decode()
    listed = header.split("h=", 1)[1].split(";")[0].replace("\r\n", "").replace(" ", "").lower()
    for name in ("from", "to", "subject", "date", "message-id", "list-id",
                 "list-unsubscribe", "list-unsubscribe-post"):
        assert name in listed.split(":"), name
    dns = dns_for({b"news._domainkey.example.org.": public_key_record(keys["rsa"].read_bytes())})
    assert dkim.verify(signed, dnsfunc=dns)
    for field, changed in ((b"List-Unsubscribe-Post: List", b"List-Unsubscribe-Post: Lizt"),
                           (b"Subject: ", b"Subject: X"), (b"To: ", b"To: x")):
        assert field in signed
        assert not dkim.verify(signed.replace(field, changed, 1), dnsfunc=dns), field
    # A header added above the signed ones: only oversigning catches it (verifiers read the
    # bottom-most instance first, which is still the signed one).
    for added in (b"From: Eve <eve@example.net>\r\n", b"Reply-To: eve@example.net\r\n",
                  b"Subject: another\r\n", b"List-Unsubscribe: <https://evil.example>\r\n"):
        assert not dkim.verify(added + signed, dnsfunc=dns), added
    body_start = signed.index(b"\r\n\r\n") + 4
    tampered = signed[:body_start] + signed[body_start:].replace(b"A", b"B", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_bad_keys_are_named(tmp_path: Path, keys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DkimKeyError, match="not an RSA"):
        DkimSigner.from_settings("example.org", "news", str(keys["ed25519"]))
    with pytest.raises(DkimKeyError, match="missing.pem"):
        DkimSigner.from_settings("example.org", "news", str(tmp_path / "missing.pem"))
    with pytest.raises(DkimKeyError, match="both"):
        DkimSigner.from_settings("example.org", "news", "")
    assert DkimSigner.from_settings("example.org") is None


def test_a_test_copy_is_signed_as_a_send_signs(config, smtp_sink, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from service.sending.copies import parse_test_addresses, send_test_copies
    from tests.conftest import running_app

    signed_config = replace(config, smtp_url=smtp_sink.url, dkim_selector="news",
                            dkim_key_file=str(keys["rsa"]), dkim_domain="example.org")
    with running_app(signed_config) as app:
        library = app.extensions["issues"]
        compiled = library.compiled(library.collection().by_slug("2026-09-14"))
        [result] = send_test_copies(signed_config, app.extensions["subscribers"].links, compiled,
                                    parse_test_addresses("editor@example.org").valid)
    assert result.sent
    [message] = smtp_sink.received
    record = public_key_record(keys["rsa"].read_bytes())
    assert dkim.verify(message.data, dnsfunc=dns_for({b"news._domainkey.example.org.": record}))
