#!/usr/bin/env python3
"""The send progress page's polling endpoint under load, on one gunicorn worker.

    .venv/bin/python bench/progress.py [--deliveries 100000] [--seconds 10] [--clients 8]
                                       [--worker-class sync]

It makes a fresh PostgreSQL schema with a send of --deliveries readers, half of them sent
over the last two minutes (so the rate and ETA have something to compute), starts gunicorn
with ONE worker of --worker-class (sync by default; gthread with 4 threads on request),
logs in as an admin, and for --seconds each runs --clients concurrent clients against:
  (a) a trivial endpoint on the same worker (/healthz when the app has it, else a static
      file of the admin console) as the same-run reference;
  (b) /admin/sends/<id>/progress, the fragment the progress page polls every second.
It prints requests/s for each and the ratio. Goal: (b) >= 500 requests/s.

The clients are separate processes sending pre-built requests over raw sockets (a new
connection per request, as a sync worker closes each one), so they cost the machine little.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
ADMIN = ("bench-admin@example.org", "bench admin password 123")
THREADS_PER_PROCESS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def prepare(env: dict[str, str], schema: str, deliveries: int) -> int:
    """Schema, an admin, a list of ``deliveries`` readers and a send half-way through."""
    import psycopg

    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    os.environ.update(env)
    from sqlalchemy import text

    from service import create_app, migrate
    from service.admin.users import create_admin_user
    from service.sending.sends import create_send, start_send
    from service.subscribers.importer import import_csv
    from service.subscribers.lists import create_list

    app = create_app()
    db = app.extensions["db"]
    migrate.upgrade(db.engine)
    with db.session() as session:
        create_admin_user(session, ADMIN[0], "admin", ADMIN[1])
        mailing_list = create_list(session, "bench", "Bench")
    rows = "".join(f"s{n}@example.com,读者{n}\n" for n in range(deliveries))
    import_csv(db, io.StringIO("email,name\n" + rows), mailing_list, confirmed=True)
    library = app.extensions["issues"]
    compiled = library.compiled(library.collection().issues[-1])
    config = app.config["NEWSLETTER"]
    with db.session() as session:
        send = create_send(session, compiled, [mailing_list], mail_from=config.mail_from)
        start_send(session, send)
        send_id = send.id
    with db.session() as session:
        # Half sent, spread over the last two minutes; a few deferred and failed.
        session.execute(text(
            "UPDATE delivery SET status = 'sent', attempts = 1, last_reply = '250 ok',"
            " sent_at = now() - (random() * interval '120 seconds')"
            " WHERE send_id = :s AND id % 2 = 0"), {"s": send_id})
        session.execute(text("UPDATE delivery SET status = 'deferred' WHERE send_id = :s"
                             " AND id % 97 = 1"), {"s": send_id})
        session.execute(text("UPDATE delivery SET status = 'failed' WHERE send_id = :s"
                             " AND id % 101 = 1"), {"s": send_id})
    db.dispose()
    # What autovacuum does after a batch of updates this size: fresh statistics and a
    # visibility map, so the count is an index-only scan as on a live server.
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f'VACUUM ANALYZE "{schema}".delivery')
    return send_id


def log_in(port: int) -> str:
    """The session cookie of a logged-in admin."""
    import requests

    base = f"http://127.0.0.1:{port}"
    with requests.Session() as session:
        page = session.get(f"{base}/admin/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        answer = session.post(f"{base}/admin/login", allow_redirects=False, data={
            "csrf_token": token, "email": ADMIN[0], "password": ADMIN[1]})
        if answer.status_code != 302:
            raise RuntimeError(f"login failed: {answer.status_code}")
        return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _client(port: int, request: bytes, deadline: float, counts: list[int], bad: list[int]) -> None:
    done = failed = 0
    while time.perf_counter() < deadline:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(request)
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        head = b"".join(chunks[:1])[:12]
        if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
            done += 1
        else:
            failed += 1
    counts.append(done)
    bad.append(failed)


def _process(port: int, request: bytes, start_at: float, seconds: float, out) -> None:  # type: ignore[no-untyped-def]
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = time.perf_counter() + seconds
    counts: list[int] = []
    bad: list[int] = []
    threads = [threading.Thread(target=_client, args=(port, request, deadline, counts, bad))
               for _ in range(THREADS_PER_PROCESS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((sum(counts), sum(bad)))


def hammer(port: int, path: str, cookie: str, clients: int, seconds: float) -> tuple[float, int]:
    """Requests/s answered 200 by ``path`` under ``clients`` concurrent clients."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
               f"HX-Request: true\r\nConnection: close\r\n\r\n").encode()
    out: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 0.5
    processes = [multiprocessing.Process(target=_process, args=(port, request, start_at, seconds, out))
                 for _ in range(max(1, clients // THREADS_PER_PROCESS))]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


def reference_path(port: int, cookie: str) -> str:
    import requests

    base = f"http://127.0.0.1:{port}"
    if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
        return "/healthz"
    return "/admin/static/vendor/htmx-2.0.11.min.js"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--app", default="service.wsgi:app", help="the WSGI app gunicorn serves")
    args = parser.parse_args()

    schema = f"bench_{secrets.token_hex(4)}"
    instance = Path(tempfile.mkdtemp(prefix="bench-progress-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update({
        "NEWSLETTER_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
        "NEWSLETTER_INSTANCE_DIR": str(instance),
        "NEWSLETTER_BASE_URL": "http://127.0.0.1",
        "NEWSLETTER_ENV": "development",
        "NEWSLETTER_SECRET_KEY": "bench-secret-bench-secret-bench-secret",
    })
    started = time.perf_counter()
    send_id = prepare(env, schema, args.deliveries)
    print(f"prepared a send of {args.deliveries:,} deliveries in {time.perf_counter() - started:.1f} s")
    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "--worker-class", args.worker_class, "--backlog", "2048",
               "--log-level", "warning", args.app]
    if args.worker_class == "gthread":
        command[-1:-1] = ["--threads", "4"]
    print("server:", " ".join(command[1:]))
    server = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    try:
        wait_http(port)
        cookie = log_in(port)
        reference = reference_path(port, cookie)
        progress = f"/admin/sends/{send_id}/progress"
        hammer(port, progress, cookie, args.clients, 1.0)  # warm up: imports, pool, templates
        ref_rate, ref_bad = hammer(port, reference, cookie, args.clients, args.seconds)
        rate, bad = hammer(port, progress, cookie, args.clients, args.seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"{args.clients} clients, {args.seconds:.0f} s each, one {args.worker_class} worker")
    print(f"(a) reference {reference}: {ref_rate:,.0f} requests/s ({ref_bad} not 200)")
    print(f"(b) progress fragment {progress}: {rate:,.0f} requests/s ({bad} not 200)")
    print(f"ratio (b)/(a): {rate / ref_rate:.2f}; goal (b) >= 500/s: {'met' if rate >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
