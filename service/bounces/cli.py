"""``newsletter bounces``: classify mail files, list recorded bounces, poll the mailbox.

``classify`` reads mail files and prints what the classifier makes of each, for checking a
bounce by hand or trying the classifier on a saved mailbox. It touches nothing: it imports
only the classifier, so it runs without configuration, database or app. ``list`` and
``poll``, which need the database, live in ``service.commands.bounces``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from service.bounces.classify import Classification, classify, unreadable

bounces_group = click.Group("bounces", help="Bounces and complaints: classify, list, poll.")

DIAGNOSTIC_PREVIEW = 160  # characters of the diagnostic on a readable line


def _read(name: str) -> Classification:
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        return unreadable(f"cannot read: {exc.strerror or exc}")
    return classify(raw)


def _record(name: str, result: Classification) -> dict[str, object]:
    record: dict[str, object] = {
        "file": name,
        "kind": result.kind,
        "reason": result.reason,
        "recipients": [recipient.address for recipient in result.recipients],
        "status": result.status,
        "diagnostic": result.diagnostic,
    }
    if result.error:
        record["error"] = result.error
    return record


def _line(name: str, result: Classification) -> str:
    if result.error:
        return f"{name}: {result.kind}/{result.reason} error: {result.error}"
    addresses = ", ".join(r.address for r in result.recipients if r.address) or "-"
    line = f"{name}: {result.kind}/{result.reason} {result.status or '-'} {addresses}"
    diagnostic = " ".join(result.diagnostic.split())
    if diagnostic:
        if len(diagnostic) > DIAGNOSTIC_PREVIEW:
            diagnostic = diagnostic[: DIAGNOSTIC_PREVIEW - 1] + "…"
        line += f" | {diagnostic}"
    return line


@bounces_group.command("classify")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, in order.")
@click.argument("files", nargs=-1, required=True)
def classify_command(files: tuple[str, ...], as_json: bool) -> None:
    """Classify each mail FILE ('-' reads standard input) as hard, soft, complaint or ignore.

    Every file gets a line, even one that cannot be read; the exit status is 0 unless the
    command itself could not run.
    """
    for name in files:
        result = _read(name)
        if as_json:
            click.echo(json.dumps(_record(name, result), ensure_ascii=False))
        else:
            click.echo(_line(name, result))
