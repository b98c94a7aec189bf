"""Backoff schedule: exponential, capped, jittered in the upper half."""

from __future__ import annotations

import pytest

from app.backoff import Backoff


def test_ceiling_doubles_up_to_the_cap() -> None:
    b = Backoff(base=0.2, cap=10.0)
    assert [b.ceiling(n) for n in range(8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    assert b.ceiling(10_000) == 10.0


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.5), (0.5, 0.75), (1.0, 1.0)])
def test_jitter_stays_in_the_upper_half(draw: float, factor: float) -> None:
    b = Backoff(base=1.0, cap=8.0, rng=lambda: draw)
    assert [b.delay(n) for n in range(5)] == [c * factor for c in (1.0, 2.0, 4.0, 8.0, 8.0)]


def test_default_jitter_is_random_within_bounds() -> None:
    b = Backoff()
    delays = {b.delay(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(0.8 <= d <= 1.6 for d in delays)
