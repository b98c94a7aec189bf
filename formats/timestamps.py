"""Timestamp helpers shared by the parsers: epoch units and ISO 8601 text to float UTC seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from formats.points import ParseError

UNITS = ("auto", "s", "ms", "us", "ns")

_DIVISORS: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
# Event times are kept within years -9999..9999 (|t| < 253402300800 s). Beyond that a float
# cannot step through windows (a one-pane step is lost in rounding) and a record could stall the
# window engine; such a time is a bad record, not data.
MAX_ABS_SECONDS = 253_402_300_800.0


def divisor(unit: str) -> int | None:
    """Divisor that turns an epoch in ``unit`` into seconds; ``None`` for ``auto``."""
    if unit == "auto":
        return None
    try:
        return _DIVISORS[unit]
    except KeyError:
        raise ValueError(
            f"unknown timestamp unit {unit!r}: use one of {', '.join(UNITS)}"
        ) from None


def infer_divisor(value: float) -> int:
    """Guess the unit of an epoch from its magnitude (<1e11 s, <1e14 ms, <1e17 us, else ns)."""
    size = -value if value < 0 else value
    if size < 1e11:
        return 1
    if size < 1e14:
        return 1_000
    if size < 1e17:
        return 1_000_000
    return 1_000_000_000


def checked(seconds: float, raw: object) -> float:
    """``seconds`` when it is a usable event time, else ParseError ``bad_timestamp``."""
    if -MAX_ABS_SECONDS < seconds < MAX_ABS_SECONDS:
        return seconds
    raise ParseError(
        "bad_timestamp", f"time {str(raw)[:40]!r} is outside the years -9999..9999 or not finite"
    )


def epoch_seconds(value: float, unit: str = "auto") -> float:
    """Seconds since the epoch for a number in ``unit`` (``auto`` infers it)."""
    div = divisor(unit)
    if div is None:
        div = infer_divisor(value)
    return checked(value / div, value)


def parse_iso8601(text: str, *, tz_offset: float = 0.0) -> float:
    """Seconds since the epoch for an ISO 8601 time; a naive time is taken as UTC + ``tz_offset``.

    Fractional seconds beyond microseconds are truncated.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ParseError("bad_timestamp", f"not an ISO 8601 time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC).timestamp() - tz_offset
    return moment.timestamp()


def parse_time_value(value: object, *, unit: str = "auto") -> float:
    """Seconds since the epoch for a JSON time: an epoch number, a numeric string or ISO 8601."""
    kind = type(value)
    if kind is int or kind is float:
        return epoch_seconds(value, unit)  # type: ignore[arg-type]
    if kind is str:
        text: str = value  # type: ignore[assignment]
        try:
            number = float(text)
        except ValueError:
            return parse_iso8601(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ParseError("bad_timestamp", f"not a finite time: {text[:40]!r}")
        return epoch_seconds(number, unit)
    raise ParseError("bad_timestamp", f"time must be a number or a string, not {kind.__name__}")
