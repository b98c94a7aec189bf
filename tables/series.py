"""Series ids: how one aggregated series is named in window state, window records and alerts.

A metric series id is ``measurement SEP tags SEP field``, its tags ``key=value`` sorted by key
and joined by ``TAG_SEP`` (host among them); a log series id is ``log SEP service SEP host``, and
the series of its lines counted per pattern id ``pat SEP service SEP host``.
The separators are control characters that ``formats/decode.py`` refuses in names, so an id
always splits back into its parts.
"""

from __future__ import annotations

from typing import Any

SEP = "\x1f"
TAG_SEP = "\x1e"
LOG_PREFIX = "log"
PATTERN_PREFIX = "pat"


def metric_series_base(name: str, tags: dict[str, str]) -> str:
    """Series prefix of a Telegraf metric: measurement and its sorted tags (host included)."""
    if tags:
        return name + SEP + TAG_SEP.join(f"{k}={tags[k]}" for k in sorted(tags))
    return name + SEP


def log_series(service: str, host: str) -> str:
    """Series id of the error-rate aggregate of ``service`` on ``host``."""
    return f"{LOG_PREFIX}{SEP}{service}{SEP}{host}"


def pattern_series(service: str, host: str) -> str:
    """Series id of the per-pattern line counts of ``service`` on ``host``."""
    return f"{PATTERN_PREFIX}{SEP}{service}{SEP}{host}"


def describe_series(sid: str) -> dict[str, Any]:
    """Labels of a series id: measurement, field and tags, or service and host for logs
    (type ``log``) and pattern counts (type ``pattern``)."""
    parts = sid.split(SEP)
    if parts[0] == LOG_PREFIX and len(parts) == 3:
        return {"type": "log", "service": parts[1], "host": parts[2]}
    if parts[0] == PATTERN_PREFIX and len(parts) == 3:
        return {"type": "pattern", "service": parts[1], "host": parts[2]}
    name, tagstr, fld = parts[0], parts[1], parts[2] if len(parts) > 2 else ""
    tags = dict(t.split("=", 1) for t in tagstr.split(TAG_SEP) if t) if tagstr else {}
    return {"type": "metric", "measurement": name, "field": fld, "tags": tags}


def series_type(sid: str) -> str:
    """``l`` for log and pattern series, ``m`` for metric series."""
    return "l" if sid.startswith((LOG_PREFIX + SEP, PATTERN_PREFIX + SEP)) else "m"
