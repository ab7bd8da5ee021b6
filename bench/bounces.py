#!/usr/bin/env python3
"""Bounce classification throughput on one core, against plain parsing of the same mail.

    .venv/bin/python bench/bounces.py [--seconds 3]

It classifies the test corpus (tests/bounces/corpus/*.eml) over and over for --seconds in one
process pinned to one CPU, then does the same with the stdlib's ``email.message_from_bytes``
alone, the floor any classifier built on it pays. It prints mails/s for both, their ratio and
the per-mail cost, then the five slowest corpus files. Target: at least 500 mails/s
classified; the exit status is 1 below it.
"""

from __future__ import annotations

import argparse
import email
import os
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
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
