"""PatternAgg: lines per pattern id, merge, state, bound; pattern series ids."""

from __future__ import annotations

import json

from tables.aggregates import PatternAgg, agg_from_state, agg_to_state, merge_aggs
from tables.aggregates.patterns import MAX_PATTERNS
from tables.series import describe_series, pattern_series, series_type


def _agg(*lines: tuple[str, bool, float, float]) -> PatternAgg:
    agg = PatternAgg()
    for pid, error, first, ts in lines:
        agg.add_pattern(pid, error, first, since=100.0, ts=ts)
    return agg


def test_counts_errors_and_first_seen_per_pattern() -> None:
    agg = _agg(("a", True, 120.0, 121.0), ("a", False, 120.0, 125.0), ("b", True, 90.0, 122.0))
    assert agg.result(60) == {
        "lines": 3,
        "overflow": 0,
        "since": 100.0,
        "patterns": {
            "a": {"count": 2, "errors": 1, "first_seen": 120.0},
            "b": {"count": 1, "errors": 1, "first_seen": 90.0},
        },
        "first_ts": 121.0,
        "last_ts": 125.0,
    }
    assert PatternAgg().result()["patterns"] == {}


def test_merge_and_copy_leave_the_parts_alone() -> None:
    one = _agg(("a", True, 120.0, 121.0))
    two = _agg(("a", False, 110.0, 131.0), ("c", False, 130.0, 132.0))
    merged = merge_aggs([one, two])
    assert merged is not None
    assert merged.result(60)["patterns"] == {
        "a": {"count": 2, "errors": 1, "first_seen": 110.0},
        "c": {"count": 1, "errors": 0, "first_seen": 130.0},
    }
    assert one.result(60)["patterns"]["a"]["count"] == 1
    copy = one.copy()
    copy.add_pattern("a", True, 120.0, 100.0, 122.0)
    assert one.counts["a"][0] == 1


def test_state_round_trips_through_json() -> None:
    agg = _agg(("a", True, 120.0, 121.0), ("b", False, 90.0, 122.0))
    state = json.loads(json.dumps(agg_to_state(agg)))
    assert state[0] == "t"
    back = agg_from_state(state)
    assert isinstance(back, PatternAgg)
    assert back.result(60) == agg.result(60)
    empty = agg_from_state(json.loads(json.dumps(agg_to_state(PatternAgg()))))
    assert empty.result(60) == PatternAgg().result(60)


def test_bounded_with_overflow_counted() -> None:
    agg = PatternAgg()
    for i in range(MAX_PATTERNS + 5):
        agg.add_pattern(f"p{i}", False, 1.0, 1.0, 1.0)
    assert len(agg.counts) == MAX_PATTERNS
    assert (agg.lines, agg.overflow) == (MAX_PATTERNS + 5, 5)
    other = _agg(("new", False, 1.0, 2.0), ("p0", False, 1.0, 2.0))
    agg.merge(other)
    assert agg.overflow == 6
    assert agg.counts["p0"][0] == 2


def test_pattern_series_ids() -> None:
    sid = pattern_series("shop", "web-1")
    assert describe_series(sid) == {"type": "pattern", "service": "shop", "host": "web-1"}
    assert series_type(sid) == "l"
