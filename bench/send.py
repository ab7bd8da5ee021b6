#!/usr/bin/env python3
"""End-to-end send throughput against the raw SMTP limit and a naive sender, in one run.

    .venv/bin/python bench/send.py [--subscribers 100000] [--small 10000] [--workers 2]
    .venv/bin/python bench/send.py --dkim [--small 10000]

Into one fast local sink (Postfix's smtp-sink; an aiosmtpd sink when it is absent) it runs:
  (a) raw: one pre-built message pushed with plain smtplib.sendmail over --workers persistent
      connections, one process each;
  (b) naive: per message, a full render (Markdown, layout, premailer) and a new connection;
  (c) the service: a send of a seed-sized issue to generated subscribers through PostgreSQL,
      Redis and --workers Celery worker processes, timed from enqueue to 'finished', run for
      --small and --subscribers recipients; each worker's peak RSS is read from /proc.
It prints messages/s for each, the ratios, and the RSS figures. Targets: (c) >= 100% of (a),
(c) >= 10x (b), worker RSS within 20% between the two sizes.

With --dkim, (c) runs three times on --small recipients instead: without DKIM, with an
RSA-2048 signature, and with RSA-2048 plus Ed25519; it prints each against the first.
Target: RSA DKIM >= 0.6x of no DKIM.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEED = ROOT.parent / "shared" / "seeds" / "002_d3a8b24e4a4f9604.txt"
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_sink() -> tuple[subprocess.Popen | None, object, int, str]:
    port = free_port()
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if Path(binary).exists():
        process = subprocess.Popen([binary, "-u", "nobody", f"127.0.0.1:{port}", "1000"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        return process, None, port, "Postfix smtp-sink"
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink(port, pipelining=True).start()
    return None, sink, port, "aiosmtpd sink"


def _raw_worker(port: int, data: bytes, count: int, out: multiprocessing.Queue) -> None:
    smtp = smtplib.SMTP("127.0.0.1", port)
    started = time.perf_counter()
    for n in range(count):
        smtp.sendmail("bounces@example.org", [f"raw{n}@example.com"], data)
    out.put(time.perf_counter() - started)
    smtp.quit()


def _naive_worker(port: int, count: int, out: multiprocessing.Queue) -> None:
    from service.config import PROJECT_ROOT
    from service.issues import load_issue
    from service.issues.compile import IssueRenderer
    from service.issues.personalise import recipient_values
    from service.mail.message import Envelope, build_message

    renderer = IssueRenderer(PROJECT_ROOT / "templates", "https://news.example.org", "Bench")
    issue = load_issue(SEED if SEED.exists() else PROJECT_ROOT / "issues" / "2026-09-14.md")
    renderer.compile(issue)  # premailer's first call is slow; do not count it
    started = time.perf_counter()
    for n in range(count):
        compiled = renderer.compile(issue)  # the mistake: rendering per recipient
        html, text = compiled.personalise(recipient_values(email=f"naive{n}@example.com"))
        message = build_message(compiled, Envelope("Bench <news@example.org>", f"naive{n}@example.com"), html, text)
        smtp = smtplib.SMTP("127.0.0.1", port)  # and a connection per message
        smtp.sendmail("news@example.org", [f"naive{n}@example.com"], message.as_bytes())
        smtp.quit()
    out.put(time.perf_counter() - started)


def stop_all(service: Service, sink_process: subprocess.Popen | None, sink: object) -> None:
    service.close()
    if sink_process:
        sink_process.kill()
    if sink:
        sink.stop()  # type: ignore[attr-defined]


def run_parallel(target, args_for, processes: int) -> float:  # type: ignore[no-untyped-def]
    out: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=target, args=(*args_for(i), out)) for i in range(processes)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    times = [out.get() for _ in workers]
    return max(max(times), 1e-9) if times else elapsed


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Service:
    """A fresh schema, a private Redis, and Celery worker processes on the project's settings."""

    def __init__(self, sink_port: int, workers: int) -> None:
        self.schema = f"bench_{secrets.token_hex(4)}"
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.redis_port)
        self.instance = Path(tempfile.mkdtemp(prefix="bench-send-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        self.env.update({
            "NEWSLETTER_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{self.schema}",
            "NEWSLETTER_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
            "NEWSLETTER_INSTANCE_DIR": str(self.instance),
            "NEWSLETTER_BASE_URL": "https://news.example.org",
            "NEWSLETTER_ENV": "development",
            "NEWSLETTER_SECRET_KEY": "bench-secret-bench-secret-bench-secret",
            "NEWSLETTER_BOUNCE_DOMAIN": "bounces.example.org",
            "NEWSLETTER_SEND_BATCH_SIZE": "500",
        })
        self.workers = workers
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{self.schema}"')
        os.environ.update(self.env)
        from service import create_app, migrate

        self.app = create_app()
        migrate.upgrade(self.app.extensions["db"].engine)

    def fill(self, count: int) -> object:
        from service.subscribers.importer import import_csv
        from service.subscribers.lists import create_list

        db = self.app.extensions["db"]
        with db.session() as session:
            mailing_list = create_list(session, f"bench{count}-{secrets.token_hex(3)}", "Bench")
        rows = io.StringIO("email,name\n" + "".join(f"s{n}@example.com,读者{n}\n" for n in range(count)))
        import_csv(db, rows, mailing_list, confirmed=True)
        return mailing_list

    def send(self, mailing_list: object, compiled: object,
             extra_env: dict[str, str] | None = None) -> tuple[float, list[float]]:
        from service.queue import enqueue
        from service.sending.models import Send
        from service.sending.sends import create_send, start_send

        processes = [
            subprocess.Popen(
                [str(Path(sys.executable).parent / "celery"), "-A", "worker", "worker",
                 "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "--loglevel=WARNING", "-n", f"bench{i}@%h"],
                env={**self.env, **(extra_env or {})}, cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            for i in range(self.workers)
        ]
        time.sleep(3.0)  # let the workers connect before the clock starts
        db, config = self.app.extensions["db"], self.app.config["NEWSLETTER"]
        with db.session() as session:
            send = create_send(session, compiled, [session.merge(mailing_list)],
                               mail_from="Bench <news@example.org>", again=True)
            start_send(session, send)
            send_id = send.id
        started = time.perf_counter()
        enqueue(config, "newsletter.send_issue", send_id)
        while True:
            with db.session() as session:
                status = session.get(Send, send_id).status
            if status != "sending":
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rss = [peak_rss_mb(p.pid) for p in processes]
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if status != "finished":
            raise RuntimeError(f"send ended {status}")
        return elapsed, rss

    def close(self) -> None:
        import psycopg

        self.app.extensions["db"].dispose()
        self.redis.kill()
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        shutil.rmtree(self.instance, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--raw", type=int, default=20_000, help="messages per raw connection")
    parser.add_argument("--naive", type=int, default=300, help="messages per naive process")
    parser.add_argument("--dkim", action="store_true", help="DKIM on against DKIM off")
    args = parser.parse_args()
    if args.dkim:
        return run_dkim(args)

    sink_process, sink, port, sink_name = start_sink()
    service = Service(port, args.workers)
    try:
        from service.issues import load_issue
        from service.issues.personalise import recipient_values
        from service.sending.assembly import MessageTemplate, Recipient

        library = service.app.extensions["issues"]
        issue = load_issue(SEED) if SEED.exists() else library.collection().by_slug("2026-09-14")
        compiled = library.renderer.compile(issue)
        values = recipient_values(email="x@example.com", unsubscribe_url="https://news.example.org/unsubscribe/" + "t" * 60)
        one = MessageTemplate(compiled, mail_from="Bench <news@example.org>").render(
            Recipient("x@example.com", "读者", "<1@example.org>", values))
        print(f"sink: {sink_name}; issue: {issue.path.name}, message {len(one) / 1024:.0f} KB;"
              f" {args.workers} connections/processes\n")

        raw_seconds = run_parallel(_raw_worker, lambda i: (port, one, args.raw), args.workers)
        raw_rate = args.raw * args.workers / raw_seconds
        print(f"(a) raw smtplib.sendmail, pre-built bytes  {raw_rate:>8,.0f} msg/s")
        naive_seconds = run_parallel(_naive_worker, lambda i: (port, args.naive), args.workers)
        naive_rate = args.naive * args.workers / naive_seconds
        print(f"(b) naive: render + connect per message    {naive_rate:>8,.0f} msg/s")

        results = {}
        for size in (args.small, args.subscribers):
            mailing_list = service.fill(size)
            seconds, rss = service.send(mailing_list, compiled)
            results[size] = (size / seconds, max(rss))
            print(f"(c) the service, {size:>9,} recipients      {size / seconds:>8,.0f} msg/s"
                  f"  ({seconds:.1f} s; worker peak RSS {', '.join(f'{r:.0f}' for r in rss)} MB)")
    finally:
        stop_all(service, sink_process, sink)

    rate, rss_big = results[args.subscribers]
    rss_small = results[args.small][1]
    growth = rss_big / rss_small - 1
    print(
        f"\nservice / raw limit  {rate / raw_rate:.2f}x  (target >= 1.0x)\n"
        f"service / naive      {rate / naive_rate:.0f}x  (target >= 10x)\n"
        f"worker peak RSS      {rss_small:.0f} MB -> {rss_big:.0f} MB ({growth:+.0%}; target within 20%)"
    )
    ok = rate >= raw_rate and rate >= 10 * naive_rate and abs(growth) <= 0.2
    return 0 if ok else 1


def dkim_env(folder: Path, ed25519_too: bool) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    def write(name: str, key) -> str:  # type: ignore[no-untyped-def]
        path = folder / name
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return str(path)

    env = {"NEWSLETTER_DKIM_SELECTOR": "bench", "NEWSLETTER_DKIM_DOMAIN": "example.org",
           "NEWSLETTER_DKIM_KEY_FILE": write("rsa.pem", rsa.generate_private_key(65537, 2048))}
    if ed25519_too:
        env.update(NEWSLETTER_DKIM_ED25519_SELECTOR="benched",
                   NEWSLETTER_DKIM_ED25519_KEY_FILE=write("ed.pem",
                                                          ed25519.Ed25519PrivateKey.generate()))
    return env


def run_dkim(args: argparse.Namespace) -> int:
    sink_process, sink, port, sink_name = start_sink()
    service = Service(port, args.workers)
    rates = {}
    try:
        from service.issues import load_issue

        library = service.app.extensions["issues"]
        issue = load_issue(SEED) if SEED.exists() else library.collection().by_slug("2026-09-14")
        compiled = library.renderer.compile(issue)
        print(f"sink: {sink_name}; issue: {issue.path.name}; {args.workers} worker processes;"
              f" {args.small:,} recipients per run\n")
        runs = {"no DKIM": {}, "RSA-2048": dkim_env(service.instance, False),
                "RSA-2048 + Ed25519": dkim_env(service.instance, True)}
        for label, env in runs.items():
            seconds, _ = service.send(service.fill(args.small), compiled, env)
            rates[label] = args.small / seconds
            print(f"{label:<20} {rates[label]:>8,.0f} msg/s  ({seconds:.1f} s)")
    finally:
        stop_all(service, sink_process, sink)
    base = rates["no DKIM"]
    for label in ("RSA-2048", "RSA-2048 + Ed25519"):
        print(f"{label} / no DKIM   {rates[label] / base:.2f}x  (target >= 0.6x)")
    return 0 if rates["RSA-2048"] >= 0.6 * base else 1


if __name__ == "__main__":
    sys.exit(main())
