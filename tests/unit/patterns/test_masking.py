"""Masking of message tokens into typed slots."""

from __future__ import annotations

import pytest

from patterns.masking import Masker, mask_quotes, mask_token, shape_of


@pytest.mark.parametrize(
    ("token", "masked"),
    [
        ("4711", "<NUM>"),
        ("-3.25", "<NUM>"),
        ("0x1f", "<NUM>"),
        ("45%", "<NUM>"),
        ("12KB", "<NUM>"),
        ("35ms", "<DUR>"),
        ("1.5s", "<DUR>"),
        ("3m", "<DUR>"),
        ("10.0.0.1", "<IP>"),
        ("10.0.0.1:8080,", "<IP>,"),
        ("fe80::1", "<IP>"),
        ("2001:db8:1:2:3::1", "<IP>"),
        ("550e8400-e29b-41d4-a716-446655440000", "<UUID>"),
        ("http://10.0.0.1:8080/a/b", "<URL>"),
        ("s3://bucket/x/y", "<URL>"),
        ("bob@example.com", "<EMAIL>"),
        ("2026-01-02T03:04:05.123Z", "<TS>"),
        ("2026/01/02", "<TS>"),
        ("12:30:45", "<TS>"),
        ("/var/www/index.html", "<PATH>"),
        ("~/x", "<PATH>"),
        ("shop.example.com", "<HOST>"),
        ("9f1c2a3b4d5e", "<HEX>"),
        ("DEADBEEF01", "<HEX>"),
        ("deadbeefcafe", "deadbeefcafe"),  # no digit: a word
        ("req-8f3a", "<ID>"),
        ("HTTP/1.1", "<ID>"),
        ("(110:", "(<NUM>:"),
        ("user_id=42", "user_id=<NUM>"),
        ("id=", "id="),
        ("error:", "error:"),
        ("OrderService.process", "OrderService.process"),
        ("application/json", "application/json"),
        ("<STR>", "<STR>"),
        ("()", "()"),
    ],
)
def test_mask_token(token: str, masked: str) -> None:
    assert mask_token(token) == masked


def test_quoted_strings_become_one_slot() -> None:
    assert mask_quotes('request: "GET /a b HTTP/1.1", host: "x"') == "request: <STR>, host: <STR>"
    assert mask_quotes("key 'a b' not found, can't retry") == "key <STR> not found, can't retry"


def test_masker_tokens_and_cache_bound() -> None:
    masker = Masker(max_cache=3)
    line = 'user 4711 logged in from 10.2.3.4 in 35ms: "ok"'
    expected = ("user", "<NUM>", "logged", "in", "from", "<IP>", "in", "<DUR>:", "<STR>")
    assert masker.tokens(line) == expected
    assert masker.tokens(line) == expected
    assert len(masker.cache) <= 3


def test_shape_keeps_words_and_drops_digit_tails() -> None:
    assert shape_of("user 4711 from 10.0.0.1:80, in 35ms") == b"user 0 from 0, in 0"
    assert shape_of("user 12 from 192.168.1.10:443, in 1.5s") == b"user 0 from 0, in 0"
    assert shape_of("abc1 x") != shape_of("abd1 x")
    assert shape_of("caf\u00e9 \udcff 7") == "caf\u00e9 \udcff 0".encode("utf-8", "surrogatepass")
