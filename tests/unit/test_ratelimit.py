"""Token buckets on an explicit clock."""

from __future__ import annotations

import pytest

from app.ratelimit import ConcurrencyLimit, RateLimiter, TokenBucket


def test_burst_then_refill() -> None:
    # rate 2/s, burst 3: t=0 three requests pass, the fourth waits 0.5 s
    b = TokenBucket(rate=2, burst=3)
    assert [b.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(0.0) == pytest.approx(0.5)
    assert b.take(0.5) == 0.0  # one token refilled
    assert b.take(0.5) == pytest.approx(0.5)


def test_tokens_never_exceed_burst() -> None:
    b = TokenBucket(rate=10, burst=2)
    b.take(0.0)
    assert b.take(100.0) == 0.0 and b.take(100.0) == 0.0
    assert b.take(100.0) > 0


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.check("a", 0.0) == 0.0
    assert limiter.check("a", 0.0) == pytest.approx(1.0)
    assert limiter.check("b", 0.0) == 0.0


def test_concurrency_limit_per_caller() -> None:
    limit = ConcurrencyLimit(2)
    assert limit.acquire("a") and limit.acquire("a") and not limit.acquire("a")
    assert limit.acquire("b")
    limit.release("a")
    assert limit.acquire("a") and not limit.acquire("a")
    for _ in range(3):
        limit.release("a")
    assert "a" not in limit.open and limit.open == {"b": 1}
