#!/usr/bin/env python3
"""Bounce throughput: mails classified per second on one core, and events stored per second
through the inbound receiver, each against a reference measured in the same run.

    .venv/bin/python bench/bounces.py [--seconds 3] [--events 2000] [--connections 1]
                                      [--database-url URL]

1. Classification: it classifies the test corpus (tests/bounces/corpus/*.eml) over and over
   for --seconds in one process pinned to one CPU, then does the same with the stdlib's
   ``email.message_from_bytes`` alone, the floor any classifier built on it pays. It prints
   mails/s for both, their ratio and the per-mail cost, then the five slowest corpus files.
   Target: at least 500 mails/s classified; the exit status is 1 below it.
2. Storage (skipped with --events 0): --events readers get an issue (the ledger written, every
   row "sent"), then one DSN per reader goes by SMTP, over --connections connections, to the
   real inbound receiver at the reader's VERP address: each is verified, classified, matched
   to its delivery, stored, and suppresses its reader. The reference is the same mail sent
   to an aiosmtpd server whose handler does nothing. It prints both rates and their ratio.
   The database is SQLite in a temporary folder unless --database-url names another (an
   empty, migrated or not, database or schema of its own).
"""

from __future__ import annotations

import argparse
import email
import os
import shutil
import sys
import time
from collections.abc import Callable
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.bounces.classify import classify  # noqa: E402

CORPUS = ROOT / "tests" / "bounces" / "corpus"
TARGET = 500  # mails/s


def rate(function: Callable[[bytes], object], mails: list[bytes], seconds: float) -> float:
    """Mails per second over whole passes through ``mails`` for about ``seconds``."""
    done, started = 0, time.perf_counter()
    while True:
        for raw in mails:
            function(raw)
        done += len(mails)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def parse(raw: bytes) -> object:
    return email.message_from_bytes(raw, policy=compat32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--events", type=int, default=2000, help="DSNs stored; 0 skips it")
    parser.add_argument("--connections", type=int, default=1, help="SMTP connections")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp folder")
    args = parser.parse_args()
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else set()
    if cores:
        os.sched_setaffinity(0, {min(cores)})

    paths = sorted(CORPUS.glob("*.eml"))
    mails = [path.read_bytes() for path in paths]
    size_kb = sum(map(len, mails)) / len(mails) / 1024
    print(f"{len(mails)} corpus mails, {size_kb:.1f} KB on average, one core")
    for raw in mails:  # warm up: imports, regex caches, codec lookups
        classify(raw)

    classified = rate(classify, mails, args.seconds)
    parsed = rate(parse, mails, args.seconds)
    print(f"\nclassify                {classified:8.0f} mails/s  ({1e3 / classified:.2f} ms/mail)")
    print(f"message_from_bytes only {parsed:8.0f} mails/s  ({1e3 / parsed:.2f} ms/mail)")
    print(f"classify / parse        {classified / parsed:8.0%}")

    per_file = []
    for path, raw in zip(paths, mails, strict=True):
        started = time.perf_counter()
        for _ in range(50):
            classify(raw)
        per_file.append(((time.perf_counter() - started) / 50 * 1e3, path.name))
    print("\nslowest files (ms per classification):")
    for ms, name in sorted(per_file, reverse=True)[:5]:
        print(f"  {ms:6.2f}  {name}")

    ok = classified >= TARGET
    verdict = "ok" if ok else "TOO SLOW"
    print(f"\n{verdict}: {classified:.0f} mails/s classified (target ≥ {TARGET})")
    if args.events:
        if cores:
            os.sched_setaffinity(0, cores)  # the receiver's threads and the database may spread
        measure_storage(args.events, args.connections, args.database_url)
    return 0 if ok else 1


# -------------------------------------------------------------- events stored per second


def _ledger(app, readers: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Readers on a list, a send whose every row went out; each reader's (address, VERP)."""
    import io

    from sqlalchemy import select, update

    from service.db import utcnow
    from service.sending.models import Delivery
    from service.sending.sends import create_send, start_send
    from service.subscribers.importer import import_csv
    from service.subscribers.lists import create_list
    from service.subscribers.models import Subscriber
    from service.tokens import TokenSigner

    db, config = app.extensions["db"], app.config["NEWSLETTER"]
    with db.session() as session:
        mailing_list = create_list(session, "bench", "Bench")
    rows = "".join(f"reader{n}@example.com\n" for n in range(readers))
    import_csv(db, io.StringIO("email\n" + rows), mailing_list, confirmed=True)
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().by_slug("2026-09-14"))
    signer = TokenSigner(config.secret_key)
    with db.session() as session:
        send = create_send(session, compiled, [mailing_list], mail_from=config.mail_from)
        start_send(session, send)
        session.execute(update(Delivery).where(Delivery.send_id == send.id).values(
            status="sent", sent_at=utcnow(), attempts=1))
        pairs = session.execute(select(Subscriber.email, Delivery.id).join(
            Delivery, Delivery.subscriber_id == Subscriber.id)).all()
    return [(email_address,
             f"bounces+{signer.sign_short('verp', (delivery_id,))}@{config.bounce_domain}")
            for email_address, delivery_id in pairs]


def _push(port: int, mails: list[tuple[str, bytes]], connections: int) -> float:
    """Seconds to send every (recipient, message) over ``connections`` SMTP connections."""
    import smtplib
    from concurrent.futures import ThreadPoolExecutor

    def one_connection(share: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for recipient, raw in share:
                smtp.sendmail("", [recipient], raw)

    shares = [mails[n::connections] for n in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(one_connection, shares))
    return time.perf_counter() - started


class _NullHandler:
    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        return "250 OK"


def measure_storage(events: int, connections: int, database_url: str) -> None:
    import tempfile
    from dataclasses import replace

    from aiosmtpd.controller import Controller
    from sqlalchemy import func, select

    from service import create_app, migrate
    from service.bounces.models import BounceEvent
    from service.config import load_config
    from service.inbound import InboundServer
    from tests.bounces.ledger import dsn
    from tests.smtp_sink import free_port

    folder = Path(tempfile.mkdtemp(prefix="bench-bounces-"))
    config = replace(
        load_config({"NEWSLETTER_ENV": "development"}), instance_dir=folder,
        database_url=database_url or f"sqlite:///{folder / 'bench.sqlite3'}",
        secret_key="bench-secret-key", bounce_domain="bounces.example.org",
        mail_from="Bench <news@news.example.org>")
    app = create_app(config)
    migrate.upgrade(app.extensions["db"].engine)
    mails = [(verp, dsn(address, to=verp)) for address, verp in _ledger(app, events)]
    print(f"\n{len(mails)} DSNs ({sum(len(m) for _, m in mails) / len(mails) / 1024:.1f} KB on"
          f" average) by SMTP over {connections} connection(s), database"
          f" {app.extensions['db'].engine.url.get_backend_name()}")

    null_port, receiver_port = free_port(), free_port()
    null = Controller(_NullHandler(), hostname="127.0.0.1", port=null_port)
    null.start()
    try:
        null_seconds = _push(null_port, mails, connections)
    finally:
        null.stop()
    receiver = InboundServer(app, "127.0.0.1", receiver_port)
    receiver.start()
    try:
        stored_seconds = _push(receiver_port, mails, connections)
    finally:
        receiver.stop()
    with app.extensions["db"].session() as session:
        stored = session.scalar(select(func.count()).select_from(BounceEvent)) or 0
    app.extensions["signups"].stop()
    app.extensions["outbox"].stop()
    app.extensions["db"].dispose()
    shutil.rmtree(folder, ignore_errors=True)
    assert stored == len(mails), f"only {stored} of {len(mails)} events were stored"
    null_rate, stored_rate = len(mails) / null_seconds, stored / stored_seconds
    print(f"null aiosmtpd handler   {null_rate:8.0f} mails/s")
    print(f"inbound receiver        {stored_rate:8.0f} events/s stored"
          f"  ({1e3 / stored_rate:.2f} ms/event)")
    print(f"receiver / null         {stored_rate / null_rate:8.0%}")


if __name__ == "__main__":
    sys.exit(main())
