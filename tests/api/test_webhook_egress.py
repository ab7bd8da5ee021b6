"""Webhooks go to public hosts only: an endpoint on an internal address is refused when it is
added (function and admin page), and a delivery is refused on the address it would connect to,
so a name that later resolves elsewhere (DNS rebinding) or an endpoint stored earlier gains
nothing. NEWSLETTER_WEBHOOK_ALLOW_PRIVATE lets them through; TLS still checks the host name."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from service.db import utcnow
from service.webhooks import delivery, egress
from service.webhooks.endpoints import EndpointError, check_url, create_endpoint
from service.webhooks.models import WebhookDelivery, WebhookEndpoint
from service.webhooks.outbox import record_event
from tests.admin.conftest import csrf_token, log_in
from tests.api.conftest import POSTGRES_ONLY
from tests.api.receiver import Receiver

LOOPBACK = r"(127\.0\.0\.1|::1) is a loopback address"  # localhost: either, by the hosts file
HOSTILE: dict[str, str | re.Pattern[str]] = {  # URL: what the refusal names
    "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
    "http://127.0.0.1:6379/": "127.0.0.1 is a loopback address",
    "http://[::1]:5432/": "::1 is a loopback address",
    # A name with no domain is refused even where it does not resolve (here); where it does
    # (beside the compose stack), by its address. The C library reads 0x7f000001 as 127.0.0.1.
    "http://redis:6379/": re.compile(r"redis (names a machine on the local network"
                                     r"|resolves to \S+, a private address)"),
    "http://0x7f000001/": re.compile(r"0x7f000001 (resolves to 127\.0\.0\.1, a loopback"
                                     r"|names a machine on the local network)"),
    "http://10.0.0.5/hook": "10.0.0.5 is a private address",
    "http://[::ffff:10.0.0.5]/": "::ffff:10.0.0.5 is a private address (IPv4 10.0.0.5)",
    "http://[::127.0.0.1]/": "::127.0.0.1 is a loopback address (IPv4 127.0.0.1)",
    "http://[fe80::1]/": "fe80::1 is a link-local address",
    "http://224.0.0.1/": "224.0.0.1 is a multicast address",
    "http://0.0.0.0:5432/": "0.0.0.0 is an unspecified address",
    "http://240.0.0.1/": "240.0.0.1 is a reserved address",
    "http://100.64.0.1/": "100.64.0.1 is not a public address",
    "https://localhost/": re.compile(r"localhost resolves to (127\.0\.0\.1|::1), a loopback"),
}
PUBLIC = "93.184.215.14"  # an address in public space (nothing is sent to it here)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names this test resolves itself (as a DNS server an attacker runs would); others as
    the system does."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port, 0, 0) if ":" in a else (a, port)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def test_an_endpoint_on_an_internal_address_is_refused(dns) -> None:  # type: ignore[no-untyped-def]
    for url, reason in HOSTILE.items():
        with pytest.raises(EndpointError, match="public hosts only") as refused:
            create_endpoint(None, url, ["confirm"])  # type: ignore[arg-type]
        pattern = reason if isinstance(reason, re.Pattern) else re.escape(reason)
        assert re.search(pattern, str(refused.value)), url
        assert check_url(url, allow_private=True) == url  # NEWSLETTER_WEBHOOK_ALLOW_PRIVATE
    dns["hooks.example.org"] = [PUBLIC, "10.0.0.5"]  # every address counts, not the first
    with pytest.raises(EndpointError, match="hooks.example.org resolves to 10.0.0.5, a private"):
        check_url("https://hooks.example.org/n")
    dns["hooks.example.org"] = [PUBLIC, "2606:4700::1111"]
    assert check_url("https://hooks.example.org/n") == "https://hooks.example.org/n"
    assert check_url(f"http://{PUBLIC}:8080/x") == f"http://{PUBLIC}:8080/x"
    # A name that does not resolve yet is kept: each delivery checks it again.
    assert check_url("https://not-yet.example.org/h") == "https://not-yet.example.org/h"
    for port in ("0", "99999", "x"):
        with pytest.raises(EndpointError, match="port"):
            check_url(f"https://hooks.example.org:{port}/")


@POSTGRES_ONLY
def test_the_admin_page_refuses_an_internal_address(app, client, admins) -> None:  # type: ignore[no-untyped-def]
    log_in(client, *admins["admin"])
    csrf = csrf_token(client, "/admin/api")
    for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/"):
        page = client.post("/admin/api/webhooks", data={"csrf_token": csrf, "url": url,
                                                        "events": ["confirm"]})
        text = page.get_data(as_text=True)
        assert page.status_code == 400 and 'id="error"' in text and "public hosts only" in text
    with app.extensions["db"].session() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def _stored_endpoint(app, url: str) -> None:  # type: ignore[no-untyped-def]
    """An endpoint row as an earlier check (or none) left it, and one event for it."""
    with app.extensions["db"].session() as session:
        session.add(WebhookEndpoint(url=url, secret="whsec_x", events=["confirm"], active=True))
    with app.extensions["db"].session() as session:
        record_event(session, "confirm", {"subscriber": {"id": 1}})


@POSTGRES_ONLY
@pytest.mark.parametrize("host", ["localhost", "rebound.example.org"])
def test_a_delivery_to_an_internal_address_is_refused_before_any_request(  # type: ignore[no-untyped-def]
        app, receiver, dns, host) -> None:
    dns["rebound.example.org"] = [PUBLIC]
    url = receiver.url(host=host)
    if host == "localhost":
        _stored_endpoint(app, url)  # stored before the policy, or while it was off
    else:
        with app.extensions["db"].session() as session:
            create_endpoint(session, url, ["confirm"])  # public when it was added...
            record_event(session, "confirm", {"subscriber": {"id": 1}})
        dns["rebound.example.org"] = [PUBLIC, "127.0.0.1"]  # ...and rebound since
    db = app.extensions["db"]
    assert not app.config["NEWSLETTER"].webhook_allow_private  # the default
    assert delivery.deliver_due(db, timeout=2).attempted == 1
    with db.session() as session:
        row = session.scalars(select(WebhookDelivery)).one()
    assert receiver.received == []  # nothing reached the receiver
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 1, None)
    assert re.fullmatch("refused: " + LOOPBACK, row.last_error)
    assert [a["error"] for a in row.attempt_log] == [row.last_error]
    later = utcnow() + dt.timedelta(days=2)
    assert delivery.deliver_due(db, timeout=2, now=later).attempted == 0  # never retried


@POSTGRES_ONLY
def test_with_private_addresses_allowed_the_local_receiver_gets_it(config, receiver) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import running_app

    allowed = dataclasses.replace(config, webhook_allow_private=True)
    with running_app(allowed) as app:
        _stored_endpoint(app, receiver.url(host="localhost"))
        assert delivery.deliver_all_due(app.extensions["db"], timeout=2,
                                        allow_private=allowed.webhook_allow_private) == 1
    assert [r.path for r in receiver.received] == ["/hooks"]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name localhost only (not for 127.0.0.1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_is_checked_before_tls_and_verifies_the_urls_host(tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    trusted = ssl.create_default_context(cafile=str(cert_file))
    receiver = Receiver(tls=server_tls).start()
    try:
        allowed = egress.build_opener(allow_private=True, context=trusted)
        sent = delivery.post(receiver.url(host="localhost"), b"{}", {}, 2, allowed)
        assert (sent.status_code, sent.error) == (204, "")
        # Connected to 127.0.0.1, the certificate is still checked against the URL's host.
        wrong = delivery.post(receiver.url(host="127.0.0.1"), b"{}", {}, 2, allowed)
        assert wrong.status_code is None and "certificate verify failed" in wrong.error
        assert not wrong.final  # an ordinary failure: retried
        refused = delivery.post(receiver.url(host="localhost"), b"{}", {}, 2,
                                egress.build_opener(context=trusted))
        assert re.fullmatch("refused: " + LOOPBACK, refused.error) and refused.final
        assert len(receiver.received) == 1
    finally:
        receiver.stop()
