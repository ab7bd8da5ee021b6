"""The per-send base64 bodies decode to exactly the filled template, whatever the alignment."""

from __future__ import annotations

import base64
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from service.issues.personalise import SlotTemplate
from service.sending.base64_template import Base64Template, encode_lines

LINE = re.compile(rb"^[A-Za-z0-9+/]+={0,2}$")
# Short pieces and values too: each of the three alignments, and pieces that cannot close one.
TEXT = st.text(alphabet=st.sampled_from("ab读\r\n<&é🙂"), max_size=200)


def check_wire_form(encoded: bytes) -> None:
    assert encoded.endswith(b"\r\n")
    for line in encoded[:-2].split(b"\r\n"):
        assert 0 < len(line) <= 76
        assert LINE.match(line), line
        assert len(line) % 4 == 0  # whole groups only: a decoder never sees a split group
    assert b"=" not in encoded.rstrip(b"\r\n=")  # padding at the very end only


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(TEXT, min_size=1, max_size=6), values=st.lists(TEXT, min_size=5, max_size=5))
def test_it_decodes_to_the_filled_body(pieces: list[str], values: list[str]) -> None:
    names = ("a", "b", "c", "d", "e")
    slots = tuple(names[i % 5] for i in range(len(pieces) - 1))
    template = SlotTemplate(tuple(pieces), slots)
    mapping = dict(zip(names, values, strict=True))
    encoded = Base64Template(template).render(mapping)
    expected = template.fill(mapping).encode("utf-8")
    assert base64.b64decode(encoded.replace(b"\r\n", b""), validate=True) == expected
    if expected:
        check_wire_form(encoded)
    else:
        assert encoded == b""


def test_a_long_body_gets_full_lines_and_only_slots_are_encoded_per_recipient() -> None:
    body = "段落" * 3000
    template = SlotTemplate((body, body), ("a",))
    prepared = Base64Template(template)
    first = prepared.render({"a": "x"})
    second = prepared.render({"a": "yy"})
    lines = first.split(b"\r\n")
    assert sum(len(line) == 76 for line in lines) > 200  # the pieces are in full lines
    assert base64.b64decode(second.replace(b"\r\n", b"")).decode() == body + "yy" + body
    assert encode_lines(b"") == b""
    check_wire_form(encode_lines(body.encode()))
