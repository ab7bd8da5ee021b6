"""The corpus of hand-written bounces: every file classifies as its manifest says.

Each ``.eml`` in ``corpus/`` is modelled on what one MTA or provider sends; ``expected.json``
holds, per file, the sender's name, a note, and the expected kind, reason, recipients and the
other fields. The same mail with CRLF or bare-CR line endings must give the same answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.bounces.classify import Classification, classify

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
FILES = sorted(EXPECTED)
CHECKED_FIELDS = ("status", "verp_local", "message_id", "list_id", "feedback_type")


def _classify(name: str) -> Classification:
    return classify((CORPUS / name).read_bytes())


def test_manifest_lists_every_corpus_file() -> None:
    assert sorted(path.name for path in CORPUS.glob("*.eml")) == FILES


@pytest.mark.parametrize("name", FILES)
def test_corpus_file(name: str) -> None:
    expected = EXPECTED[name]
    result = _classify(name)
    assert (result.kind, result.reason) == (expected["kind"], expected["reason"]), result
    assert [r.address for r in result.recipients] == expected["recipients"]
    for field in CHECKED_FIELDS:
        if field in expected:
            assert getattr(result, field) == expected[field], field
    assert result.error == ""


@pytest.mark.parametrize("name", FILES)
def test_line_endings_do_not_matter(name: str) -> None:
    lf = (CORPUS / name).read_bytes()
    assert b"\r" not in lf
    answer = classify(lf)
    assert classify(lf.replace(b"\n", b"\r\n")) == answer
    assert classify(lf.replace(b"\n", b"\r")) == answer


def test_temporary_failures_are_never_hard() -> None:
    for name in FILES:
        result = _classify(name)
        temporary = result.status.startswith("4") or any(
            r.status.startswith("4") or r.action == "delayed" for r in result.recipients
        )
        if temporary or result.reason in ("delayed", "expired"):
            assert result.kind != "hard", name


def test_corpus_covers_what_it_must() -> None:
    """Guards the corpus against edits that would drop a required case."""
    entries = EXPECTED.values()
    assert len(FILES) >= 30
    senders = {entry["mta"].split(" (")[0] for entry in entries if not entry["mta"].startswith("(")}
    assert len(senders) >= 25

    def has(**fields: str) -> bool:
        return any(all(entry[k] == v for k, v in fields.items()) for entry in entries)

    assert has(kind="ignore", reason="delayed")
    assert has(kind="ignore", reason="delivered")
    assert has(kind="soft", reason="mailboxfull", status="5.2.2")
    assert has(kind="soft", reason="spamdetected")
    assert has(kind="complaint", reason="feedback", feedback_type="abuse")
    assert has(kind="hard", reason="notaccept")
    assert has(kind="hard", reason="hasmoved")
    assert has(kind="hard", reason="hostunknown")
    assert has(kind="soft", reason="authfailure")
    assert has(kind="soft", reason="mesgtoobig")
    assert has(kind="soft", reason="expired")
    assert has(kind="ignore", reason="undefined")
    assert has(verp_local="")
    assert has(verp_local="bounces+MTIz.abc-_XY")
    vacations = [name for name in FILES if EXPECTED[name]["reason"] == "vacation"]
    assert any("_zh" in name for name in vacations) and len(vacations) >= 2
    assert any(EXPECTED[name]["kind"] == "hard" for name in FILES if "truncated" in name)
    undecodable = [n for n in FILES if not _is_utf8((CORPUS / n).read_bytes())]
    assert len(undecodable) >= 2  # GBK and KOI8-R as raw 8-bit bytes
    declared = {
        match.lower()
        for name in FILES
        for match in re.findall(rb'charset="?([\w-]+)', (CORPUS / name).read_bytes(), re.I)
    }
    assert {b"gbk", b"gb2312", b"gb18030", b"iso-2022-jp", b"iso-8859-1"} <= declared


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
