"""Splitting payloads into UTF-8 lines."""

from __future__ import annotations

import pytest

from formats.text import ascii_int, decode_lines, is_blank


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"a\nb", ["a", "b"]),
        (b"a\r\nb\r\n", ["a", "b", ""]),
        (b"a\rb", ["a\rb"]),  # a lone CR is not a line break
        (b"", [""]),
        ("caf\u00e9\n".encode(), ["caf\u00e9", ""]),
    ],
)
def test_decode_lines(payload: bytes, expected: list[str]) -> None:
    assert decode_lines(payload) == (expected, [])


def test_a_line_that_is_not_utf8_is_rejected_alone() -> None:
    lines, rejected = decode_lines(b"good 1\r\nbad \xff\xfe\ngood 2")
    assert lines == ["good 1", "good 2"]
    assert [(r.reason, r.original) for r in rejected] == [("not_utf8", b"bad \xff\xfe")]


@pytest.mark.parametrize(("line", "blank"), [("", True), (" \t", True), (" x", False)])
def test_is_blank(line: str, blank: bool) -> None:
    assert is_blank(line) is blank


@pytest.mark.parametrize(
    ("text", "max_digits", "expected"),
    [
        ("200", 3, 200),
        ("2000", 3, None),
        ("", 3, None),
        ("-1", 3, None),
        ("\u00b2", 3, None),  # superscript two: isdigit() but not a decimal
        ("\u0661", 3, None),  # Arabic-Indic one: a decimal, but not ASCII
        ("9" * 5000, 19, None),  # never reaches int()'s digit limit
    ],
)
def test_ascii_int(text: str, max_digits: int, expected: int | None) -> None:
    assert ascii_int(text, max_digits) == expected
