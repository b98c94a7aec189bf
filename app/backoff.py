"""Exponential backoff with jitter (pure: the random source is injected)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): ``min(cap, base * factor**attempt)``, jittered.

    The jitter draws uniformly from the upper half of that ceiling ("equal jitter"), so delays
    keep growing while several sinks or workers that failed together spread out.
    """

    base: float = 0.2
    cap: float = 10.0
    factor: float = 2.0
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay of ``attempt``."""
        exponent = min(max(attempt, 0), 64)
        return min(self.cap, self.base * self.factor**exponent)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt``."""
        top = self.ceiling(attempt)
        return top / 2 + self.rng() * top / 2
