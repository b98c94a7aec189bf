"""Request bodies of the alerting API, checked strictly (pure): ack and silence.

Each function takes the decoded JSON object and returns the values, or raises ValueError with a
message that names the field and what it must be (answered as 400 by the API).
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from alerting.labels import Matcher
from alerting.silences import Silence

SILENCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_NAME = 200
MAX_COMMENT = 2000


def text(doc: dict[str, Any], name: str, *, required: bool, limit: int) -> str:
    """A string field (stripped); required ones must not be blank."""
    value = doc.get(name)
    if value is None:
        if required:
            raise ValueError(f"'{name}' is required")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string")
    value = value.strip()
    if required and not value:
        raise ValueError(f"'{name}' must not be blank")
    if len(value) > limit:
        raise ValueError(f"'{name}' must be at most {limit} characters")
    return value


def seconds(doc: dict[str, Any], name: str) -> float | None:
    """A finite number from ``doc[name]`` (None when absent or null)."""
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number of seconds")
    if not math.isfinite(value):
        raise ValueError(f"'{name}' must be a finite number of seconds")
    return float(value)


def ack_from(doc: dict[str, Any]) -> tuple[str, str]:
    """``(by, comment)`` of an ack body ``{"by": "ann", "comment": "on it"}``."""
    by = text(doc, "by", required=True, limit=MAX_NAME)
    return by, text(doc, "comment", required=False, limit=MAX_COMMENT)


def silence_from(doc: dict[str, Any], now: float) -> Silence:
    """A silence from an API body: matchers {label: spec}, and ends_at or duration (s)."""
    raw = doc.get("matchers")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(
            "'matchers' must be a non-empty object of label: value (or =x, !=x, =~re, !~re)"
        )
    for label, spec in raw.items():
        if not label or not isinstance(spec, str):
            raise ValueError(f"'matchers': {label!r} must map a label name to a string")
    matchers = tuple(Matcher.parse(label, spec) for label, spec in raw.items())
    starts = seconds(doc, "starts_at")
    starts = now if starts is None else starts
    ends = seconds(doc, "ends_at")
    duration = seconds(doc, "duration")
    if ends is None and duration is None:
        raise ValueError("give 'ends_at' (epoch seconds) or 'duration' (seconds)")
    if ends is None:
        assert duration is not None
        if duration <= 0:
            raise ValueError("'duration' must be more than 0 seconds")
        ends = starts + duration
    if not math.isfinite(ends):
        raise ValueError("'duration' is too large")
    silence_id = text(doc, "id", required=False, limit=MAX_NAME) or uuid.uuid4().hex[:12]
    if not SILENCE_ID.fullmatch(silence_id):
        raise ValueError("'id' must be 1 to 64 letters, digits, '_', '.' or '-'")
    return Silence(
        id=silence_id,
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        created_by=text(doc, "created_by", required=True, limit=MAX_NAME),
        comment=text(doc, "comment", required=False, limit=MAX_COMMENT),
    )
