"""The reason tables and the machinery that reads them."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from service.bounces.parse_message import decode_bytes, decode_header
from service.bounces.reasons import (
    HARD_REASONS,
    TEXT_PATTERNS,
    VOCABULARY,
    kind_for,
    reason_from_text,
)
from service.bounces.reasons_codes import (
    REPLY_REASONS,
    STATUS_REASONS,
    find_failure_status,
    find_reply,
    find_status,
    reason_from_status,
)
from service.bounces.reasons_match import PatternTable, requirement

# Words from the patterns themselves, so that random texts often come close to matching.
WORDS = sorted(
    {
        word
        for _, patterns in TEXT_PATTERNS
        for pattern in patterns
        for word in re.findall(r"[^\W\d_]{2,}", pattern)
    }
)
FILLERS = [" ", "-", "'", "5.1.1", "the"]


def _brute_force(text: str) -> str:
    text = " ".join(text.split()).lower()
    for reason, patterns in TEXT_PATTERNS:
        if any(re.search(p, text) for p in patterns):
            return reason
    return ""


def test_every_reason_is_in_the_vocabulary() -> None:
    used = {reason for reason, _ in TEXT_PATTERNS}
    used |= set(STATUS_REASONS.values()) | set(REPLY_REASONS.values())
    assert used <= set(VOCABULARY)
    assert HARD_REASONS == {"userunknown", "hostunknown", "hasmoved", "notaccept"}
    others = {kind_for(reason) for reason in VOCABULARY if reason not in HARD_REASONS}
    assert others == {"soft", "ignore", "complaint"}


def test_patterns_are_lower_case_and_compile() -> None:
    for _, patterns in TEXT_PATTERNS:
        for pattern in patterns:
            assert pattern == pattern.lower(), pattern  # texts are lowered, not matched with re.I
            re.compile(pattern)


def test_requirements() -> None:
    assert requirement(r"over (?:the )?quota") == ("over ",)
    assert requirement(r"(?:inbox|account) (?:is )?full") == ("full",)
    assert requirement(r"(?:inbox|account) (?:is )?ok") == ("inbox", "account")
    assert requirement(r"reverse dns|\brdns\b") == ("reverse dns", "rdns")
    assert requirement(r"mail ?box") == ("mail",)
    assert requirement(r"\b(?:spf|dkim)\b") == ("spf", "dkim")
    assert requirement(r"\b(?:ip|tls)\b") == ()  # too short to be worth a test
    assert requirement(r"a(?!bcdef)") == ()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS) | st.sampled_from(FILLERS), max_size=12))
def test_the_fast_table_agrees_with_searching_every_pattern(words: list[str]) -> None:
    text = " ".join(words)
    assert reason_from_text(text) == _brute_force(text)


def test_phrases_of_every_pattern_agree_with_brute_force() -> None:
    table = PatternTable(TEXT_PATTERNS)
    for _, patterns in TEXT_PATTERNS:
        for pattern in patterns:
            sample = re.sub(r"\\b|\(\?[!=<][^)]*\)|[()?*+|\\]|\{\d+,\d+\}|\[[^\]]*\]", "", pattern)
            assert table.first(sample) == _brute_force(sample), pattern


def test_status_and_reply_codes() -> None:
    assert find_status("host 10.5.4.3 said 550 5.1.1 nope") == "5.1.1"
    assert find_status("from 192.0.2.1 and 203.0.113.10") == ""
    assert find_status("(#5.1.1)") == "5.1.1"
    assert find_failure_status("250 2.1.0 Ok then 554 5.7.1 denied") == "5.7.1"
    assert find_reply("Tue 2025-10-14 11:13:17: <-- 554 5.7.1 denied") == "554"
    assert find_reply("sent 2025 messages, 550bytes") == ""
    assert find_reply("服务器回复：554 rejected") == "554"
    assert reason_from_status("5.1.10") == "notaccept"
    assert reason_from_status("5.0.0") == ""


def test_decoding_falls_back_sensibly() -> None:
    assert decode_bytes("Empfänger".encode("latin-1"), "us-ascii") == "Empfänger"
    assert decode_bytes("收件人不存在".encode("gbk"), "gb2312") == "收件人不存在"
    assert decode_bytes("宛先".encode("iso-2022-jp"), None) == "宛先"
    assert decode_bytes("收件人不存在".encode("gb18030"), "no-such-charset") == "收件人不存在"
    assert decode_bytes(b"\xff\xfe\xfa", "utf-8")  # something, never an error
    assert decode_header("=?iso-2022-jp?B?GyRCMDhAaBsoQg==?=") == "宛先"
    raw_8bit = "Rückgabe".encode("latin-1").decode("ascii", "surrogateescape")
    assert decode_header(raw_8bit) == "Rückgabe"
