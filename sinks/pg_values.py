"""Python values -> values PostgreSQL accepts (pure): times, text without NUL, JSON, numbers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson

_MIN_TIME = -62_135_596_800.0  # 0001-01-01T00:00:00Z, the first instant datetime holds
_MAX_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z


class RowError(ValueError):
    """A record cannot become a row (the message says which field and why)."""


def to_time(ts: float) -> datetime:
    """Epoch seconds -> aware UTC datetime; :class:`RowError` outside years 1..9999."""
    if not _MIN_TIME <= ts <= _MAX_TIME:
        raise RowError(f"time {ts!r} is outside the years 1..9999")
    return datetime.fromtimestamp(ts, UTC)


def clean(text: str | None) -> str | None:
    """``text`` without NUL characters (PostgreSQL text cannot hold them)."""
    if text is None or "\x00" not in text:
        return text
    return text.replace("\x00", "")


def to_json(obj: Any) -> str:
    """Compact JSON text for a jsonb column (NUL escapes removed, unknown types as strings)."""
    text = orjson.dumps(obj, default=str).decode()
    return text.replace("\\u0000", "") if "\\u0000" in text else text


def number(value: Any) -> float | None:
    """A finite float of a metric field, or None (strings, NaN, infinities)."""
    if value.__class__ is str:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None
