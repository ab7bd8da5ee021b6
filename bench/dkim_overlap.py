#!/usr/bin/env python3
"""What signing on a helper thread buys when a worker waits for its SMTP server.

    .venv/bin/python bench/dkim_overlap.py [--messages 3000] [--wait-ms 0.25 0.5 1]

One process takes a seed-sized message through the batch's Lookahead --messages times, with a
stand-in for the SMTP exchange of each message: a wait of --wait-ms that releases the GIL as
a socket read does (a relay on another host answers MAIL, RCPT and DATA in about that much
time). For each wait it prints messages/s:
  (a) unsigned, the reference;
  (b) RSA-2048 signed in line, as a batch did before the lookahead;
  (c) RSA-2048 signed ahead on the helper thread, a chunk at a time, while earlier messages
      wait (the service);
and (b)/(a), (c)/(a). bench/send.py --dkim measures the whole send on a loopback sink, where
the two worker processes already keep both cores busy and there is no wait to overlap.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def seed_sized_message() -> bytes:
    """Headers and a 44 KB base64 body, the size of the seed issue's email."""
    import base64
    import os

    body = base64.encodebytes(os.urandom(32 * 1024)).replace(b"\n", b"\r\n")
    return (b"From: News <news@example.org>\r\nTo: reader@example.com\r\nSubject: Issue\r\n"
            b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n"
            b"List-Id: <news.example.org>\r\nList-Unsubscribe: <https://example.org/u/x>\r\n"
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
            b"\r\n" + body)


def rate(count: int, wait: float, draft, pool) -> float:  # type: ignore[no-untyped-def]
    from service.sending.leases import Claimed
    from service.sending.lookahead import Lookahead

    rows = [Claimed(n, 1, 0, None, n, "reader@example.com", "", "reader@example.com", True)
            for n in range(count)]
    started = time.perf_counter()
    messages = Lookahead(draft, rows, pool)
    for claimed in rows:
        messages.message(claimed)
        if wait:
            time.sleep(wait)
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--wait-ms", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    args = parser.parse_args()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from service.sending.dkim_signing import DkimSigner
    from service.sending.lookahead import Draft

    key_file = Path(tempfile.mkdtemp(prefix="bench-dkim-")) / "rsa.pem"
    key_file.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    signer = DkimSigner.from_settings("example.org", "bench", str(key_file))
    assert signer is not None
    data = seed_sized_message()
    unsigned = lambda _row: Draft("reader@example.com", data)  # noqa: E731
    signed = lambda _row: Draft("reader@example.com", data, signer.prepare(data))  # noqa: E731
    print(f"{args.messages:,} messages of {len(data):,} bytes, one process\n")
    with ThreadPoolExecutor(1, thread_name_prefix="dkim") as pool:
        for wait_ms in args.wait_ms:
            wait = wait_ms / 1000
            base = rate(args.messages, wait, unsigned, None)
            inline = rate(args.messages, wait, signed, None)
            ahead = rate(args.messages, wait, signed, pool)
            print(f"wait {wait_ms:g} ms: unsigned {base:,.0f}/s, signed in line {inline:,.0f}/s"
                  f" ({inline / base:.2f}x), signed ahead {ahead:,.0f}/s ({ahead / base:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
