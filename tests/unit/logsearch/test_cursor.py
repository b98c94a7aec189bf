"""Cursors: round trip, and refused when altered, signed elsewhere or made for another query."""

from __future__ import annotations

import pytest

from logsearch.cursor import Cursor, decode_cursor, encode_cursor
from logsearch.params import BadParam

KEY = b"k1"
CURSOR = Cursor((1_765_000_000_000, "logs.app-1-9-0"), 1.0, 2.0, "f" * 32)


def test_round_trip() -> None:
    token = encode_cursor(CURSOR, KEY)
    assert decode_cursor(token, KEY, CURSOR.fingerprint) == CURSOR


def flip(token: str, at: int) -> str:
    char = "A" if token[at] != "A" else "B"
    return token[:at] + char + token[at + 1 :]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "!!!.???",
        flip(encode_cursor(CURSOR, KEY), 3),
        flip(encode_cursor(CURSOR, KEY), -3),
        encode_cursor(CURSOR, b"another key"),
        encode_cursor(CURSOR, KEY) + "x" * 3000,
    ],
)
def test_altered_or_foreign_cursors_are_refused(token: str) -> None:
    with pytest.raises(BadParam) as err:
        decode_cursor(token, KEY, CURSOR.fingerprint)
    assert err.value.param == "cursor"


def test_a_cursor_of_another_query_is_refused() -> None:
    with pytest.raises(BadParam, match="another query") as err:
        decode_cursor(encode_cursor(CURSOR, KEY), KEY, "0" * 32)
    assert err.value.param == "cursor"
