"""Loading issue files: metadata rules, and one clear line for every kind of bad file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from service.config import PROJECT_ROOT
from service.issues import IssueError, load_issues, parse_issue

ISSUES_DIR = PROJECT_ROOT / "issues"


def parse(text: str | bytes, name: str = "x.md"):  # type: ignore[no-untyped-def]
    raw = text.encode() if isinstance(text, str) else text
    return parse_issue(raw, Path(name))


def test_title_and_date_come_from_the_h1_and_the_h1_leaves_the_body() -> None:
    issue = parse("---\nlayout: default\n---\n\n# 嵌入式AI简报 (2020-01-27)\n\n**导语**\n\n正文\n")
    assert issue.title == "嵌入式AI简报 (2020-01-27)"
    assert issue.date == dt.date(2020, 1, 27)
    assert "# 嵌入式" not in issue.body and "**导语**" in issue.body
    assert issue.slug == "x"
    assert issue.subject == issue.title
    assert "layout" in issue.extra  # tolerated, not used


def test_front_matter_wins_over_heading_and_file_name() -> None:
    issue = parse(
        "---\ntitle: 特刊\ndate: 2021-02-03\nslug: Special Issue\nsubject: 主题\n"
        "preheader: 预览文字\nsend_at: 2021-02-03 08:00:00+08:00\n---\n# 另一个标题 2020-01-01\n\n正文\n",
        "2019-05-06.md",
    )
    assert (issue.title, issue.date, issue.slug) == ("特刊", dt.date(2021, 2, 3), "special-issue")
    assert (issue.subject, issue.preheader) == ("主题", "预览文字")
    assert issue.send_at == dt.datetime(2021, 2, 3, 0, 0, tzinfo=dt.UTC)
    assert "# 另一个标题" in issue.body  # it was not the title, so it stays


def test_date_from_the_file_name_when_the_title_has_none() -> None:
    issue = parse("# 一期没有日期的标题\n\n正文\n", "2022-11-05.md")
    assert issue.date == dt.date(2022, 11, 5)


def test_naive_send_at_is_read_in_the_given_timezone() -> None:
    from zoneinfo import ZoneInfo

    issue = parse_issue(
        b"---\nsend_at: 2026-09-28T08:00\n---\n# T 2026-09-28\n\nx\n",
        Path("a.md"),
        ZoneInfo("Asia/Shanghai"),
    )
    assert issue.send_at is not None
    assert issue.send_at.utcoffset() == dt.timedelta(hours=8)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "x.md: empty file"),
        (b"  \n\n", "x.md: empty file"),
        (b"# T 2020-01-01\n\n\xff\xfe bad", "x.md: not UTF-8 (byte 0xff at offset 16)"),
        (b"---\ntitle: [unclosed\n---\nbody\n", "x.md: invalid front matter at line 2"),
        (b"---\ntitle: a\n  bad: indent\n---\nbody\n", "x.md: invalid front matter at line 3"),
        (b"---\ntitle: a\n", "x.md: front matter opened with '---' on line 1 is never closed"),
        (b"---\n- a list\n---\nbody\n", "x.md: front matter must be a mapping"),
        (b"no title here, just one long paragraph of text\nthat goes on", "x.md: no date"),
        (b"# Title without a date\n\nbody\n", "x.md: no date"),
        (b"---\ndate: someday\n---\n# T\n\nbody", "x.md: front matter 'date' is not a date"),
        (
            b"---\nsend_at: soon\n---\n# T 2020-01-01\n\nb",
            "x.md: front matter 'send_at' is not an ISO",
        ),
        (b"# T 2020-01-01\n\nok\x00bad\n", "x.md: control character U+0000 at line 3"),
        (b"# T 2020-01-01\n", "x.md: the issue has a title but no content"),
        (b"---\ntitle: {a: 1}\n---\nx 2020-01-01", "x.md: front matter 'title' must be text"),
    ],
)
def test_bad_files_get_one_clear_line(raw: bytes, expected: str) -> None:
    with pytest.raises(IssueError) as caught:
        parse(raw)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "2020-01-01.md").write_text("# 第一期 (2020-01-01)\n\n内容\n", encoding="utf-8")
    (tmp_path / "2020-02-01.md").write_text("# 第二期 (2020-02-01)\n\n内容\n", encoding="utf-8")
    (tmp_path / "broken.md").write_bytes(b"---\ntitle: [\n---\n")
    (tmp_path / "latin1.md").write_bytes("# Caf\xe9 2020-03-01\n\nx".encode("latin-1"))
    (tmp_path / "dup.md").write_text("---\nslug: 2020-01-01\n---\n# Dup 2020-04-01\n\nx\n")
    collection = load_issues(tmp_path)
    assert [issue.slug for issue in collection.issues] == ["2020-02-01", "2020-01-01"]
    problems = sorted(str(error) for error in collection.errors)
    assert problems[0].startswith("broken.md: invalid front matter at line 2")
    assert problems[1] == "dup.md: slug '2020-01-01' is already used by 2020-01-01.md"
    assert problems[2].startswith("latin1.md: not UTF-8")


def test_sample_issues_load_newest_first() -> None:
    collection = load_issues(ISSUES_DIR)
    assert collection.errors == []
    dates = [issue.date for issue in collection.issues]
    assert dates == sorted(dates, reverse=True) and len(dates) >= 3
    talk = collection.by_slug("mcu-vision-talk")
    assert talk is not None and talk.long_form
    assert not collection.by_slug("2026-09-14").long_form  # type: ignore[union-attr]


def test_plain_text_issue_takes_its_first_line_as_title() -> None:
    issue = parse("周报 (2020-03-04)\n\n第一段。\n第二段。\n")
    assert (issue.title, issue.date, issue.long_form) == (
        "周报 (2020-03-04)",
        dt.date(2020, 3, 4),
        True,
    )


def test_a_file_with_no_title_anywhere_takes_its_first_line_and_keeps_its_body() -> None:
    """A talk transcript: one paragraph per line, no heading, no blank line after line one."""
    lines = [
        "今天我想和大家聊一聊在只有 256KB 内存的微控制器上运行视觉模型这件事，这是一段很长的开场白，"
        "从传感器讲到模型，再从模型讲到部署，一口气讲完。",
        "第二段：量化与剪枝。",
        "第三段：部署。",
    ]
    issue = parse("\n".join(lines) + "\n", "2026-10-12-talk.md")
    assert issue.title.startswith("今天我想和大家聊一聊") and issue.title.endswith("…")
    assert len(issue.title) <= 60
    assert issue.body.strip().split("\n") == lines  # the body loses nothing
    assert issue.date == dt.date(2026, 10, 12)
    [warning] = issue.warnings
    assert warning.startswith("2026-10-12-talk.md: no title") and "first line" in warning


def test_the_fallback_title_is_text_and_else_the_file_name() -> None:
    issue = parse("**Hello** [world](https://x.org) <b>again</b>\nmore text\n", "2020-05-06.md")
    assert issue.title == "Hello world again" and len(issue.warnings) == 1
    issue = parse('<div class="x">\n![](a.png)\n</div>\n', "2020-05-06 talk.md")
    assert issue.title == "2020-05-06 talk" and "file name" in issue.warnings[0]
    titled = parse("# T 2020-01-01\n\nbody\n")
    assert titled.warnings == ()


def test_load_issues_collects_the_warnings(tmp_path: Path) -> None:
    (tmp_path / "2020-01-01.md").write_text("# 第一期 (2020-01-01)\n\n内容\n", encoding="utf-8")
    (tmp_path / "2020-02-01.md").write_text("第一行\n第二行\n", encoding="utf-8")
    collection = load_issues(tmp_path)
    assert collection.errors == [] and len(collection.issues) == 2
    assert [w.split(":")[0] for w in collection.warnings] == ["2020-02-01.md"]
