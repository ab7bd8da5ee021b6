"""Any input, garbage included, gives an email or the project's own IssueError: never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.config import PROJECT_ROOT
from service.issues import IssueError, parse_issue
from service.issues.compile import CompiledEmail, IssueRenderer
from service.issues.personalise import recipient_values

RENDERER = IssueRenderer(PROJECT_ROOT / "templates", "https://news.example.org", "Test")
MARKDOWN_PIECES = st.sampled_from(
    [
        "# ",
        "## ",
        "---\n",
        "- ",
        "1. ",
        "> ",
        "|",
        "|---|",
        "**",
        "_",
        "`",
        "```",
        "[",
        "](",
        ")",
        "![",
        "<a href='",
        "'>",
        "</a>",
        '<img src="../x.png">',
        "<font>",
        "<style>",
        "</style>",
        "<!--",
        "-->",
        "<table><tr><td>",
        "&amp;",
        "&#0;",
        "\n",
        "\n\n",
        "  \n",
        "中文",
        "嵌入式",
        "https://x.org/a?b=1*2&c=%3D",
        "../a.md",
        "title: ",
        "date: 2020-01-01\n",
        ":",
        "\t",
        "\r",
        "<p style='color:",
        "red}",
        "@media",
        "{",
        "}",
        "\u2028",
        "\ufeff",
        "%%NL_email%%",
    ]
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _render_or_clear_error(raw: bytes) -> None:
    try:
        issue = parse_issue(raw, Path("fuzz.md"))
        compiled = RENDERER.compile(issue)
    except IssueError as exc:
        message = str(exc)
        assert message.startswith("fuzz.md: ") and "\n" not in message
        return
    assert isinstance(compiled, CompiledEmail)
    html, text = compiled.personalise(recipient_values(email="a@b.c"))
    assert html.startswith("<!DOCTYPE html>") and text.strip()


@SETTINGS
@given(st.binary(max_size=2000))
def test_garbage_bytes(raw: bytes) -> None:
    _render_or_clear_error(raw)


@SETTINGS
@given(st.text(max_size=1500))
def test_any_text(text: str) -> None:
    _render_or_clear_error(text.encode("utf-8", "surrogatepass"))


@SETTINGS
@given(st.lists(MARKDOWN_PIECES | st.text(max_size=8), max_size=80))
def test_markdown_shaped_text(pieces: list[str]) -> None:
    _render_or_clear_error(
        ("# 标题 2020-01-01\n\n" + "".join(pieces)).encode("utf-8", "surrogatepass")
    )


@SETTINGS
@given(st.lists(MARKDOWN_PIECES, max_size=40))
def test_front_matter_shaped_text(pieces: list[str]) -> None:
    _render_or_clear_error(("---\n" + "".join(pieces) + "\n---\n# T 2020-01-01\n\nx").encode())


@SETTINGS
@given(st.text(max_size=1500))
def test_a_file_that_names_no_title_still_renders_and_keeps_its_body(text: str) -> None:
    """With a date in the file name, any text loads (or gets one clear line), and a title
    made up from the first line takes nothing out of the body."""
    from service.issues.loader import decode_source, split_front_matter

    path = Path("2020-01-01.md")
    raw = text.encode("utf-8", "surrogatepass")
    try:
        issue = parse_issue(raw, path)
    except IssueError as exc:
        assert str(exc).startswith("2020-01-01.md: ") and "\n" not in str(exc)
        assert "no title" not in str(exc)
        return
    if issue.warnings:
        _meta, body, _lines = split_front_matter(decode_source(raw, path), path)
        assert issue.body == body and issue.title
        assert len(issue.title) <= 60
    try:
        compiled = RENDERER.compile(issue)
    except IssueError as exc:  # a renderer's refusal is one clear line too
        assert str(exc).startswith("2020-01-01.md: ") and "\n" not in str(exc)
        return
    assert compiled.html.startswith("<!DOCTYPE html>")
