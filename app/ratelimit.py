"""Token-bucket rate limiting (pure; the clock is an argument)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0 when allowed, else the seconds to wait."""
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


@dataclass(slots=True)
class RateLimiter:
    """One token bucket per key."""

    rate: float
    burst: float
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def check(self, key: str, now: float) -> float:
        """0 when ``key`` may go on now, else the seconds until it may."""
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take(now)


@dataclass(slots=True)
class ConcurrencyLimit:
    """At most ``limit`` open things (live tails) per caller at a time."""

    limit: int
    open: dict[str, int] = field(default_factory=dict)

    def acquire(self, caller: str) -> bool:
        """Take a slot for ``caller``; False when it has ``limit`` open already."""
        count = self.open.get(caller, 0)
        if count >= self.limit:
            return False
        self.open[caller] = count + 1
        return True

    def release(self, caller: str) -> None:
        """Give a slot back."""
        count = self.open.get(caller, 0) - 1
        if count > 0:
            self.open[caller] = count
        else:
            self.open.pop(caller, None)
