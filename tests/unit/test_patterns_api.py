"""GET /api/logs/patterns: the since parameter, rows, merging the workers' answers."""

from __future__ import annotations

import pytest

from app.api.models import Patterns
from app.api.patterns import merge_rows, parse_since, pattern_rows, wanted_tenants
from app.api.windows import series_name
from patterns.miner import PatternMiner
from tables.series import pattern_series


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("1700000000", 1_700_000_000.0),
        ("1700000000.5", 1_700_000_000.5),
        ("2026-01-02T03:04:05Z", 1_767_323_045.0),
        ("2026-01-02T03:04:05", 1_767_323_045.0),
        ("2026-01-02T05:04:05+02:00", 1_767_323_045.0),
    ],
)
def test_parse_since(raw: str | None, expected: float | None) -> None:
    assert parse_since(raw) == expected


def test_parse_since_names_the_fix() -> None:
    with pytest.raises(ValueError, match="epoch seconds or an ISO 8601 time"):
        parse_since("yesterday")


def test_rows_of_two_workers_merge_per_service_and_pattern() -> None:
    one, two = PatternMiner(), PatternMiner()
    for i in range(3):
        one.mine("shop", f"user {i} logged in", 10.0 + i)
    two.mine("shop", "user 9 logged in", 5.0)
    two.mine("shop", "disk full", 50.0)
    two.mine("api", "disk full", 60.0)
    rows = merge_rows([pattern_rows(one.patterns()), pattern_rows(two.patterns())])
    Patterns.model_validate({"patterns": rows})
    assert [(r["service"], r["template"], r["count"]) for r in rows] == [
        ("shop", "user <NUM> logged in", 4),
        ("api", "disk full", 1),
        ("shop", "disk full", 1),
    ]
    first = rows[0]
    assert (first["first_seen"], first["last_seen"], first["example"]) == (
        5.0,
        12.0,
        "user 9 logged in",
    )
    assert merge_rows([rows], limit=1) == rows[:1]
    assert [r["service"] for r in pattern_rows(two.patterns("api", since=55.0))] == ["api"]


def test_a_caller_sees_the_counts_and_examples_of_its_tenants_only() -> None:
    miner = PatternMiner()
    miner.mine("shop", "user 1 logged in", 10.0, "a")
    miner.mine("shop", "user 2 logged in", 20.0, "b")
    miner.mine("shop", "user 3 logged in", 30.0, "a")
    miner.mine("shop", "disk full", 40.0, "b")
    every = pattern_rows(miner.patterns())
    assert [(r["template"], r["count"]) for r in every] == [
        ("user <NUM> logged in", 3),
        ("disk full", 1),
    ]
    (mine,) = pattern_rows(miner.patterns(), {"a"})
    assert (mine["count"], mine["first_seen"], mine["last_seen"], mine["example"]) == (
        2,
        10.0,
        30.0,
        "user 1 logged in",
    )
    theirs, full = pattern_rows(miner.patterns(), {"b"})
    assert (theirs["count"], theirs["example"]) == (1, "user 2 logged in")
    assert full["template"] == "disk full"
    assert pattern_rows(miner.patterns(), {"c"}) == pattern_rows(miner.patterns(), set()) == []
    assert pattern_rows(miner.patterns(), {"a"}, since=31.0) == []
    # per-tenant counts survive the changelog
    again = PatternMiner.from_state(miner.to_state())
    assert pattern_rows(again.patterns(), {"a", "b"}) == pattern_rows(miner.patterns(), {"a", "b"})


@pytest.mark.parametrize(
    ("readable", "asked", "wanted"),
    [
        (None, [], None),
        (None, ["a,b"], {"a", "b"}),
        ({"a"}, [], {"a"}),
        ({"a"}, ["a", "b"], {"a"}),
        ({"a"}, ["b"], set()),
    ],
)
def test_the_tenant_parameter_narrows_within_the_callers_tenants(
    readable: set[str] | None, asked: list[str], wanted: set[str] | None
) -> None:
    got = wanted_tenants(readable, asked)
    assert (set(got) if got is not None else None) == wanted


def test_pattern_series_have_a_name() -> None:
    assert series_name(pattern_series("shop", "web-1")) == "pattern,service=shop,host=web-1"
