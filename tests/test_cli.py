"""The ``newsletter`` command, run the way an editor runs it."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from service import migrate
from service.cli import main
from service.config import PROJECT_ROOT
from tests.conftest import SEEDS_DIR


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "NEWSLETTER_INSTANCE_DIR": str(tmp_path / "instance"),
        "NEWSLETTER_BASE_URL": "https://news.example.org",
        "NEWSLETTER_ISSUES_DIR": str(PROJECT_ROOT / "issues"),
        "NEWSLETTER_MAIL_FROM": "嵌入式AI简报 <news@example.org>",
    }


def run(env: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_issues_list_prints_newest_first(env: dict[str, str]) -> None:
    result = run(env, "issues", "list")
    assert result.exit_code == 0
    lines = result.stdout.strip().split("\n")
    assert lines[0].startswith("2026-10-12  mcu-vision-talk  演讲实录")
    assert lines[-1].startswith("2026-09-14  2026-09-14  嵌入式AI简报 (2026-09-14)")


def test_issues_list_names_bad_files_and_still_lists_the_rest(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "issues"
    folder.mkdir()
    (folder / "2026-01-01.md").write_text("# 好的一期 (2026-01-01)\n\n正文\n", encoding="utf-8")
    (folder / "bad.md").write_bytes(b"---\ntitle: [\n---\n")
    result = run(env | {"NEWSLETTER_ISSUES_DIR": str(folder)}, "issues", "list")
    assert result.exit_code == 1
    assert "好的一期" in result.stdout
    assert result.stderr.startswith("error: bad.md: invalid front matter at line 2")


def test_render_eml_of_a_sample_issue(env: dict[str, str]) -> None:
    result = run(env, "render", "2026-09-28", "--format", "eml", "--to", "Reader@Example.com")
    assert result.exit_code == 0
    message = email.message_from_bytes(result.stdout_bytes, policy=email.policy.default)
    assert message["Subject"] == "嵌入式AI简报 (2026-09-28)"
    assert message["From"].addresses[0].addr_spec == "news@example.org"
    assert message["To"] == "Reader@example.com"
    assert message["List-Unsubscribe"].startswith("<https://news.example.org/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"].endswith("@example.org>") and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    assert "舱驾一体" in text and message["List-Unsubscribe"][1:-1] in text
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_content_charset() == "utf-8"


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_render_html_and_text_by_path(env: dict[str, str], fmt: str) -> None:
    result = run(
        env, "render", str(PROJECT_ROOT / "issues" / "2026-10-12-talk.md"), "--format", fmt
    )
    assert result.exit_code == 0
    assert "256KB" in result.stdout
    assert ("<html" in result.stdout) == (fmt == "html")


def test_render_refuses_bad_input_with_one_line(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"\xff\xfe\x00")
    result = run(env, "render", str(bad))
    assert result.exit_code == 1 and "bad.md: not UTF-8" in result.stderr
    assert "Traceback" not in result.output
    result = run(env, "render", "2026-09-14", "--format", "eml", "--to", "not an address")
    assert result.exit_code == 1 and "not a valid email address" in result.stderr
    result = run(env, "render", "no-such-slug")
    assert result.exit_code == 1 and "no issue file or slug" in result.stderr


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason="../shared/seeds is absent")
def test_render_a_seed_warns_about_its_missing_image(env: dict[str, str]) -> None:
    result = run(env, "render", str(SEEDS_DIR / "002_d3a8b24e4a4f9604.txt"), "--format", "eml")
    assert result.exit_code == 0
    assert "asset not found in the issues folder: wechat_qrcode.jpg" in result.stderr


def test_db_upgrade_migrates_the_configured_database(
    env: dict[str, str], database_url: str
) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    result = run(env | {"NEWSLETTER_DATABASE_URL": database_url}, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert migrate.current_revision(engine) == migrate.head_revision() is not None
    engine.dispose()


def test_a_file_with_no_title_is_listed_rendered_and_warned_about(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "issues"
    folder.mkdir()
    (folder / "2026-03-04-talk.md").write_text(
        "各位好，今天讲的是端侧推理。\n第一部分：量化。\n第二部分：部署。\n", encoding="utf-8"
    )
    env = env | {"NEWSLETTER_ISSUES_DIR": str(folder)}
    listed = run(env, "issues", "list")
    assert listed.exit_code == 0
    assert listed.stdout.startswith("2026-03-04  2026-03-04-talk  各位好，今天讲的是端侧推理。")
    assert listed.stderr.startswith("warning: 2026-03-04-talk.md: no title")
    rendered = run(env, "render", "2026-03-04-talk", "--format", "text")
    assert rendered.exit_code == 0 and "warning: 2026-03-04-talk.md: no title" in rendered.stderr
    assert "第一部分：量化。" in rendered.stdout and "各位好" in rendered.stdout


def test_lists_create_takes_any_name_as_text(env: dict[str, str]) -> None:
    result = run(env, "lists", "create", "weekly", "--name", "News: weekly\nsubject: x", "--language", "en")
    assert result.exit_code == 0, result.output
    listed = run(env, "lists")
    assert "weekly  News: weekly subject: x  [en, double opt-in]" in listed.stdout


def test_commands_told_nothing_run_as_production_and_refuse_the_dev_key(
    env: dict[str, str]
) -> None:
    result = run(env | {"NEWSLETTER_ENV": None}, "issues", "list")  # type: ignore[dict-item]
    assert result.exit_code == 1
    assert "production refuses the development secret key" in result.stderr


def test_render_eml_is_signed_as_the_reader_would_get_it(env: dict[str, str], tmp_path: Path) -> None:
    import dkim
    from cryptography.hazmat.primitives.asymmetric import rsa

    from service.sending.dkim_signing import public_key_record
    from tests.sending.test_dkim import dns_for, write_key

    pem = write_key(tmp_path / "dkim.pem", rsa.generate_private_key(65537, 2048))
    signed_env = env | {"NEWSLETTER_DKIM_SELECTOR": "news",
                        "NEWSLETTER_DKIM_KEY_FILE": str(tmp_path / "dkim.pem")}
    run(signed_env, "lists", "create", "weekly", "--name", "Weekly")
    result = run(signed_env, "render", "2026-09-28", "--format", "eml", "--to", "a@example.com")
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes
    assert raw.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    dns = dns_for({b"news._domainkey.example.org.": public_key_record(pem)})
    assert dkim.verify(raw, dnsfunc=dns)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["List-Id"] == "<weekly.example.org>"
