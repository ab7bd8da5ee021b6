"""CSV import and export, through the CLI as an editor runs them, on both databases."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service.cli import main
from service.subscribers.models import Subscriber, Subscription

MESSY_CSV = (
    "Email,Name,City\n"  # line 1: header, any case
    "alice@example.com,Alice,Beijing\n"  # 2
    "not-an-address,Bob,Shanghai\n"  # 3: invalid
    "ALICE@Example.com,Alice again,\n"  # 4: mixed-case duplicate of line 2
    ",,\n"  # 5: empty
    "\n"  # 6: blank line
    "carol@bücher.example,卡罗尔,Shenzhen\n"  # 7: internationalised domain
    "dave@example.com,=HYPERLINK(\"http://evil.example\"),\n"  # 8: a formula in a name
    "eve@@example.com,Eve,\n"  # 9: invalid
).encode() + b"frank\xff@example.com,Frank,\n" + (  # 10: broken bytes
    b"grace@example.org,\"Grace\r\nBcc: x@example.com\",\n"  # 11-12: a quoted line break
    b"Heidi@Example.org,Heidi,Hangzhou\n"  # 13
)


@pytest.fixture
def cli(config, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        "NEWSLETTER_DATABASE_URL": config.database_url,
        "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance"),
    }

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    assert run("lists", "create", "news", "--name", "嵌入式AI简报").exit_code == 0
    assert run("lists", "create", "copy", "--name", "Copy", "--language", "en").exit_code == 0
    return run


def test_import_reports_bad_rows_by_line_and_imports_the_rest(cli, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "subscribers.csv"
    path.write_bytes(MESSY_CSV)
    result = cli("subscribers", "import", str(path), "--list", "news", "--confirmed")
    assert result.exit_code == 0, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [e.split(":")[0] for e in errors] == ["line 3", "line 5", "line 6", "line 9", "line 10"]
    assert "invalid address 'not-an-address'" in errors[0] and "empty row" in errors[1]
    assert "not UTF-8" in errors[4]
    assert "11 rows: 5 new subscribers, 5 added to news, 1 duplicates, 5 bad rows" in result.stdout

    db = app.extensions["db"]
    with db.session() as session:
        people = {s.email: s for s in session.scalars(select(Subscriber))}
        assert sorted(people) == [
            "Heidi@example.org", "alice@example.com", "carol@bücher.example", "dave@example.com",
            "grace@example.org",
        ]
        assert people["alice@example.com"].name == "Alice"  # the first of the duplicates wins
        assert people["alice@example.com"].attributes == {"city": "Beijing"}
        assert people["grace@example.org"].name == "Grace Bcc: x@example.com"
        assert people["dave@example.com"].name == '=HYPERLINK("http://evil.example")'
        assert {s.status for s in people.values()} == {"confirmed"}

    again = cli("subscribers", "import", str(path), "--list", "news", "--confirmed")
    assert "0 new subscribers, 0 added to news" in again.stdout  # idempotent


def test_reimport_never_resubscribes_someone_who_left(cli, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "one.csv"
    path.write_text("email\nleaver@example.com\n")
    cli("subscribers", "import", str(path), "--list", "news", "--confirmed")
    db = app.extensions["db"]
    with db.session() as session:
        session.scalars(select(Subscription)).one().status = "unsubscribed"
    cli("subscribers", "import", str(path), "--list", "news", "--confirmed")
    with db.session() as session:
        assert session.scalars(select(Subscription)).one().status == "unsubscribed"


def test_export_guards_formulas_and_round_trips(cli, app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "subscribers.csv"
    source.write_bytes(MESSY_CSV)
    cli("subscribers", "import", str(source), "--list", "news", "--confirmed")
    exported = cli("subscribers", "export", "--list", "news")
    assert exported.exit_code == 0 and "exported 5 subscribers" in exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    by_email = {row["email"]: row for row in rows}
    assert by_email["dave@example.com"]["name"] == "'=HYPERLINK(\"http://evil.example\")"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())

    copy = tmp_path / "export.csv"
    copy.write_text(exported.stdout, encoding="utf-8")
    reimported = cli("subscribers", "import", str(copy), "--list", "copy", "--confirmed")
    assert "0 new subscribers, 5 added to copy, 0 duplicates, 0 bad rows" in reimported.stdout
    again = list(csv.DictReader(io.StringIO(cli("subscribers", "export", "--list", "copy").stdout)))
    keep = ("email", "name", "status", "list_status", "attributes")
    assert [{k: r[k] for k in keep} for r in again] == [{k: r[k] for k in keep} for r in rows]

    pending = cli("subscribers", "export", "--list", "news", "--status", "pending")
    assert pending.stdout.strip().count("\n") == 0  # the header only


def test_lists_show_counts_and_refuse_bad_slugs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "two.csv"
    path.write_text("a@example.com,A\nb@example.com,B\n")
    result = cli("subscribers", "import", str(path), "--list", "news")
    assert "2 new subscribers, 2 added to news" in result.stdout  # no header: email,name
    listing = cli("lists")
    assert "news  嵌入式AI简报  [zh-CN, double opt-in]  confirmed=0 pending=2 unsubscribed=0" in listing.stdout
    assert cli("lists", "create", "Bad Slug", "--name", "x").exit_code == 1
    assert cli("lists", "create", "news", "--name", "again").exit_code == 1
    assert cli("subscribers", "import", str(path), "--list", "nope").exit_code == 1
