"""QuantileSketch: relative-error bound, exact merges, collapsing, state round-trips."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.sketch import DEFAULT_MIN_VALUE, QuantileSketch

QS = (0.0, 0.5, 0.95, 0.99, 1.0)
FP = 1e-9  # slack on the bound for floating-point rounding


def exact_lower(values: list[float], q: float) -> float:
    """The lower quantile the sketch promises: sorted element of rank floor(q * (n - 1))."""
    xs = sorted(values)
    return xs[math.floor(q * (len(xs) - 1))]


def within_bound(estimate: float | None, exact: float, alpha: float) -> bool:
    """|estimate - exact| <= alpha * |exact|, or < min_value when exact counts as zero."""
    assert estimate is not None
    if abs(exact) <= DEFAULT_MIN_VALUE:
        return abs(estimate - exact) <= DEFAULT_MIN_VALUE
    return abs(estimate - exact) <= alpha * abs(exact) * (1 + FP)


def sketch_of(values: list[float], **kwargs: float) -> QuantileSketch:
    s = QuantileSketch(**kwargs)  # type: ignore[arg-type]
    for v in values:
        s.add(v)
    return s


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


DISTRIBUTIONS: dict[str, list[float]] = {
    "uniform": [_rng(1).uniform(0, 1000) for _ in range(5000)],
    "lognormal": [_rng(2).lognormvariate(0, 2) for _ in range(5000)],
    "bimodal": [
        r.gauss(10, 1) if r.random() < 0.7 else r.gauss(1000, 50)
        for r in [_rng(3)]
        for _ in range(5000)
    ],
    "latency_seconds": [_rng(4).expovariate(20) for _ in range(2000)],
    "bytes_huge": [_rng(5).uniform(1e9, 1e12) for _ in range(1000)],
    "constants": [42.0] * 1000,
    "negatives": [-_rng(6).lognormvariate(3, 1) for _ in range(2000)],
    "mixed_sign": [_rng(7).gauss(0, 100) for _ in range(3000)],
    "zeros": [0.0] * 100,
    "zeros_and_values": [0.0] * 50 + [1.0, 2.0, 3.0] * 20 + [-1.0] * 10,
    "below_min_value": [1e-12, -1e-12, 5e-10, 2.0],
    "single": [3.7],
    "single_negative": [-0.25],
    "integers": list(range(1, 101)),
    "tiny_and_huge": [1e-8, 1e-5, 1.0, 1e5, 1e8, 1e11],
}


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.001])
@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantile_within_relative_error(name: str, q: float, alpha: float) -> None:
    values = DISTRIBUTIONS[name]
    s = sketch_of(values, alpha=alpha)
    assert s.count == len(values)
    assert within_bound(s.quantile(q), exact_lower(values, q), alpha)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=200,
    ),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_quantile_bound_holds_for_any_floats(values: list[float], q: float) -> None:
    s = sketch_of(values)
    assert within_bound(s.quantile(q), exact_lower(values, q), 0.01)


def test_quantiles_matches_quantile() -> None:
    s = sketch_of(DISTRIBUTIONS["mixed_sign"])
    assert s.quantiles(QS) == [s.quantile(q) for q in QS]


def test_empty_sketch() -> None:
    s = QuantileSketch()
    assert s.count == 0
    assert s.quantile(0.5) is None
    assert s.quantiles([0.5, 0.99]) == [None, None]
    assert s.to_state() == [0.01, 0, [], []]


@pytest.mark.parametrize(
    ("values", "cuts"),
    [
        (DISTRIBUTIONS["lognormal"], [0, 100, 2500, 4999, 5000]),
        (DISTRIBUTIONS["mixed_sign"], [0, 1, 1500, 3000]),
        (DISTRIBUTIONS["zeros_and_values"], [0, 50, 60, 130]),
        ([1.0, 2.0], [0, 0, 2]),  # an empty part
    ],
)
def test_merge_equals_sketch_of_concatenation(values: list[float], cuts: list[int]) -> None:
    parts = [sketch_of(values[a:b]) for a, b in itertools.pairwise(cuts)]
    merged = QuantileSketch()
    for p in reversed(parts):
        merged.merge(p)
    assert merged == sketch_of(values)
    assert merged.to_state() == sketch_of(values).to_state()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), max_size=120),
    st.randoms(use_true_random=False),
    st.sampled_from([2048, 1, 3, 8]),
)
def test_merge_is_order_independent_also_when_collapsing(
    values: list[float], rnd: random.Random, max_buckets: int
) -> None:
    parts = [QuantileSketch(max_buckets=max_buckets) for _ in range(rnd.randint(1, 6))]
    for v in values:
        rnd.choice(parts).add(v)
    while len(parts) > 1:  # merge random pairs: any tree shape, any order
        a = parts.pop(rnd.randrange(len(parts)))
        b = parts.pop(rnd.randrange(len(parts)))
        parts.append(a.copy().merge(b))
    whole = sketch_of(values, max_buckets=max_buckets)
    assert parts[0] == whole
    assert parts[0].count == len(values)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), max_size=120),
    st.randoms(use_true_random=False),
    st.sampled_from([2048, 1, 3, 8, 40]),
)
def test_merged_equals_copy_and_merge(
    values: list[float], rnd: random.Random, max_buckets: int
) -> None:
    """The one-pass sum of many sketches (hopping windows, alert reads) is exactly the copy of
    the first merged with each other one: also past max_buckets and with collapsed parts."""
    parts = [QuantileSketch(max_buckets=max_buckets) for _ in range(rnd.randint(1, 6))]
    for v in values:
        rnd.choice(parts).add(v)
    before = [p.to_state() for p in parts]
    expected = parts[0].copy()
    for p in parts[1:]:
        expected.merge(p)
    got = QuantileSketch.merged(parts)
    assert got == expected
    assert got.to_state() == expected.to_state()
    assert got.quantiles([0.0, 0.5, 0.95, 1.0]) == expected.quantiles([0.0, 0.5, 0.95, 1.0])
    assert [p.to_state() for p in parts] == before  # the parts are left as they were
    got.add(1.0)  # and share no store with them
    assert [p.to_state() for p in parts] == before


def test_merged_rejects_different_parameters() -> None:
    with pytest.raises(ValueError, match="different parameters"):
        QuantileSketch.merged([QuantileSketch(), QuantileSketch(alpha=0.02)])


def test_merge_leaves_other_untouched() -> None:
    a, b = sketch_of([1.0, 2.0]), sketch_of([3.0])
    before = b.to_state()
    a.merge(b)
    assert b.to_state() == before
    assert a.count == 3


@pytest.mark.parametrize(
    "other",
    [
        QuantileSketch(alpha=0.02),
        QuantileSketch(max_buckets=10),
        QuantileSketch(min_value=1e-6),
    ],
)
def test_merge_rejects_different_parameters(other: QuantileSketch) -> None:
    with pytest.raises(ValueError, match="different parameters"):
        QuantileSketch().merge(other)


# Collapsing, max_buckets=3. Values 1, 10, ..., 1e5 are six buckets; the lowest three fold into
# the 1e3 bucket (the floor), so quantiles at or above it keep the bound, lower ones read high.
#
#   value order:  1   10   100 | 1e3  1e4  1e5
#   after:        ------------>  4    1    1
def test_collapse_folds_lowest_buckets_into_the_floor() -> None:
    values = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]
    s = sketch_of(values, max_buckets=3)
    assert s.collapsed
    assert s.count == 6
    state = s.to_state()
    assert state[2][1:] == [4, -114, 1, -114, 1]  # three buckets, 115 keys apart
    for q in (0.6, 0.8, 1.0):  # exact value >= floor: bound holds
        assert within_bound(s.quantile(q), exact_lower(values, q), 0.01)
    low = s.quantile(0.0)
    assert low is not None
    assert within_bound(low, 1e3, 0.01)  # the minimum reads as the floor


def test_collapsed_sketch_routes_low_values_to_the_floor() -> None:
    s = sketch_of([1e3, 1e4, 1e5], max_buckets=3)
    assert not s.collapsed
    for v in (0.5, 0.0, -7.0):  # below the lowest kept bucket, zero and negatives included
        s.add(v)
    assert s.collapsed
    assert s.zero == 0
    assert s.to_state()[3] == []
    assert s.count == 6
    assert s == sketch_of([0.5, 0.0, -7.0, 1e3, 1e4, 1e5], max_buckets=3)


def test_collapse_with_negative_floor_keeps_zero_and_positives() -> None:
    # value order: -1e5 -1e4 -1e3 | -1 (floor)  0  2   (max_buckets=2 log buckets)
    s = sketch_of([-1e5, -1e4, -1e3, -1.0, 0.0, 2.0], max_buckets=2)
    assert s.collapsed
    assert s.zero == 1
    assert s.quantile(1.0) == pytest.approx(2.0, rel=0.01)
    assert s.quantile(0.8) == 0.0  # rank 4 of 6: the zero
    low = s.quantile(0.0)
    assert low is not None
    assert within_bound(low, -1.0, 0.01)  # every lower negative reads as the floor
    s.add(-1e9)
    assert s == sketch_of([-1e9, -1e5, -1e4, -1e3, -1.0, 0.0, 2.0], max_buckets=2)


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_state_round_trip(name: str) -> None:
    s = sketch_of(DISTRIBUTIONS[name])
    state = json.loads(json.dumps(s.to_state(), allow_nan=False))
    back = QuantileSketch.from_state(state)
    assert back == s
    assert back.quantiles(QS) == s.quantiles(QS)
    assert len(state) == 4  # default parameters: the compact form


@pytest.mark.parametrize(
    ("kwargs", "values"),
    [
        ({"alpha": 0.05, "max_buckets": 16, "min_value": 1e-3}, [0.0005, 1.0, 2.0]),
        ({"max_buckets": 2}, [1.0, 10.0, 100.0]),  # collapsed: the flag is kept
    ],
)
def test_state_round_trip_keeps_parameters_and_floor(
    kwargs: dict[str, float], values: list[float]
) -> None:
    s = sketch_of(values, **kwargs)
    state = s.to_state()
    assert len(state) == 7
    back = QuantileSketch.from_state(json.loads(json.dumps(state)))
    assert back == s
    back.add(0.0)  # behaves like the original afterwards (a collapsed one folds zeros)
    s.add(0.0)
    assert back == s


@pytest.mark.parametrize(
    ("state", "count", "buckets"),
    [
        # first key 100, counts 1 and 2, skip 3 empty buckets, count 1
        ([0.01, 2, [100, 1, 2, -3, 1], []], 6, {100: 1, 101: 2, 105: 1}),
        ([0.01, 0, [], [-5, 7]], 7, {}),
    ],
)
def test_state_store_encoding(state: list[object], count: int, buckets: dict[int, int]) -> None:
    s = QuantileSketch.from_state(state)
    assert s.count == count
    assert s._pos == buckets
    assert s.to_state() == state


@pytest.mark.parametrize(
    "state",
    [[0.01, 0, [1, 0], []], [0.01], [2.0, 0, [], []], "nope", [0.01, 0, ["x"], []]],
)
def test_bad_state_raises_value_error(state: object) -> None:
    with pytest.raises(ValueError, match="QuantileSketch"):
        QuantileSketch.from_state(state)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_add_rejects_non_finite(value: float) -> None:
    s = sketch_of([1.0])
    with pytest.raises(ValueError, match="cannot add"):
        s.add(value)
    assert s == sketch_of([1.0])


@pytest.mark.parametrize(
    "kwargs",
    [{"alpha": 0.0}, {"alpha": 1.0}, {"max_buckets": 0}, {"min_value": 0.0}],
)
def test_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="QuantileSketch"):
        QuantileSketch(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_quantile_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        sketch_of([1.0]).quantile(q)
