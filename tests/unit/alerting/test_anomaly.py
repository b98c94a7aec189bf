"""The streaming EWMA baseline: exact recurrences, scores, floors, state round trip."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.anomaly import Ewma


def brute(values: list[float], alpha: float) -> tuple[float, float]:
    """EW mean and variance by the textbook recurrence, written out step by step."""
    mean, var = values[0], 0.0
    for x in values[1:]:
        diff = x - mean
        mean = mean + alpha * diff
        var = (1 - alpha) * (var + alpha * diff * diff)
    return mean, var


def test_first_value_sets_the_mean() -> None:
    e = Ewma(alpha=0.5)
    assert e.update(7.0) is None  # nothing to compare with yet
    assert (e.mean, e.var, e.n) == (7.0, 0.0, 1)


def test_known_sequence() -> None:
    # alpha 0.5:   x     diff   mean    var
    #              10    -      10      0
    #              14    4      12      0.5 * (0 + 0.5*16)  = 4
    #              12    0      12      0.5 * (4 + 0)       = 2
    e = Ewma(alpha=0.5, rel_floor=0.0)
    for x in (10.0, 14.0, 12.0):
        e.update(x)
    assert (e.mean, e.var, e.n) == (12.0, 2.0, 3)
    assert e.score(12.0 + 3 * math.sqrt(2.0)) == pytest.approx(3.0)


def test_no_score_until_min_history() -> None:
    e = Ewma(alpha=0.3)
    scores = [e.update(x, min_history=3) for x in (10.0, 11.0, 9.0, 10.0)]
    assert scores[:3] == [None, None, None]
    assert scores[3] is not None


def test_value_is_scored_before_it_moves_the_baseline() -> None:
    e = Ewma(alpha=0.5, rel_floor=0.0)
    for x in (10.0, 12.0, 10.0, 12.0):
        e.update(x)
    expected = e.score(40.0)
    assert e.update(40.0) == expected


@pytest.mark.parametrize(
    ("rel_floor", "abs_floor", "value", "expected"),
    [
        (0.01, 0.0, 101.0, 1.0),  # std floored at 1% of the mean (100): 1 deviation
        (0.0, 0.0, 100.0, 0.0),
        (0.0, 0.0, 101.0, math.inf),
        (0.0, 0.0, 99.0, -math.inf),
        (0.0, 2.0, 101.0, 0.5),
    ],
)
def test_constant_series_floors(
    rel_floor: float, abs_floor: float, value: float, expected: float
) -> None:
    e = Ewma(alpha=0.2, rel_floor=rel_floor, abs_floor=abs_floor)
    for _ in range(20):
        e.update(100.0)
    assert e.score(value) == expected


def test_round_trip_and_copy() -> None:
    e = Ewma(alpha=0.25)
    for x in (3.0, 5.0, 4.0):
        e.update(x)
    back = Ewma.from_state(json.loads(json.dumps(e.to_state())))
    assert back == e
    c = e.copy()
    c.update(100.0)
    assert e.n == 3 and c.n == 4


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        Ewma(alpha=alpha)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_values_are_refused(value: float) -> None:
    with pytest.raises(ValueError):
        Ewma().update(value)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=1, max_size=50), st.floats(min_value=0.01, max_value=1.0))
def test_matches_the_recurrence(values: list[float], alpha: float) -> None:
    e = Ewma(alpha=alpha)
    for x in values:
        e.update(x)
    mean, var = brute(values, alpha)
    assert e.mean == pytest.approx(mean, rel=1e-9, abs=1e-6)
    assert e.var == pytest.approx(var, rel=1e-9, abs=1e-6)
    assert e.var >= 0 and e.n == len(values)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e3, max_value=1e3), min_size=3, max_size=30),
    finite.filter(lambda x: abs(x) < 1e3),
    st.floats(min_value=0.1, max_value=100.0),
    st.floats(min_value=-1e3, max_value=1e3),
)
def test_score_is_scale_and_shift_invariant(
    values: list[float], probe: float, scale: float, shift: float
) -> None:
    a, b = Ewma(alpha=0.2, rel_floor=0.0), Ewma(alpha=0.2, rel_floor=0.0)
    for x in values:
        a.update(x)
        b.update(x * scale + shift)
    za, zb = a.score(probe), b.score(probe * scale + shift)
    assert za is not None and zb is not None
    if a.var > 1e-6:
        assert zb == pytest.approx(za, rel=1e-6, abs=1e-6)
