"""Signed tokens: purpose-bound, tamper-evident, and expiring where they should."""

from __future__ import annotations

import time

import pytest

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
