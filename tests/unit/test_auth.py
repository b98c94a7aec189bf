"""Bearer token and API key checks (app/api/auth.py)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from app.api import auth


def test_keys_come_from_a_comma_list_or_a_single_token() -> None:
    assert auth.parse_keys(SecretStr(" a, b ,,c ")) == (b"a", b"b", b"c")
    assert auth.parse_keys(None) == ()
    assert auth.single_key(SecretStr("to,ken")) == (b"to,ken",)
    assert auth.single_key(SecretStr("  ")) == ()


@pytest.mark.parametrize(
    ("headers", "api_key_header", "expected"),
    [
        ({"Authorization": "Bearer k1"}, False, "k1"),
        ({"Authorization": "bearer  k1 "}, False, "k1"),
        ({"Authorization": "Basic k1"}, False, None),
        ({"Authorization": "Bearer "}, False, None),
        ({"X-API-Key": "k2"}, False, None),
        ({"X-API-Key": "k2"}, True, "k2"),
        ({}, True, None),
    ],
)
def test_presented_key(headers: dict[str, str], api_key_header: bool, expected: str | None) -> None:
    assert auth.presented_key(headers, api_key_header=api_key_header) == expected


@pytest.mark.parametrize(
    ("keys", "headers", "expected"),
    [
        ((), {"Authorization": "Bearer x"}, (None, auth.Denied.DISABLED)),
        ((b"k1", b"k2"), {}, (None, auth.Denied.MISSING)),
        ((b"k1", b"k2"), {"Authorization": "Bearer k3"}, (None, auth.Denied.WRONG)),
        ((b"k1", b"k2"), {"Authorization": "Bearer k1x"}, (None, auth.Denied.WRONG)),
        ((b"k1", b"k2"), {"Authorization": "Bearer k2"}, (1, None)),
        ((b"k1", b"k2"), {"Authorization": "Bearer k1"}, (0, None)),
    ],
)
def test_check(
    keys: tuple[bytes, ...],
    headers: dict[str, str],
    expected: tuple[int | None, auth.Denied | None],
) -> None:
    assert auth.check(keys, headers) == expected


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", compare)
    assert auth.key_index("k1", (b"k1", b"k2", b"k3")) == 0
    assert len(calls) == 3  # no early exit on the first match
    assert {len(a) for a, _ in calls} == {32}  # digests: the key length does not leak


def test_token_ok() -> None:
    assert auth.token_ok("s3cret", {"Authorization": "Bearer s3cret"})
    assert not auth.token_ok("s3cret", {"Authorization": "Bearer s3cre"})
    assert not auth.token_ok(None, {"Authorization": "Bearer s3cret"})
