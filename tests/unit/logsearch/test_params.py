"""Parameters of the logs API: times, filters, limits, intervals; every mistake names its param."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from logsearch.params import (
    BadParam,
    auto_interval,
    parse_search,
    parse_stats,
    parse_tail,
    parse_time,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("raw", "expect"),
    [
        ("now", NOW),
        ("-15m", NOW - 900),
        ("now-2h", NOW - 7200),
        ("now+1d", NOW + 86400),
        ("-1w", NOW - 604800),
        ("2026-12-07T11:00:00Z", NOW - 3600),
        ("2026-12-07T13:00:00+02:00", NOW - 3600),
        ("2026-12-07T11:00:00", NOW - 3600),  # no offset: UTC
        ("2026-12-07", NOW - 12 * 3600),
    ],
)
def test_times_are_iso_8601_or_relative(raw: str, expect: float) -> None:
    assert parse_time("from", raw, NOW) == expect


@pytest.mark.parametrize("raw", ["", "yesterday", "-15", "-15y", "now-", "12:00", "+-1m"])
def test_a_bad_time_names_the_parameter(raw: str) -> None:
    with pytest.raises(BadParam) as err:
        parse_time("to", raw, NOW)
    assert err.value.param == "to"


def test_defaults_and_filters() -> None:
    req = parse_search({"level": ["error,warn", "error"], "host": ["h1"]}, NOW)
    flt = req.filter
    assert (flt.start, flt.end, flt.q, req.limit, req.cursor) == (NOW - 3600, NOW, "", 100, None)
    assert flt.sources == ("nginx", "app")
    assert flt.terms == (("host", ("h1",)), ("level", ("error", "warn")))
    assert parse_search({"status_class": ["5XX"]}, NOW).filter.terms == (
        ("status_class", ("5xx",)),
    )


@pytest.mark.parametrize(
    "q", ['"(unclosed in a phrase"', '"level:error AND x"', "a/b:c", "[500 TO 599]", "x (y | z)"]
)
def test_text_that_is_valid_simple_syntax_is_taken(q: str) -> None:
    assert parse_search({"q": [q]}, NOW).filter.q == q


def test_the_fingerprint_follows_the_query_not_the_page() -> None:
    base = {"q": ["x"], "from": ["-1h"], "level": ["error"]}
    one = parse_search({**base, "limit": ["5"]}, NOW).filter.fingerprint
    assert one == parse_search({**base, "limit": ["50"]}, NOW + 60).filter.fingerprint
    assert one != parse_search({**base, "level": ["warn"]}, NOW).filter.fingerprint
    assert one != parse_search({**base, "q": ["y"]}, NOW).filter.fingerprint


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"q": ["x" * 10_000]}, "q"),
        ({"q": ['"open']}, "q"),
        ({"q": ["(a"]}, "q"),
        ({"q": ["a) (b"]}, "q"),
        ({"q": ["a AND b"]}, "q"),
        ({"q": ["level:error"]}, "q"),
        ({"q": ["a\0b"]}, "q"),
        ({"q": ["a", "b"]}, "q"),
        ({"from": ["-1m"], "to": ["-2m"]}, "from"),
        ({"from": ["now"], "to": ["now"]}, "from"),
        ({"colour": ["red"]}, "colour"),
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["1001"]}, "limit"),
        ({"limit": ["1.5"]}, "limit"),
        ({"status_class": ["6xx"]}, "status_class"),
        ({"source": ["syslog"]}, "source"),
        ({"host": [",".join(f"h{n}" for n in range(21))]}, "host"),
        ({"service": ["s" * 257]}, "service"),
        ({"interval": ["1m"]}, "interval"),
    ],
)
def test_search_refuses_naming_the_parameter(params: dict[str, list[str]], param: str) -> None:
    with pytest.raises(BadParam) as err:
        parse_search(params, NOW)
    assert err.value.param == param and str(err.value).startswith(f"{param}: ")


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"interval": ["1s"], "from": ["-1d"]}, "interval"),
        ({"interval": ["0m"]}, "interval"),
        ({"interval": ["5 minutes"]}, "interval"),
        ({"split": ["colour"]}, "split"),
        ({"top": ["51"]}, "top"),
        ({"cursor": ["x"]}, "cursor"),
    ],
)
def test_stats_refuses_naming_the_parameter(params: dict[str, list[str]], param: str) -> None:
    with pytest.raises(BadParam) as err:
        parse_stats(params, NOW)
    assert err.value.param == param


def test_stats_intervals() -> None:
    assert parse_stats({}, NOW).interval == 60  # one hour: one-minute buckets
    assert parse_stats({"from": ["-1d"]}, NOW).interval == 1800
    assert parse_stats({"interval": ["5m"]}, NOW).interval == 300
    assert parse_stats({"split": ["none"]}, NOW).split is None
    assert auto_interval(10) == 1 and auto_interval(10**9) == 604800


def test_tail_takes_the_filters_only() -> None:
    assert parse_tail({"level": ["error"]}, NOW).terms == (("level", ("error",)),)
    with pytest.raises(BadParam) as err:
        parse_tail({"limit": ["5"]}, NOW)
    assert err.value.param == "limit"
