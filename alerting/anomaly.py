"""A streaming per-series baseline: exponentially weighted mean and variance (pure).

``update(x)`` scores ``x`` against the baseline *before* ``x`` is included, then folds it in,
so a value is never compared with a baseline it already moved. With weight ``alpha`` (0 < alpha
<= 1; the last ``~2/alpha`` samples dominate)::

    diff = x - mean
    mean = mean + alpha * diff
    var  = (1 - alpha) * (var + alpha * diff * diff)

(the incremental exponentially weighted variance of West 1979 / Finch 2009). The score is
``(x - mean) / std`` where ``std`` is never taken below ``rel_floor * |mean|`` nor ``abs_floor``,
so a near-constant series (a flat request rate) does not turn a tiny wobble into a huge z-score.
Until ``min_history`` samples are in, there is no score (``None``): no anomaly is judged on a
baseline that has not seen enough.

Every sample moves the baseline, anomalous ones too: a lasting level shift fires and then, as
the baseline adapts (about ``1/alpha`` samples), resolves; that is the point of a rule without a
hand-tuned threshold. State is JSON-compatible (:meth:`Ewma.to_state`/:meth:`Ewma.from_state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite, sqrt
from typing import Any

DEFAULT_ALPHA = 0.1
DEFAULT_REL_FLOOR = 0.01


@dataclass(slots=True)
class Ewma:
    """Exponentially weighted mean and variance of one series, with a sample count."""

    alpha: float = DEFAULT_ALPHA
    mean: float = 0.0
    var: float = 0.0
    n: int = 0
    rel_floor: float = DEFAULT_REL_FLOOR
    abs_floor: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"EWMA alpha must be in (0, 1], got {self.alpha!r}")
        if self.rel_floor < 0 or self.abs_floor < 0:
            raise ValueError("EWMA floors must be >= 0")

    @property
    def std(self) -> float:
        """The deviation used for scores: the EW standard deviation, floored."""
        return max(sqrt(self.var), self.rel_floor * abs(self.mean), self.abs_floor)

    def score(self, value: float, min_history: int = 1) -> float | None:
        """z-score of ``value`` against the baseline, or None before ``min_history`` samples."""
        if self.n < max(1, min_history):
            return None
        std = self.std
        diff = value - self.mean
        if std == 0.0:
            return 0.0 if diff == 0.0 else (float("inf") if diff > 0 else float("-inf"))
        return diff / std

    def update(self, value: float, min_history: int = 1) -> float | None:
        """Score ``value`` (see :meth:`score`), then fold it into the baseline."""
        if not isfinite(value):
            raise ValueError(f"EWMA cannot take {value!r}")
        z = self.score(value, min_history)
        if self.n == 0:
            self.mean, self.var = value, 0.0
        else:
            diff = value - self.mean
            incr = self.alpha * diff
            self.mean += incr
            self.var = (1.0 - self.alpha) * (self.var + diff * incr)
        self.n += 1
        return z

    def copy(self) -> Ewma:
        """An independent copy."""
        return Ewma(self.alpha, self.mean, self.var, self.n, self.rel_floor, self.abs_floor)

    def to_state(self) -> list[Any]:
        """``[alpha, mean, var, n, rel_floor, abs_floor]`` (JSON-compatible)."""
        return [self.alpha, self.mean, self.var, self.n, self.rel_floor, self.abs_floor]

    @classmethod
    def from_state(cls, state: list[Any]) -> Ewma:
        """Rebuild from :meth:`to_state` output."""
        alpha, mean, var, n, rel_floor, abs_floor = state
        return cls(float(alpha), float(mean), float(var), int(n), float(rel_floor), abs_floor)
