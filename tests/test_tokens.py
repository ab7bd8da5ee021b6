"""Signed tokens: purpose-bound, tamper-evident, and expiring where they should."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.tokens import MAX_AGE, TokenError, TokenSigner


def test_round_trip_keeps_unicode_payloads() -> None:
    signer = TokenSigner("k")
    token = signer.sign("unsubscribe", "读者@例子.cn|42")
    assert signer.verify("unsubscribe", token) == "读者@例子.cn|42"
    assert all(c.isalnum() or c in "-_." for c in token)


@pytest.mark.parametrize(
    ("made_for", "used_for"),
    [("confirm", "unsubscribe"), ("unsubscribe", "confirm"), ("preferences", "unsubscribe")],
)
def test_a_token_never_works_for_another_purpose(made_for: str, used_for: str) -> None:
    signer = TokenSigner("k")
    with pytest.raises(TokenError, match="invalid"):
        signer.verify(used_for, signer.sign(made_for, "a@b.c"))


def test_tampered_and_foreign_tokens_are_invalid() -> None:
    signer = TokenSigner("k")
    token = signer.sign("unsubscribe", "a@b.c")
    payload, _, signature = token.partition(".")
    forged = TokenSigner("other-key").sign("unsubscribe", "a@b.c")
    for bad in (payload + "x." + signature, token[:-2], forged, "", "..."):
        with pytest.raises(TokenError, match="invalid"):
            signer.verify("unsubscribe", bad)


def test_confirm_tokens_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = TokenSigner("k")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - MAX_AGE["confirm"] - 10)
    old = signer.sign("confirm", "a@b.c")
    monkeypatch.setattr(time, "time", lambda: now)
    with pytest.raises(TokenError, match="expired"):
        signer.verify("confirm", old)
    assert signer.verify("confirm", signer.sign("confirm", "a@b.c")) == "a@b.c"


def test_preference_tokens_expire_after_the_configured_days(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = TokenSigner("k", max_age={"preferences": 30 * 86400})
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now - 29 * 86400)
    recent = signer.sign("preferences", "7:0:abc")
    monkeypatch.setattr(time, "time", lambda: now - 31 * 86400)
    old = signer.sign("preferences", "7:0:abc")
    monkeypatch.setattr(time, "time", lambda: now)
    assert signer.verify("preferences", recent) == "7:0:abc"
    with pytest.raises(TokenError, match="expired") as caught:
        signer.verify("preferences", old)
    assert caught.value.payload == "7:0:abc"  # genuine: enough to mail a fresh link
    assert MAX_AGE["preferences"] == 90 * 86400 and MAX_AGE["unsubscribe"] is None


def test_the_key_can_be_rotated() -> None:
    old, new = TokenSigner("old-key"), TokenSigner("new-key", old_keys=["old-key"])
    for purpose in ("confirm", "unsubscribe", "preferences", "verp"):
        token = old.sign(purpose, "1:0:abc")
        assert new.verify(purpose, token) == "1:0:abc"  # links already sent keep working
        fresh = new.sign(purpose, "1:0:abc")
        assert TokenSigner("new-key").verify(purpose, fresh) == "1:0:abc"
        with pytest.raises(TokenError):
            old.verify(purpose, fresh)  # new tokens are signed with the new key only
        with pytest.raises(TokenError):
            TokenSigner("new-key").verify(purpose, token)  # an old key dropped: its tokens die
    for purpose in ("verp", "unsubscribe-mailto"):
        short = old.sign_short(purpose, (42, 7), "ctx")
        assert new.verify_short(purpose, short, "ctx") == (42, 7)
        assert new.sign_short(purpose, (42, 7), "ctx") == TokenSigner("new-key").sign_short(purpose, (42, 7), "ctx")
        with pytest.raises(TokenError):
            TokenSigner("new-key").verify_short(purpose, short, "ctx")


def test_short_tokens_round_trip_and_refuse_tampering() -> None:
    signer = TokenSigner("k")
    token = signer.sign_short("verp", (123456789,))
    assert token == token.lower() and signer.verify_short("verp", token) == (123456789,)
    assert signer.verify_short("verp", token.upper()) == (123456789,)  # some systems upcase
    for bad in (token[:-1] + ("0" if token[-1] != "0" else "1"), "-" + token, token + "-",
                token.replace(token[0], "٣", 1), "", "-", "zz-", "a" * 40 + "-" + token[-24:]):
        with pytest.raises(TokenError):
            signer.verify_short("verp", bad)
    with pytest.raises(TokenError):
        signer.verify_short("unsubscribe-mailto", token)  # another purpose


def _answers_or_refuses(check, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        check(*args)
    except TokenError:
        pass  # anything else (TypeError from compare_digest, ValueError...) fails the test


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_no_input_makes_a_comparison_raise(text: str) -> None:
    signer = TokenSigner("k")
    good = signer.sign_short("verp", (5,))
    for candidate in (text, good[:-4] + text, text + good, good.rsplit("-", 1)[0] + "-" + text,
                      signer.sign("preferences", "1:0:abc")[:-3] + text):
        _answers_or_refuses(signer.verify_short, "verp", candidate, text)
        _answers_or_refuses(signer.read_short, candidate)
        for purpose in ("confirm", "unsubscribe", "preferences", "verp"):
            _answers_or_refuses(signer.verify, purpose, candidate)
    with pytest.raises(TokenError):
        signer.verify_short("verp", good[:-2] + "é" + text)  # non-ASCII: compare_digest raised
