#!/usr/bin/env python3
"""CSV import into PostgreSQL against a plain COPY of the same file.

    .venv/bin/python bench/import.py [--rows 1000000] [--small 100000] [--url URL]

Generates a CSV (email,name,city), then for a small and a large file: runs
``newsletter subscribers import`` in a child process (so its peak RSS is its own) into a fresh
schema, and times in the same run two references: a plain ``COPY ... FROM STDIN (FORMAT csv)``
of the same file into an unindexed table, and the database's own cost of moving the rows into
the real tables (INSERT ... SELECT from a staging table, without any Python). Prints rows/s
for all three, the ratios, and the import's peak RSS. Targets: at least 25% of COPY, under 200 MB, and the same RSS within 20% for both
sizes.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CITIES = ["Beijing", "Shanghai", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan", "Xi'an", "Nanjing"]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(rows)
    domains = [f"mail{n}.example.com" for n in range(2000)] + ["example.org", "example.net"]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,city\n")
        for n in range(rows):
            name = rng.choice(SURNAMES) + rng.choice(SURNAMES) if n % 3 else f"Reader {n}"
            out.write(f"user{n}.{rng.randrange(10**6)}@{rng.choice(domains)},{name},{rng.choice(CITIES)}\n")


def plain_copy(url: str, schema: str, path: Path) -> float:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE TABLE "{schema}".plain_copy (email text, name text, city text)')
        started = time.perf_counter()
        with connection.cursor() as cursor, path.open("rb") as source:
            with cursor.copy(
                f'COPY "{schema}".plain_copy FROM STDIN WITH (FORMAT csv, HEADER true)'
            ) as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        return time.perf_counter() - started


NEWSLETTER = str(Path(sys.executable).parent / "newsletter")


def newsletter_env(url: str, schema: str) -> dict[str, str]:
    sqlalchemy_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    env = dict(os.environ)
    env["NEWSLETTER_DATABASE_URL"] = f"{sqlalchemy_url}?options=-csearch_path%3D{schema}"
    env["NEWSLETTER_INSTANCE_DIR"] = str(Path(tempfile.gettempdir()) / f"bench-{schema}")
    subprocess.run([NEWSLETTER, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([NEWSLETTER, "lists", "create", "bench", "--name", "Bench"], env=env,
                   check=True, capture_output=True)
    return env


def schema_floor(url: str, schema: str, path: Path) -> float:
    """Seconds the database alone needs to put the rows into the real tables: the file is
    first COPYed into a staging table (untimed), then moved with INSERT ... SELECT."""
    newsletter_env(url, schema)
    with psycopg.connect(url, options=f"-csearch_path={schema}") as connection:
        connection.execute("CREATE TABLE staging (email text, name text, city text)")
        with connection.cursor() as cursor, path.open("rb") as source:
            with cursor.copy("COPY staging FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        connection.commit()
        started = time.perf_counter()
        connection.execute(
            "INSERT INTO subscriber (email, email_key, name, attributes, status,"
            " status_changed_at, status_source, created_at, source, signup_at, confirmed_at)"
            " SELECT email, lower(email), name, json_build_object('city', city), 'confirmed',"
            " now(), 'import', now(), 'import', now(), now() FROM staging"
            " ON CONFLICT (email_key) DO NOTHING"
        )
        connection.execute(
            "INSERT INTO subscription (subscriber_id, list_id, status, source, created_at,"
            " updated_at) SELECT s.id, 1, 'confirmed', 'import', now(), now() FROM staging b"
            " JOIN subscriber s ON s.email_key = lower(b.email)"
            " ON CONFLICT (subscriber_id, list_id) DO NOTHING"
        )
        connection.commit()
        return time.perf_counter() - started


def run_import(url: str, schema: str, path: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of the CLI import in a child process."""
    env = newsletter_env(url, schema)
    newsletter = NEWSLETTER
    started = time.perf_counter()
    child = subprocess.Popen(
        [newsletter, "subscribers", "import", str(path), "--list", "bench", "--confirmed"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    # wait4 gives this child's own peak RSS (ru_maxrss, in KB on Linux).
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    output = child.stdout.read() if child.stdout else ""
    if status != 0:
        sys.exit(f"import failed with status {status}")
    peak_kb = usage.ru_maxrss
    print(f"  {output.strip()}")
    return elapsed, peak_kb / 1024


def measure(url: str, rows: int, folder: Path) -> tuple[float, float, float]:
    path = folder / f"subscribers-{rows}.csv"
    generate(path, rows)
    size_mb = path.stat().st_size / 1e6
    schemas = [f"bench_{secrets.token_hex(4)}" for _ in range(3)]
    with psycopg.connect(url, autocommit=True) as connection:
        for schema in schemas:
            connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        print(f"{rows:,} rows ({size_mb:.0f} MB):")
        copy_seconds = plain_copy(url, schemas[0], path)
        floor_seconds = schema_floor(url, schemas[1], path)
        import_seconds, rss = run_import(url, schemas[2], path)
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            for schema in schemas:
                connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        path.unlink()
    copy_rate, import_rate = rows / copy_seconds, rows / import_seconds
    floor_rate = rows / floor_seconds
    print(
        f"  plain COPY into a bare table  {copy_rate:>10,.0f} rows/s ({copy_seconds:.1f} s)\n"
        f"  INSERT..SELECT into the schema{floor_rate:>10,.0f} rows/s ({floor_seconds:.1f} s)"
        f"  (the database's own floor)\n"
        f"  newsletter subscribers import {import_rate:>10,.0f} rows/s ({import_seconds:.1f} s)"
        f"  = {import_rate / copy_rate:.1%} of COPY, {import_rate / floor_rate:.0%} of the floor,"
        f" peak RSS {rss:.0f} MB"
    )
    return import_rate / copy_rate, rss, import_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        small_ratio, small_rss, _ = measure(args.url, args.small, Path(folder))
        ratio, rss, _ = measure(args.url, args.rows, Path(folder))
    growth = rss / small_rss - 1
    ok = ratio >= 0.25 and rss < 200 and abs(growth) <= 0.20
    print(
        f"\nimport/COPY {ratio:.0%} (target ≥ 25%), peak RSS {rss:.0f} MB (target < 200 MB),"
        f" RSS {args.small:,} → {args.rows:,} rows {growth:+.0%} (target within ±20%):"
        f" {'meets' if ok else 'MISSES'} the targets"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
