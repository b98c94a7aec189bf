"""Epoch units, unit inference and ISO 8601 times."""

from __future__ import annotations

import pytest

from formats.points import ParseError
from formats.timestamps import divisor, epoch_seconds, parse_iso8601, parse_time_value

# 2023-11-14T22:13:20Z in every unit.
T = 1_700_000_000


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (T, "s", T),
        (T + 0.25, "s", T + 0.25),
        (T * 1_000 + 250, "ms", T + 0.25),
        (T * 1_000_000 + 250_000, "us", T + 0.25),
        (T * 1_000_000_000 + 250_000_000, "ns", T + 0.25),
        (T, "auto", T),
        (T * 1_000, "auto", T),
        (T * 1_000_000, "auto", T),
        (T * 1_000_000_000, "auto", T),
        (T * 1_000 + 0.5, "auto", T + 0.0005),
        (0, "auto", 0.0),
        (-T, "auto", -T),
        (99_999_999_999, "auto", 99_999_999_999),  # just below 1e11: still seconds
        (100_000_000_000, "auto", 100_000_000),  # 1e11: milliseconds
    ],
)
def test_epoch_seconds(value: float, unit: str, expected: float) -> None:
    assert epoch_seconds(value, unit) == pytest.approx(expected, abs=1e-6)


def test_unknown_unit_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="auto, s, ms, us, ns"):
        divisor("minutes")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-14T22:13:20Z", T),
        ("2023-11-14T22:13:20.250Z", T + 0.25),
        ("2023-11-14T22:13:20.250000123Z", T + 0.25),  # nanoseconds: truncated
        ("2023-11-15T00:13:20+02:00", T),
        ("2023-11-14T17:13:20-0500", T),
        ("2023-11-14 22:13:20", T),  # naive: UTC
        ("2023-11-14T22:13:20.5", T + 0.5),
        (" 2023-11-14T22:13:20Z ", T),
    ],
)
def test_parse_iso8601(text: str, expected: float) -> None:
    assert parse_iso8601(text) == pytest.approx(expected)


def test_naive_iso_time_with_an_offset() -> None:
    assert parse_iso8601("2023-11-15T00:13:20", tz_offset=7200) == T


@pytest.mark.parametrize("text", ["yesterday", "", "2023-13-01T00:00:00Z", "14/Nov/2023"])
def test_bad_iso8601(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_iso8601(text)
    assert info.value.reason == "bad_timestamp"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T, T),
        (T * 1000, T),
        (float(T), T),
        ("2023-11-14T22:13:20Z", T),
        ("1700000000", T),
        ("1700000000000", T),
    ],
)
def test_parse_time_value(value: object, expected: float) -> None:
    assert parse_time_value(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [True, None, [T], {"t": T}, "nan", "inf", "soon"])
def test_parse_time_value_rejects(value: object) -> None:
    with pytest.raises(ParseError) as info:
        parse_time_value(value)
    assert info.value.reason == "bad_timestamp"


@pytest.mark.parametrize(
    ("value", "unit"),
    [(1e300, "auto"), (-1e300, "auto"), (1e300, "s"), (253_402_300_800, "s"), (2**63 - 1, "s")],
)
def test_times_outside_years_9999_are_bad_records(value: float, unit: str) -> None:
    # Such a time once stalled the window engine (a one-pane step is lost in float rounding).
    with pytest.raises(ParseError) as info:
        epoch_seconds(value, unit)
    assert info.value.reason == "bad_timestamp"


def test_huge_times_in_telegraf_json_and_line_protocol_are_rejected() -> None:
    from formats.line_protocol import parse_line
    from formats.telegraf_json import metric_from_object

    with pytest.raises(ParseError, match="outside the years"):
        metric_from_object({"name": "m", "fields": {"v": 1}, "timestamp": 1e300})
    with pytest.raises(ParseError, match="outside the years"):
        parse_line("m v=1 9000000000000000000", div=1)
