"""MetricAgg, CounterAgg, LogAgg and the tagged state registry."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.aggregates import (
    CounterAgg,
    LogAgg,
    MetricAgg,
    agg_from_state,
    agg_to_state,
)

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ALPHA = 0.01


def exact_lower(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[math.floor(q * (len(xs) - 1))]


def close_to(estimate: float | None, exact: float, alpha: float = ALPHA) -> bool:
    assert estimate is not None
    return abs(estimate - exact) <= alpha * abs(exact) * (1 + 1e-9) + 1e-9


def assert_json_state(state: Any) -> None:
    """Lists, strings, finite numbers and None only (no dicts), and JSON round-trips."""

    def walk(x: Any) -> None:
        if isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, float):
            assert math.isfinite(x)
        else:
            assert x is None or isinstance(x, int | str), x

    walk(state)
    assert json.loads(json.dumps(state, allow_nan=False)) == state


def tree_merge(parts: list[Any], rnd: random.Random) -> Any:
    """Merge random pairs (copies, parts untouched) until one is left: any shape, any order."""
    parts = list(parts)
    while len(parts) > 1:
        a = parts.pop(rnd.randrange(len(parts)))
        b = parts.pop(rnd.randrange(len(parts)))
        parts.append(a.copy().merge(b))
    return parts[0]


# ---- MetricAgg ------------------------------------------------------------------------------

# (value, ts) in arrival order; ts as offsets from T0.
METRIC_CASES = {
    "in_order": [(3.0, 0), (1.0, 10), (4.0, 20), (1.5, 30), (5.0, 40)],
    "out_of_order": [(3.0, 20), (1.0, 0), (4.0, 40), (1.5, 10), (5.0, 30)],
    "same_ts_later_added_is_last": [(7.0, 10), (2.0, 10), (9.0, 5)],
    "negatives_and_zero": [(-2.0, 0), (0.0, 1), (-8.5, 2)],
    "single": [(42.0, 0)],
}
METRIC_LAST = {
    "in_order": (5.0, 40),
    "out_of_order": (4.0, 40),
    "same_ts_later_added_is_last": (2.0, 10),
    "negatives_and_zero": (-8.5, 2),
    "single": (42.0, 0),
}


@pytest.mark.parametrize("name", sorted(METRIC_CASES))
def test_metric_result(name: str) -> None:
    points = METRIC_CASES[name]
    agg = MetricAgg()
    for v, t in points:
        agg.add(v, T0 + t)
    values = [v for v, _ in points]
    r = agg.result()
    assert r["count"] == len(values)
    assert r["sum"] == pytest.approx(sum(values))
    assert r["mean"] == pytest.approx(sum(values) / len(values))
    assert (r["min"], r["max"]) == (min(values), max(values))
    assert (r["last"], r["last_ts"]) == (METRIC_LAST[name][0], T0 + METRIC_LAST[name][1])
    assert r["first_ts"] == T0 + min(t for _, t in points)
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert close_to(r[key], exact_lower(values, q)), key
        assert min(values) <= r[key] <= max(values)  # clamped


def test_metric_percentiles_of_a_constant_are_exact() -> None:
    agg = MetricAgg()
    for i in range(100):
        agg.add(0.3, T0 + i)
    r = agg.result()
    assert (r["p50"], r["p95"], r["p99"]) == (0.3, 0.3, 0.3)


def test_metric_empty_result() -> None:
    r = MetricAgg().result()
    assert r == {
        "count": 0,
        "sum": 0.0,
        "min": None,
        "max": None,
        "mean": None,
        "last": None,
        "p50": None,
        "p95": None,
        "p99": None,
        "first_ts": None,
        "last_ts": None,
    }


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
            st.integers(min_value=0, max_value=10_000),
        ),
        min_size=1,
        max_size=80,
        unique_by=lambda p: p[1],
    ),
    st.integers(min_value=1, max_value=6),
    st.randoms(use_true_random=False),
)
def test_metric_panes_merged_in_any_order_equal_one_aggregate(
    points: list[tuple[float, int]], n_panes: int, rnd: random.Random
) -> None:
    whole = MetricAgg()
    panes = [MetricAgg() for _ in range(n_panes)]
    for v, t in points:
        whole.add(v, T0 + t)
        rnd.choice(panes).add(v, T0 + t)
    merged = tree_merge(panes, rnd)
    assert merged.count == whole.count
    assert merged.sum == pytest.approx(
        whole.sum, rel=1e-9, abs=1e-6 * sum(abs(v) for v, _ in points)
    )
    assert (merged.min, merged.max) == (whole.min, whole.max)
    assert (merged.last, merged.last_ts, merged.first_ts) == (
        whole.last,
        whole.last_ts,
        whole.first_ts,
    )
    assert merged.sketch == whole.sketch
    assert {k: v for k, v in merged.result().items() if k not in ("sum", "mean")} == {
        k: v for k, v in whole.result().items() if k not in ("sum", "mean")
    }


@pytest.mark.parametrize(
    ("a_ts", "b_ts", "expected_last"),
    [
        (10, 20, "b"),
        (20, 10, "a"),
        (10, 10, "b"),  # a tie across parts: the argument counts as added later
    ],
)
def test_metric_merge_last(a_ts: int, b_ts: int, expected_last: str) -> None:
    a, b = MetricAgg(), MetricAgg()
    a.add(1.0, T0 + a_ts)
    b.add(2.0, T0 + b_ts)
    assert a.merge(b).last == {"a": 1.0, "b": 2.0}[expected_last]


def test_metric_merge_with_empty_is_identity() -> None:
    a = MetricAgg()
    a.add(5.0, T0)
    before = a.to_state()
    assert a.merge(MetricAgg()).to_state() == before
    assert MetricAgg().merge(a).to_state() == before


def test_metric_merge_and_copy_leave_sources_untouched() -> None:
    a, b = MetricAgg(), MetricAgg()
    a.add(1.0, T0)
    b.add(2.0, T0 + 1)
    a_state, b_state = a.to_state(), b.to_state()
    c = a.copy().merge(b)
    assert (a.to_state(), b.to_state()) == (a_state, b_state)
    assert c.count == 2


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_metric_rejects_non_finite_without_changing_state(value: float) -> None:
    agg = MetricAgg()
    agg.add(1.0, T0)
    before = agg.to_state()
    with pytest.raises(ValueError, match="cannot add"):
        agg.add(value, T0 + 1)
    assert agg.to_state() == before


@pytest.mark.parametrize(
    ("a", "b", "error"),
    [
        (MetricAgg(), CounterAgg(), TypeError),
        (CounterAgg(), LogAgg(), TypeError),
        (LogAgg(), MetricAgg(), TypeError),
        (MetricAgg(), MetricAgg(alpha=0.05), ValueError),
        (LogAgg(), LogAgg(alpha=0.05), ValueError),
    ],
)
def test_merge_rejects_mismatches(a: Any, b: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        a.merge(b)


# ---- CounterAgg -----------------------------------------------------------------------------

# (value, ts offset) in arrival order, then expected increase, rate, resets, samples.
COUNTER_CASES: dict[str, tuple[list[tuple[float, float]], float | None, float | None, int, int]] = {
    "monotonic": ([(100, 0), (150, 10), (250, 20)], 150, 7.5, 0, 3),
    # 100 -> 150 (+50), reset: 30 counts as +30, 30 -> 60 (+30)
    "reset_in_the_middle": ([(100, 0), (150, 10), (30, 20), (60, 30)], 110, 110 / 30, 1, 4),
    "reset_to_zero": ([(500, 0), (0, 10), (20, 20)], 20, 1.0, 1, 3),
    "two_resets": ([(10, 0), (5, 10), (2, 20), (4, 30)], 9, 0.3, 2, 4),
    "out_of_order_arrival": ([(250, 20), (100, 0), (150, 10)], 150, 7.5, 0, 3),
    # the late 150 at ts 10 must not look like a reset from 250
    "late_sample_between": ([(100, 0), (250, 20), (150, 10), (300, 30)], 200, 200 / 30, 0, 4),
    "duplicate_ts_later_added_wins": ([(100, 0), (999, 10), (150, 10), (200, 20)], 100, 5.0, 0, 3),
    "flat": ([(7, 0), (7, 10)], 0, 0.0, 0, 2),
    "float_values": ([(0.5, 0), (1.75, 0.5)], 1.25, 2.5, 0, 2),
    "single_sample": ([(100, 0)], None, None, 0, 1),
    "empty": ([], None, None, 0, 0),
}


def exact_interval_rates(points: list[tuple[float, float]]) -> list[float]:
    series = sorted({t: v for v, t in points}.items())
    out = []
    for (t0, v0), (t1, v1) in itertools.pairwise(series):
        d = v1 - v0
        out.append((v1 if d < 0 else d) / (t1 - t0))
    return out


@pytest.mark.parametrize("name", sorted(COUNTER_CASES))
def test_counter_result(name: str) -> None:
    points, increase, rate, resets, samples = COUNTER_CASES[name]
    agg = CounterAgg()
    for v, t in points:
        agg.add(v, T0 + t)
    r = agg.result()
    assert r["increase"] == increase
    assert r["rate"] == (None if rate is None else pytest.approx(rate))
    assert (r["resets"], r["samples"], r["inexact"]) == (resets, samples, 0)
    rates = exact_interval_rates(points)
    assert r["intervals"] == len(rates)
    if rates:
        assert (r["rate_min"], r["rate_max"]) == (min(rates), max(rates))
        assert r["rate_mean"] == pytest.approx(sum(rates) / len(rates))
        assert close_to(r["rate_p95"], exact_lower(rates, 0.95))
        assert r["first_ts"] == T0 + min(t for _, t in points)
        assert r["last_ts"] == T0 + max(t for _, t in points)
    else:
        assert r["rate_min"] is r["rate_max"] is r["rate_mean"] is r["rate_p95"] is None


# Two panes of 30 s; the counter resets between the last sample of pane A and the first of B.
#
#   ts:     0     10     20  |  30     40
#   value:  100   150    180 |  20     50
#   pane:   A ---------------|  B --------
#   increase: 50 + 30 + (reset: 20) + 30 = 130
@pytest.mark.parametrize("order", ["ab", "ba"])
def test_counter_merge_across_panes_with_reset_at_the_boundary(order: str) -> None:
    a, b = CounterAgg(), CounterAgg()
    for v, t in [(100, 0), (150, 10), (180, 20)]:
        a.add(v, T0 + t)
    for v, t in [(20, 30), (50, 40)]:
        b.add(v, T0 + t)
    merged = a.copy().merge(b) if order == "ab" else b.copy().merge(a)
    r = merged.result()
    assert (r["increase"], r["resets"], r["samples"], r["intervals"]) == (130, 1, 5, 4)
    assert r["rate"] == pytest.approx(130 / 40)
    assert a.result()["increase"] == 80  # sources untouched
    assert b.result()["increase"] == 30


counter_points = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(0, 100_000)),
    max_size=60,
    unique_by=lambda p: p[1],
)


@settings(max_examples=200, deadline=None)
@given(counter_points, st.integers(min_value=1, max_value=6), st.randoms(use_true_random=False))
def test_counter_panes_merged_in_any_order_equal_one_aggregate(
    points: list[tuple[int, int]], n_panes: int, rnd: random.Random
) -> None:
    whole = CounterAgg()
    panes = [CounterAgg() for _ in range(n_panes)]
    for v, t in points:
        whole.add(v, T0 + t)
        rnd.choice(panes).add(v, T0 + t)
    assert tree_merge(panes, rnd).result() == whole.result()


def assert_same_counter_result(got: dict[str, Any], want: dict[str, Any]) -> None:
    if want["rate_mean"] is None:
        assert got["rate_mean"] is None
    else:  # float sums in another order
        assert got["rate_mean"] == pytest.approx(want["rate_mean"])
    assert {k: v for k, v in got.items() if k != "rate_mean"} == {
        k: v for k, v in want.items() if k != "rate_mean"
    }


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=1000), max_size=120),
    st.integers(min_value=2, max_value=9),
    st.integers(min_value=1, max_value=5),
    st.randoms(use_true_random=False),
)
def test_counter_bounded_panes_stay_exact_for_in_order_data(
    values: list[int], max_samples: int, n_panes: int, rnd: random.Random
) -> None:
    """Summaries (max_samples tiny) of time-partitioned panes merge to the exact result."""
    whole = CounterAgg()
    panes = [CounterAgg(max_samples=max_samples) for _ in range(n_panes)]
    per_pane = max(1, -(-len(values) // n_panes))
    for i, v in enumerate(values):
        whole.add(v, T0 + 10 * i)
        panes[i // per_pane].add(v, T0 + 10 * i)
    for p in panes:
        assert len(p._samples) <= max_samples
    assert_same_counter_result(tree_merge(panes, rnd).result(), whole.result())


def test_counter_compaction_keeps_late_samples_exact_within_the_raw_half() -> None:
    # max_samples=10, ts 90 held back: the 11th sample (ts 110) folds ts 0..50 into a summary
    # run and keeps 60..110 raw, so ts 90 arriving afterwards still lands exactly.
    values = [0, 10, 20, 5, 15, 25, 35, 45, 55, 65, 75, 85]
    agg = CounterAgg(max_samples=10)
    for i, v in enumerate(values):
        if i != 9:
            agg.add(v, T0 + 10 * i)
    assert [r.t1 for r in agg._runs] == [T0 + 50]
    agg.add(values[9], T0 + 90)
    exact = CounterAgg()
    for i, v in enumerate(values):
        exact.add(v, T0 + 10 * i)
    assert_same_counter_result(agg.result(), exact.result())
    assert (agg.result()["increase"], agg.result()["resets"]) == (105, 1)


def test_counter_sample_inside_a_summary_is_counted_as_inexact() -> None:
    agg = CounterAgg(max_samples=4)
    for i in range(5):  # 5 > 4: ts 0..20 fold into a run, 30 and 40 stay raw
        agg.add(100 * i, T0 + 10 * i)
    agg.add(999, T0 + 5)  # inside the run's span: cannot be placed
    r = agg.result()
    assert (r["samples"], r["inexact"], r["increase"], r["resets"]) == (6, 1, 400, 0)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_counter_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="cannot add"):
        CounterAgg().add(value, T0)


def test_counter_max_samples_must_allow_two() -> None:
    with pytest.raises(ValueError, match="max_samples"):
        CounterAgg(max_samples=1)


# ---- LogAgg ---------------------------------------------------------------------------------

Request = tuple[int, int, float | None]
SPIKE: list[Request] = [*[(500, 0, 0.1)] * 6, *[(503, 0, 2.0)] * 2, *[(200, 100, 0.01)] * 2]

# requests as (status, bytes, request_time); lines as levels; expected result subset.
LOG_CASES: dict[str, tuple[list[Request], list[str], dict[str, Any]]] = {
    "nothing": ([], [], {"requests": 0, "error_rate": 0.0, "client_error_rate": 0.0}),
    "only_error_lines": (
        [],
        ["error", "crit", "info", "notice"],
        {"log_lines": 4, "error_lines": 2, "error_rate": 0.5},
    ),
    "only_info_lines": ([], ["info", "debug"], {"error_rate": 0.0, "error_lines": 0}),
    "requests_win_over_lines": (
        [(200, 10, None), (200, 10, None)],
        ["error"],
        {"error_rate": 0.0, "error_lines": 1, "bytes": 20},
    ),
    "5xx_spike": (
        SPIKE,
        [],
        {"requests": 10, "s5xx": 8, "s2xx": 2, "error_rate": 0.8, "bytes": 200},
    ),
    "client_errors_are_not_errors": (
        [(404, 5, None), (404, 5, None), (200, 5, None), (301, 5, None)],
        [],
        {"s4xx": 2, "s3xx": 1, "error_rate": 0.0, "client_error_rate": 0.5},
    ),
    "status_class_edges": (
        [(s, 0, None) for s in (0, 199, 200, 299, 300, 399, 400, 499, 500, 599, 600)],
        [],
        {"other": 3, "s2xx": 2, "s3xx": 2, "s4xx": 2, "s5xx": 2, "requests": 11},
    ),
    "levels_case_insensitive": (
        [],
        ["ERROR", "Crit", "alert", "emerg", "FATAL", "critical", "warn", "WARNING", "info"],
        {"error_lines": 6, "warn_lines": 2, "log_lines": 9},
    ),
}


@pytest.mark.parametrize("name", sorted(LOG_CASES))
def test_log_result(name: str) -> None:
    requests, lines, expected = LOG_CASES[name]
    agg = LogAgg()
    for i, (status, size, rt) in enumerate(requests):
        agg.add_request(status, size, rt, T0 + i)
    for i, level in enumerate(lines):
        agg.add_line(level, T0 + i)
    r = agg.result()
    assert {k: r[k] for k in expected} == expected
    times = [rt for _, _, rt in requests if rt is not None]
    for key, q in (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99)):
        if times:
            assert close_to(r[key], exact_lower(times, q)), key
        else:
            assert r[key] is None


def test_log_latency_and_upstream_quantiles() -> None:
    rnd = random.Random(11)
    times = [rnd.lognormvariate(-3, 1) for _ in range(2000)]
    agg = LogAgg()
    for i, rt in enumerate(times):
        agg.add_request(200, 512, rt, T0 + i * 0.01, upstream_time=rt / 2 if i % 2 else None)
    r = agg.result(window_seconds=60)
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert close_to(r[f"latency_{key}"], exact_lower(times, q))
        assert close_to(r[f"upstream_{key}"], exact_lower([t / 2 for t in times[1::2]], q))
    assert r["req_rate"] == pytest.approx(2000 / 60)
    assert (r["first_ts"], r["last_ts"]) == (T0, T0 + 1999 * 0.01)


def test_log_without_upstream_reports_none() -> None:
    agg = LogAgg()
    agg.add_request(200, 1, 0.5, T0)
    r = agg.result()
    assert r["upstream_p95"] is None
    assert r["req_rate"] is None
    assert agg.to_state()[-1] is None


@pytest.mark.parametrize("window_seconds", [0, -60])
def test_log_rejects_bad_window_length(window_seconds: float) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        LogAgg().result(window_seconds=window_seconds)


def test_log_merge_equals_one_aggregate() -> None:
    ops: list[tuple[str, Any, float]] = [
        ("req", (200, 100, 0.05, None), 0),
        ("line", "error", 5),
        ("req", (502, 0, 1.5, 1.4), 10),
        ("req", (404, 10, None, None), 65),
        ("line", "warn", 70),
        ("req", (200, 300, 0.2, 0.1), 80),
    ]
    whole, a, b = LogAgg(), LogAgg(), LogAgg()
    for kind, arg, t in ops:
        for agg in (whole, a if t < 60 else b):
            if kind == "req":
                status, size, rt, up = arg
                agg.add_request(status, size, rt, T0 + t, upstream_time=up)
            else:
                agg.add_line(arg, T0 + t)
    assert b.copy().merge(a).to_state() == whole.to_state()
    assert a.copy().merge(b).result(120) == whole.result(120)
    assert LogAgg().merge(whole).to_state() == whole.to_state()


# ---- state round-trips and the registry -----------------------------------------------------


def _metric() -> MetricAgg:
    agg = MetricAgg()
    for i, v in enumerate([0.5, 12.0, -3.0, 0.0]):
        agg.add(v, T0 + i)
    return agg


def _counter(max_samples: int = 1000) -> CounterAgg:
    agg = CounterAgg(max_samples=max_samples)
    for i, v in enumerate([10, 20, 5, 40, 41, 90, 95]):
        agg.add(v, T0 + 10 * i)
    return agg


def _log() -> LogAgg:
    agg = LogAgg()
    agg.add_request(200, 10, 0.1, T0, upstream_time=0.05)
    agg.add_request(500, 0, None, T0 + 1)
    agg.add_line("crit", T0 + 2)
    return agg


AGGS: dict[str, Callable[[], MetricAgg | CounterAgg | LogAgg]] = {
    "metric": _metric,
    "metric_empty": MetricAgg,
    "counter": _counter,
    "counter_summarised": lambda: _counter(max_samples=4),
    "counter_empty": CounterAgg,
    "log": _log,
    "log_empty": LogAgg,
}


@pytest.mark.parametrize("name", sorted(AGGS))
def test_state_round_trip(name: str) -> None:
    agg = AGGS[name]()
    state = agg_to_state(agg)
    assert_json_state(state)
    assert state[0] == type(agg).KIND
    back = agg_from_state(json.loads(json.dumps(state)))
    assert type(back) is type(agg)
    assert agg_to_state(back) == state
    assert back.result() == agg.result()
    assert type(agg).from_state(agg.to_state()).to_state() == agg.to_state()


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        (CounterAgg(), ["c", []]),  # default parameters, no summary: the compact form
        (CounterAgg(max_samples=50), ["c", [], [], 50, 0.01]),
    ],
)
def test_counter_state_shape(agg: CounterAgg, expected: list[Any]) -> None:
    assert agg_to_state(agg) == expected


def test_counter_state_is_sorted_flat_pairs() -> None:
    agg = CounterAgg()
    agg.add(20, T0 + 10)
    agg.add(10, T0)
    assert agg.to_state() == [[T0, 10, T0 + 10, 20]]


@pytest.mark.parametrize("state", [[], ["x", 1], [None], [3, 1]])
def test_unknown_kind_raises(state: Any) -> None:
    with pytest.raises(ValueError, match="unknown aggregate kind"):
        agg_from_state(state)


def test_gauge_state_of_the_sketch_format_still_restores() -> None:
    """Panes written before raw values (an 8-element state with a sketch) read back as such."""
    from tables.sketch import QuantileSketch

    sketch = QuantileSketch()
    for v in (1.0, 2.0, 3.0):
        sketch.add(v)
    old = [3, 6.0, 1.0, 3.0, 3.0, 10.0, 12.0, sketch.to_state()]
    agg = MetricAgg.from_state(old)
    assert agg.to_state() == old
    r = agg.result()
    assert (r["count"], r["min"], r["max"], r["last"]) == (3, 1.0, 3.0, 3.0)
    assert r["p50"] == pytest.approx(2.0, rel=0.01)
    agg.add(4.0, 13.0)  # keeps adding into the sketch
    assert agg.count == 4 and agg.sketch.count == 4


def test_gauge_keeps_few_values_exact_then_moves_them_to_a_sketch() -> None:
    from tables.sketch import RAW_MAX

    agg = MetricAgg()
    values = [float(i * 7 % 13) + 0.123 for i in range(RAW_MAX)]
    for i, v in enumerate(values):
        agg.add(v, T0 + i)
    ordered = sorted(values)
    r = agg.result()
    assert r["p50"] == ordered[(RAW_MAX - 1) // 2]  # exact while raw
    assert MetricAgg.from_state(agg.to_state()).result() == r
    agg.add(100.0, T0 + RAW_MAX)  # one more: a sketch, same as adding every value to one
    assert agg.to_state()[7] is not None
    whole = MetricAgg.from_state(agg.to_state())
    assert whole.sketch == agg.sketch and whole.sketch.count == RAW_MAX + 1


def test_merged_result_without_sketches_equals_the_full_merge_for_its_keys() -> None:
    from tables.aggregates import LogAgg, merge_aggs, merged_result

    parts = [LogAgg() for _ in range(3)]
    for i in range(90):
        parts[i % 3].add_request(200 + (i % 4) * 100, i, 0.01 * i, T0 + i)
    parts[1].add_line("error", T0 + 5)
    keys = frozenset({"http_error_rate", "requests"})
    full = merge_aggs(parts)
    assert full is not None
    assert merged_result(parts, 300, keys) == full.result(window_seconds=300, keys=keys)
    assert merged_result(parts, 300, None) == full.result(window_seconds=300)
    assert merged_result(parts[:1], 300, None) == parts[0].result(window_seconds=300)


@pytest.mark.parametrize("seed", range(30))
def test_log_merged_equals_copy_and_merge(seed: int) -> None:
    """LogAgg.merged (one pass over the parts' sketches, counts written out) is exactly the
    copy of the first part merged with the others: counts, time span, latency and upstream
    sketches (present in some parts only), empty parts; the parts are left untouched."""
    from tables.aggregates import LogAgg, merge_aggs, merged_result

    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(1, 6)):
        agg = LogAgg()
        for _ in range(rng.choice([0, 1, 7, 60])):
            upstream = rng.choice([None, rng.expovariate(8)])
            agg.add_request(
                rng.choice([101, 200, 204, 301, 404, 500, 503, 700]),
                rng.randrange(0, 5000),
                rng.choice([None, 0.0, rng.expovariate(5), 60.0]),
                T0 + rng.uniform(-30, 30),
                upstream,
            )
        if rng.random() < 0.3:
            agg.add_line(rng.choice(["error", "WARN", "info"]), T0 + rng.uniform(-30, 30))
        parts.append(agg)
    before = [a.to_state() for a in parts]
    expected = merge_aggs(parts)
    assert expected is not None
    got = LogAgg.merged(parts)
    assert got.to_state() == expected.to_state()
    assert [a.to_state() for a in parts] == before
    for keys in (None, frozenset({"http_error_rate", "latency_p95"}), frozenset({"requests"})):
        assert merged_result(parts, 300, keys) == expected.result(window_seconds=300, keys=keys)
    assert parts[0].copy().to_state() == parts[0].to_state()


@pytest.mark.parametrize("seed", range(40))
def test_gauge_merged_result_fast_path_equals_copy_and_merge(seed: int) -> None:
    """The hopping-window fast path (no copies while the values stay raw) gives exactly what
    copy-then-merge gives: empty parts, event-time ties across parts, negative zero, a merge
    that passes RAW_MAX (falls back to the sketch), a part already a sketch, another alpha."""

    from tables.aggregates import merge_aggs, merged_result
    from tables.sketch import RAW_MAX

    rng = random.Random(seed)
    parts = []
    for p in range(rng.randint(2, 6)):
        agg = MetricAgg(alpha=0.02 if seed == 7 and p == 1 else 0.01)
        for _ in range(
            rng.choice([0, 1, 3, 6, 6, 12, RAW_MAX + 1] if seed % 5 == 0 else [0, 1, 6])
        ):
            value = rng.choice([0.0, -0.0, 1.5, -2.25, rng.uniform(-1e6, 1e6)])
            agg.add(value, float(rng.choice([100, 100 + p, 200])))
        parts.append(agg)
    before = [a.to_state() for a in parts]
    try:
        expected = merge_aggs(parts).result(window_seconds=300)  # type: ignore[union-attr]
    except ValueError:  # alphas differ: the merge refuses, and so does the fast path's fallback
        with pytest.raises(ValueError):
            merged_result(parts, 300, None)
        return
    got = merged_result(parts, 300, None)
    assert got == expected
    assert repr(got) == repr(expected)  # -0.0 and 0.0 apart, key order too
    assert [a.to_state() for a in parts] == before  # the panes are untouched


@pytest.mark.parametrize("n", [0, 1, 5, 32, 33, 200])
@pytest.mark.parametrize("alpha", [0.01, 0.02])
def test_gauge_tagged_state_is_the_kind_and_the_state(n: int, alpha: float) -> None:
    from tables.aggregates import agg_from_state, agg_to_state

    agg = MetricAgg(alpha=alpha)
    for i in range(n):
        agg.add(float(i % 7) - 3.0, 100.0 + i)
    assert agg.tagged_state() == ["m", *agg.to_state()]
    assert agg_to_state(agg) == agg.tagged_state()
    assert agg_from_state(agg.tagged_state()).to_state() == agg.to_state()


def _folded_result(agg: CounterAgg) -> dict[str, Any]:
    """CounterAgg.result() through the general path (_fold into a _Run), for comparison."""
    from tables.aggregates.counter import _fold, folded_result

    return folded_result(_fold(sorted(agg._samples.items()), agg._runs, agg.alpha), agg.alpha)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400),
            st.one_of(
                st.floats(min_value=0, max_value=1e12, allow_nan=False),
                st.sampled_from([0.0, -0.0, 1.0, 5e-324]),
            ),
        ),
        max_size=45,
        unique_by=lambda p: p[0],
    ),
    st.integers(min_value=1, max_value=6),
    st.randoms(use_true_random=False),
)
def test_counter_direct_result_equals_the_folded_run(
    points: list[tuple[int, float]], n_panes: int, rnd: random.Random
) -> None:
    """The direct path of a counter's result (raw samples, no run: one pane or the merge of
    several) gives exactly, bit for bit and key for key, what chaining the samples into a run
    gives: resets, equal values, more than RAW_MAX intervals (falls back to the run)."""
    from tables.aggregates import merge_aggs, merged_result

    whole = CounterAgg()
    panes = [CounterAgg() for _ in range(n_panes)]
    for t, v in points:
        whole.add(v, T0 + t / 8)
        rnd.choice(panes).add(v, T0 + t / 8)
    want = _folded_result(whole)
    assert repr(whole.result()) == repr(want)
    merged = merge_aggs(panes)
    assert merged is not None
    got = merged_result(panes, 300, None)
    assert repr(got) == repr(_folded_result(merged))
    assert repr(got) == repr(want)


def test_counter_direct_result_leaves_runs_to_the_general_path() -> None:
    """A counter with a summary run (compacted) is not on the direct path and still exact."""
    from tables.aggregates import merged_result

    agg = CounterAgg(max_samples=4)
    other = CounterAgg(max_samples=4)
    for i in range(9):
        agg.add(float(i * 10), T0 + i)
        other.add(float(100 + i), T0 + 100 + i)
    assert agg._runs
    assert repr(agg.result()) == repr(_folded_result(agg))
    merged = agg.copy().merge(other)
    assert repr(merged_result([agg, other], 300, None)) == repr(_folded_result(merged))
