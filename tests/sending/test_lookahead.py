"""A batch's messages drafted one ahead, their signatures made on a helper thread: the right
message for each row, signatures that verify, and a failure charged to its own row."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from service.sending.dkim_signing import DkimSigner, Unsigned, public_key_record
from service.sending.leases import Claimed
from service.sending.lookahead import Draft, Lookahead
from tests.sending.test_dkim import dns_for, write_key


def row(number: int, deliverable: bool = True) -> Claimed:
    return Claimed(number, 1, 0, None, number, f"r{number}@example.com", "", f"r{number}@example.com",
                   deliverable)


def message_for(number: int) -> bytes:
    return (f"From: News <news@example.org>\r\nTo: r{number}@example.com\r\n"
            f"Subject: Issue\r\nMessage-ID: <{number}@example.org>\r\n\r\n"
            f"Hello reader {number}\r\n").encode()


@pytest.fixture
def signer_and_dns(tmp_path: Path):  # type: ignore[no-untyped-def]
    rsa_pem = write_key(tmp_path / "rsa.pem", rsa.generate_private_key(65537, 2048))
    ed_pem = write_key(tmp_path / "ed.pem", ed25519.Ed25519PrivateKey.generate())
    signer = DkimSigner.from_settings("example.org", "news", str(tmp_path / "rsa.pem"),
                                      "newsed", str(tmp_path / "ed.pem"))
    dns = dns_for({b"news._domainkey.example.org.": public_key_record(rsa_pem),
                   b"newsed._domainkey.example.org.": public_key_record(ed_pem)})
    return signer, dns


def test_each_row_gets_its_own_message_signed_on_the_helper_thread(signer_and_dns, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    signer, dns = signer_and_dns
    signing_threads: set[str] = set()
    real_private = Unsigned.private_operations

    def recording(unsigned):  # type: ignore[no-untyped-def]
        signing_threads.add(threading.current_thread().name)
        return real_private(unsigned)

    def draft(claimed: Claimed) -> Draft:
        data = message_for(claimed.delivery_id)
        return Draft(claimed.email, data, signer.prepare(data))

    rows = [row(n, deliverable=n != 3) for n in range(1, 8)]
    monkeypatch.setattr(Unsigned, "private_operations", recording)
    with ThreadPoolExecutor(1, thread_name_prefix="dkim") as pool:
        messages = Lookahead(draft, rows, pool)
        out = [messages.message(r) for r in rows if r.deliverable]
        messages.close()
    assert [address for address, _ in out] == [f"r{n}@example.com" for n in (1, 2, 4, 5, 6, 7)]
    for (_, data), number in zip(out, (1, 2, 4, 5, 6, 7), strict=True):
        assert f"Hello reader {number}".encode() in data
        verifier = dkim.DKIM(data)
        assert verifier.verify(idx=0, dnsfunc=dns) and verifier.verify(idx=1, dnsfunc=dns)
    assert signing_threads and all(name.startswith("dkim") for name in signing_threads)


def test_a_draft_that_fails_is_charged_to_its_own_row_not_the_one_before() -> None:
    def draft(claimed: Claimed) -> Draft:
        if claimed.delivery_id == 2:
            raise ValueError("row 2 cannot be built")
        return Draft(claimed.email, message_for(claimed.delivery_id))

    rows = [row(1), row(2), row(3)]
    with ThreadPoolExecutor(1) as pool:
        messages = Lookahead(draft, rows, pool, chunk=2)  # rows 1-3 drafted ahead at once
        assert messages.message(rows[0])[0] == "r1@example.com"
        with pytest.raises(ValueError, match="row 2"):
            messages.message(rows[1])
        assert messages.message(rows[2])[0] == "r3@example.com"


def test_a_row_asked_out_of_turn_still_gets_its_own_message() -> None:
    drafted: list[int] = []

    def draft(claimed: Claimed) -> Draft:
        drafted.append(claimed.delivery_id)
        return Draft(claimed.email, message_for(claimed.delivery_id))

    rows = [row(n) for n in range(1, 6)]
    with ThreadPoolExecutor(1) as pool:
        messages = Lookahead(draft, rows, pool, chunk=2)
        assert drafted == [1, 2, 3, 4]  # two chunks ahead
        assert messages.message(rows[2]) == ("r3@example.com", message_for(3))
        assert messages.message(rows[0]) == ("r1@example.com", message_for(1))
        assert messages.message(rows[4]) == ("r5@example.com", message_for(5))
    assert drafted == [1, 2, 3, 4, 3, 1, 5]  # out of turn: built when asked, nothing ahead


def test_chunks_are_signed_a_chunk_at_a_time_and_two_are_kept_ahead(signer_and_dns) -> None:  # type: ignore[no-untyped-def]
    signer, dns = signer_and_dns
    handed_over: list[int] = []

    class CountingPool(ThreadPoolExecutor):
        def submit(self, fn, unsigned, /):  # type: ignore[no-untyped-def, override]
            handed_over.append(len(unsigned))
            return super().submit(fn, unsigned)

    def draft(claimed: Claimed) -> Draft:
        data = message_for(claimed.delivery_id)
        return Draft(claimed.email, data, signer.prepare(data))

    rows = [row(n) for n in range(1, 12)]
    with CountingPool(1) as pool:
        messages = Lookahead(draft, rows, pool, chunk=4)
        assert handed_over == [4, 4]
        out = [messages.message(r) for r in rows]
    assert handed_over == [4, 4, 3]
    assert [address for address, _ in out] == [r.email for r in rows]
    assert all(dkim.verify(data, dnsfunc=dns) for _, data in out)
