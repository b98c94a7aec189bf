"""What every aggregate kind shares: reported percentiles, JSON-state helpers, the merge check."""

from __future__ import annotations

from math import inf

PERCENTILES = (0.5, 0.95, 0.99)


def none_if_inf(x: float) -> float | None:
    """``x``, or None for an infinity (the empty aggregate's bounds), for JSON state."""
    return None if x in (inf, -inf) else x


def inf_if_none(x: float | None, default: float) -> float:
    """Reverse of :func:`none_if_inf`: ``default`` (an infinity) for None."""
    return default if x is None else x


def check_kind(agg: object, other: object) -> None:
    """Raise TypeError unless ``other`` is the same kind of aggregate as ``agg``."""
    if type(other) is not type(agg):
        raise TypeError(f"cannot merge {type(other).__name__} into {type(agg).__name__}")
