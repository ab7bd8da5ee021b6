#!/usr/bin/env python3
"""Render cost once per issue against personalisation cost once per recipient.

    .venv/bin/python bench/render.py [--rounds N] [--seeds]

For each sample issue in issues/ (and the seeds in ../shared/seeds with --seeds) it prints the
median ms of one full render, split into Markdown, layout and premailer; the median µs of one
personalisation, which is substitution into the precomputed pieces; their ratio, which must be
at least 1000; and, for a fuller picture, the µs and ratio when the two signed URL tokens that
each recipient also needs are minted in the same step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import load_config  # noqa: E402
from service.issues import load_issue, load_issues  # noqa: E402
from service.issues.compile import IssueRenderer  # noqa: E402
from service.issues.personalise import recipient_values  # noqa: E402
from service.sending.preview import personal_values  # noqa: E402
from service.subscribers.links import LinkBuilder  # noqa: E402
from service.tokens import TokenSigner  # noqa: E402

TARGET_RATIO = 1000


def median_us(function, repeat: int) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="renders per issue")
    parser.add_argument("--seeds", action="store_true", help="also the issues in ../shared/seeds")
    args = parser.parse_args()

    config = load_config(environ={}, env="development", base_url="https://news.example.org",
                         secret_key="bench")
    renderer = IssueRenderer(ROOT / "templates", config.base_url, config.newsletter_name)
    links = LinkBuilder(config.base_url, TokenSigner(config.secret_key))
    collection = load_issues(ROOT / "issues")
    issues = list(collection.issues)
    seeds = ROOT.parent / "shared" / "seeds"
    if args.seeds and seeds.is_dir():
        issues += [load_issue(path) for path in sorted(seeds.glob("*.txt"))]

    started = time.perf_counter()
    renderer.compile(issues[0], collection.slug_for_stem)
    first_call_ms = (time.perf_counter() - started) * 1e3
    print(f"first render in this process (cold premailer/cssutils): {first_call_ms:.1f} ms\n")
    header = (
        f"{'issue':<28} {'KB':>5} {'render ms':>9} {'md':>6} {'layout':>6} {'inline':>6}"
        f" {'subst µs':>8} {'ratio':>6} {'+tokens µs':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    worst = worst_tokens = float("inf")
    for issue in issues:
        timings = {"markdown": [], "layout": [], "premailer": [], "total": []}
        for _ in range(args.rounds):
            started = time.perf_counter()
            compiled = renderer.compile(issue, collection.slug_for_stem)
            timings["total"].append(time.perf_counter() - started)
            for stage in ("markdown", "layout", "premailer"):
                timings[stage].append(compiled.timings[stage])
        ms = {stage: statistics.median(values) * 1e3 for stage, values in timings.items()}
        compiled.personalise(recipient_values())  # split the templates once, as a send does
        values = personal_values(links, compiled, "reader@example.com", "读者", 42)
        subst_us = median_us(lambda c=compiled, v=values: c.personalise(v), 2000)
        full_us = median_us(
            lambda c=compiled: c.personalise(
                personal_values(links, c, "reader@example.com", "读者", 42)
            ),
            2000,
        )
        ratio = ms["total"] * 1e3 / subst_us
        ratio_tokens = ms["total"] * 1e3 / full_us
        worst = min(worst, ratio)
        worst_tokens = min(worst_tokens, ratio_tokens)
        size_kb = len(compiled.html.encode()) / 1024
        print(
            f"{issue.slug[:28]:<28} {size_kb:>5.0f} {ms['total']:>9.2f} {ms['markdown']:>6.2f}"
            f" {ms['layout']:>6.2f} {ms['premailer']:>6.2f} {subst_us:>8.1f} {ratio:>6.0f}"
            f" {full_us:>10.1f} {ratio_tokens:>6.0f}"
        )
    verdict = "meets" if worst >= TARGET_RATIO else "MISSES"
    print(
        f"\nlowest ratio render / personalisation: {worst:.0f} ({verdict} the target of "
        f"{TARGET_RATIO}); with token minting: {worst_tokens:.0f}"
    )
    return 0 if worst >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
