"""``newsletter bounces classify``: files in, one line or JSON object each, nothing touched."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import service
from service.bounces.cli import bounces_group

CORPUS = Path(__file__).parent / "corpus"
HARD = str(CORPUS / "qmail_nomailbox.eml")
JAPANESE = str(CORPUS / "jp_isp_iso2022jp.eml")


@pytest.fixture(autouse=True)
def no_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classifying files must never build the app (and with it, a database)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bounces CLI built the app")

    monkeypatch.setattr(service, "create_app", refuse)


def test_json_one_object_per_file_in_order(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.eml")
    result = CliRunner().invoke(bounces_group, ["classify", "--json", HARD, missing, JAPANESE])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["file"] for r in records] == [HARD, missing, JAPANESE]
    assert records[0] == {
        "file": HARD, "kind": "hard", "reason": "userunknown", "recipients": ["ivan@example.com"],
        "status": "5.1.1", "diagnostic": "Sorry, no mailbox here by that name. (#5.1.1)",
    }
    assert records[1]["kind"] == "soft" and records[1]["reason"] == "undefined"
    assert "cannot read" in records[1]["error"]
    assert "error" not in records[2]
    assert "理由" in result.output  # ensure_ascii=False: the Japanese reason as written


def test_readable_lines(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01\x02\xff")
    result = CliRunner().invoke(bounces_group, ["classify", HARD, str(garbage), str(tmp_path)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{HARD}: hard/userunknown 5.1.1 ivan@example.com")
    assert lines[1].startswith(f"{garbage}: soft/undefined error:")
    assert lines[2].startswith(f"{tmp_path}: soft/undefined error: cannot read")


def test_standard_input() -> None:
    raw = Path(HARD).read_bytes()
    result = CliRunner().invoke(bounces_group, ["classify", "--json", "-"], input=raw)
    assert json.loads(result.output)["reason"] == "userunknown"


def test_no_files_is_a_usage_error() -> None:
    assert CliRunner().invoke(bounces_group, ["classify"]).exit_code == 2


def test_classifier_modules_import_only_the_classifier() -> None:
    """No database, config or app: only stdlib, click, flufl.bounce and the classifier itself."""
    package = Path(service.__file__).parent / "bounces"
    prefixes = ("classify", "dsn", "reasons", "arf", "autoreply", "parse_")
    classifier = {
        path.stem for path in package.glob("*.py")
        if path.stem == "cli" or path.stem.startswith(prefixes)
    }
    for stem in classifier:
        tree = ast.parse((package / f"{stem}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("service"):
                assert module.removeprefix("service.bounces.") in classifier, (stem, module)
            if isinstance(node, ast.Import):
                assert not any(alias.name.startswith("service") for alias in node.names), stem
