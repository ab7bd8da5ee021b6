"""Fast matching of ordered pattern tables against text.

Python's regex engine tries every alternative of a pattern at every position of the text, so
a table of a few hundred phrases costs close to a millisecond per diagnostic when searched as
regexes. Almost every phrase contains plain text that any match must include ("over quota",
one of "user"/"mailbox"/...), and a substring test is a hundred times cheaper than a search.
So each pattern is stored with that requirement, worked out once from the pattern itself, and
is only searched when the requirement is met. Results are exactly those of searching every
pattern. Patterns are written in lower case and matched against lowered text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

Requirement = tuple[str, ...]  # any one of these must occur; () means "no cheap test"


def _useful(literal: str) -> bool:
    # Three ASCII characters rarely occur by chance; two CJK characters are already a word.
    return len(literal.strip()) >= (3 if literal.isascii() else 2)


def _group_end(pattern: str, index: int) -> int:
    """The index just past the group or class that opens at ``index``."""
    if pattern[index] == "[":
        start = index + 2 if pattern[index + 1: index + 2] == "^" else index + 1
        return pattern.index("]", start + 1) + 1
    depth = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "[":
            index = _group_end(pattern, index)
            continue
        depth += char == "("
        depth -= char == ")"
        index += 1
        if depth == 0:
            break
    return index


def _quantifier_end(pattern: str, index: int) -> int:
    """The index past a quantifier at ``index`` (and its lazy '?'), or ``index`` if none."""
    if pattern[index: index + 1] in ("?", "*", "+"):
        index += 1
    elif pattern[index: index + 1] == "{" and "}" in pattern[index:]:
        index = pattern.index("}", index) + 1
    else:
        return index
    return index + 1 if pattern[index: index + 1] == "?" else index


def _split_alternatives(pattern: str) -> list[str]:
    parts, start, index = [], 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
        elif char in "([":
            index = _group_end(pattern, index)
        elif char == "|":
            parts.append(pattern[start:index])
            start = index = index + 1
        else:
            index += 1
    parts.append(pattern[start:])
    return parts


def requirement(pattern: str) -> Requirement:
    """Texts one of which every match of ``pattern`` contains; () if none is worth testing."""
    alternatives = _split_alternatives(pattern)
    if len(alternatives) > 1:
        found = [requirement(alternative) for alternative in alternatives]
        return tuple(text for each in found for text in each) if all(found) else ()
    candidates: list[Requirement] = []
    run, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and not pattern[index + 1].isalnum():
            literal, index = pattern[index + 1], index + 2
        elif char in "([\\.^$":
            end = _group_end(pattern, index) if char in "([" else index + (2 if char == "\\" else 1)
            after = _quantifier_end(pattern, end)
            lookaround = pattern.startswith(("(?=", "(?!", "(?<"), index)
            if char == "(" and after == end and not lookaround:
                inner = pattern[index + 1: end - 1]
                candidates.append(requirement(inner[2:] if inner.startswith("?:") else inner))
            candidates.append((run,))
            run, index = "", after
            continue
        else:
            literal, index = char, index + 1
        after = _quantifier_end(pattern, index)
        if after != index:  # the quantified character is optional or repeated
            candidates.append((run,))
            run, index = "", after
            continue
        run += literal
    candidates.append((run,))
    usable = [c for c in candidates if c and all(_useful(text) for text in c)]
    return min(usable, key=lambda c: (len(c), -min(map(len, c)))) if usable else ()


class PatternTable:
    """An ordered table of (key, patterns); ``first`` gives the first key with a match."""

    def __init__(self, table: Iterable[tuple[str, Iterable[str]]]) -> None:
        self.entries = tuple(
            (key, tuple((frozenset(requirement(p)), re.compile(p, re.MULTILINE)) for p in patterns))
            for key, patterns in table
        )
        self.texts = frozenset(
            text for _, patterns in self.entries for needs, _ in patterns for text in needs
        )

    def first(self, text: str) -> str:
        """The first key with a pattern found in ``text`` (lowered by the caller); '' if none."""
        present = {needed for needed in self.texts if needed in text}
        for key, patterns in self.entries:
            for needs, pattern in patterns:
                if (not needs or not present.isdisjoint(needs)) and pattern.search(text):
                    return key
        return ""

    def search(self, text: str) -> bool:
        return bool(self.first(text))
