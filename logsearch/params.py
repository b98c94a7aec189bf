"""Query parameters of ``/api/logs/search``, ``/stats`` and ``/tail``, checked (pure).

Every mistake a caller can make raises :class:`BadParam` naming the parameter, which the views
answer with 400. Times are ISO 8601 (UTC when no offset is given) or relative to ``now``:
``-15m``, ``now-2h``, ``now`` (units s, m, h, d, w). Filters take a comma list or repeat the
parameter (``level=error,warn`` or ``level=error&level=warn``); values of one filter are ORed,
filters are ANDed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

# Filter parameter -> document field. ``pattern_id`` is applied to documents that carry it (the
# pattern miner adds it); ``tenant`` narrows within the caller's tenants (:func:`scoped`).
FILTERS = {
    "host": "host",
    "service": "service",
    "level": "level",
    "status_class": "status_class",
    "pattern_id": "pattern_id",
    "tenant": "tenant",
    "type": "type",
}
SOURCES = ("nginx", "app")
COMMON = ("q", "from", "to", "source", *FILTERS)
SEARCH_PARAMS = (*COMMON, "limit", "cursor")
STATS_PARAMS = (*COMMON, "interval", "split", "top")
TAIL_PARAMS = (*COMMON,)
MAX_QUERY = 1000
MAX_VALUES = 20
MAX_VALUE = 256
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
DEFAULT_RANGE = "-1h"
MAX_BUCKETS = 1000
TARGET_BUCKETS = 60
MAX_TOP = 50
SPLITS = ("level", "service", "host", "status_class", "pattern_id", "none")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NICE_INTERVALS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400, 604800)
_RELATIVE = re.compile(r"(?:now)?\s*(?:([+-])\s*(\d{1,9})\s*([smhdw]))?", re.IGNORECASE)
_INTERVAL = re.compile(r"(\d{1,9})([smhdw])")
_STATUS_CLASS = re.compile(r"[1-5]xx")
_PHRASE = re.compile(r'"[^"]*"')
_LUCENE_OPERATOR = re.compile(r"(?<!\S)(AND|OR|NOT|&&|\|\|)(?!\S)")
_DOC_FIELDS = (*FILTERS, "message", "path", "status", "method", "agent", "request", "category")
_FIELD_SYNTAX = re.compile(r"(?<![\w.])(" + "|".join(_DOC_FIELDS) + r")\s*:")


class BadParam(ValueError):
    """A query parameter is wrong; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


Params = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class LogFilter:
    """What every logs operation selects: text, time range, source families and field filters."""

    q: str
    start: float
    end: float
    sources: tuple[str, ...]
    terms: tuple[tuple[str, tuple[str, ...]], ...]
    fingerprint: str = field(default="", compare=False)


@dataclass(frozen=True)
class SearchRequest:
    """A search page: the filter, the page size and the cursor token (None: first page)."""

    filter: LogFilter
    limit: int
    cursor: str | None


@dataclass(frozen=True)
class StatsRequest:
    """A statistics request: the filter, the bucket width in seconds, the split field, top N."""

    filter: LogFilter
    interval: int
    split: str | None
    top: int


def parse_time(param: str, raw: str, now: float) -> float:
    """Epoch seconds of an ISO 8601 time or a time relative to ``now`` (``-15m``, ``now-1h``)."""
    text = raw.strip()
    rel = _RELATIVE.fullmatch(text)
    if text and rel and (text.lower().startswith("now") or rel.group(1)):
        sign, amount, unit = rel.groups()
        if sign is None:
            return now
        delta = int(amount) * UNITS[unit.lower()]
        return now - delta if sign == "-" else now + delta
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadParam(
            param, f"{raw[:40]!r} is not a time: give ISO 8601 or a relative time like -15m"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_interval(raw: str) -> int:
    """Seconds of an interval like ``30s``, ``5m``, ``1h``."""
    match = _INTERVAL.fullmatch(raw.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise BadParam("interval", f"{raw[:40]!r} is not an interval: give e.g. 30s, 5m, 1h, auto")
    return int(match.group(1)) * UNITS[match.group(2)]


def auto_interval(span: float) -> int:
    """A round bucket width that gives about ``TARGET_BUCKETS`` buckets over ``span`` seconds."""
    want = span / TARGET_BUCKETS
    return next((n for n in NICE_INTERVALS if n >= want), NICE_INTERVALS[-1])


def _one(params: Params, name: str) -> str | None:
    values = params.get(name) or ()
    if len(values) > 1:
        raise BadParam(name, "give it once")
    return values[0] if values else None


def _values(params: Params, name: str) -> tuple[str, ...]:
    out: list[str] = []
    for raw in params.get(name) or ():
        out.extend(part.strip() for part in raw.split(",") if part.strip())
    if len(out) > MAX_VALUES:
        raise BadParam(name, f"at most {MAX_VALUES} values")
    for value in out:
        if len(value) > MAX_VALUE:
            raise BadParam(name, f"a value is longer than {MAX_VALUE} characters")
    if name == "status_class":
        wrong = [v for v in out if not _STATUS_CLASS.fullmatch(v.lower())]
        if wrong:
            raise BadParam(name, f"{wrong[0][:20]!r} is not a status class (1xx..5xx)")
        out = [v.lower() for v in out]
    if name == "source":
        wrong = [v for v in out if v not in SOURCES]
        if wrong:
            raise BadParam(name, f"{wrong[0][:20]!r} is not a source ({', '.join(SOURCES)})")
    return tuple(dict.fromkeys(out))


def _integer(params: Params, name: str, default: int, low: int, high: int) -> int:
    raw = _one(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadParam(name, f"must be an integer from {low} to {high}")
    return value


def check_known(params: Params, allowed: Iterable[str]) -> None:
    """Refuse a parameter this operation does not take (naming it and the known ones)."""
    known = set(allowed)
    for name in params:
        if name not in known:
            raise BadParam(name, f"unknown parameter (known: {', '.join(sorted(known))})")


def fingerprint(params: Params, names: Iterable[str]) -> str:
    """A digest of the raw values of ``names``: what a cursor is bound to."""
    digest = hashlib.sha256()
    for name in sorted(names):
        for value in params.get(name) or ():
            digest.update(f"{name}\0{value}\0".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def check_text(q: str) -> None:
    """Refuse a query that is wrong in the simple query syntax, or written for Lucene's."""
    if len(q) > MAX_QUERY:
        raise BadParam("q", f"longer than {MAX_QUERY} characters")
    if "\0" in q:
        raise BadParam("q", "contains a NUL character")
    if q.count('"') % 2:
        raise BadParam("q", 'unbalanced quote: close the "phrase"')
    outside = _PHRASE.sub(" ", q)  # a phrase is plain text: "(a AND b:c)" is fine
    depth = 0
    for char in outside:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth:
        raise BadParam("q", "unbalanced parenthesis")
    if op := _LUCENE_OPERATOR.search(outside):
        raise BadParam(
            "q", f"{op.group(1)} is Lucene syntax: use + (and, the default), | (or), - (not)"
        )
    if found := _FIELD_SYNTAX.search(outside):
        name = found.group(1)
        fix = f"filter with {name}=value" if name in FILTERS else "search the words alone"
        raise BadParam("q", f"{name}:value is Lucene syntax: {fix}")


def parse_filter(params: Params, now: float) -> LogFilter:
    """The filter every logs operation shares (q, from, to, source, field filters)."""
    q = (_one(params, "q") or "").strip()
    check_text(q)
    start = parse_time("from", _one(params, "from") or DEFAULT_RANGE, now)
    end = parse_time("to", _one(params, "to") or "now", now)
    if start >= end:
        raise BadParam("from", "must be before to")
    terms = tuple((FILTERS[n], v) for n in FILTERS if (v := _values(params, n)))
    sources = _values(params, "source") or SOURCES
    return LogFilter(q, start, end, sources, terms, fingerprint(params, COMMON))


def scoped(flt: LogFilter, tenants: Collection[str] | None) -> LogFilter:
    """``flt`` narrowed to the documents of ``tenants`` (None: every tenant, nothing added).

    The caller's tenants come from its token, never from the query: a ``tenant`` parameter
    narrows within them, and one that names only other tenants selects nothing (an empty
    answer, as for a tenant without logs: no existence leaks).
    """
    if tenants is None:
        return flt
    asked = dict(flt.terms).get("tenant")
    allowed = tuple(sorted({t for t in (asked if asked is not None else tenants) if t in tenants}))
    terms = tuple(term for term in flt.terms if term[0] != "tenant")
    return replace(flt, terms=(*terms, ("tenant", allowed)))


def parse_search(params: Params, now: float) -> SearchRequest:
    """The parameters of ``GET /api/logs/search``."""
    check_known(params, SEARCH_PARAMS)
    flt = parse_filter(params, now)
    limit = _integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return SearchRequest(flt, limit, _one(params, "cursor"))


def parse_stats(params: Params, now: float) -> StatsRequest:
    """The parameters of ``GET /api/logs/stats``."""
    check_known(params, STATS_PARAMS)
    flt = parse_filter(params, now)
    raw = (_one(params, "interval") or "auto").strip().lower()
    interval = auto_interval(flt.end - flt.start) if raw == "auto" else parse_interval(raw)
    if (flt.end - flt.start) / interval > MAX_BUCKETS:
        raise BadParam("interval", f"gives more than {MAX_BUCKETS} buckets: widen it")
    split = (_one(params, "split") or "level").strip()
    if split not in SPLITS:
        raise BadParam("split", f"must be one of {', '.join(SPLITS)}")
    top = _integer(params, "top", 10, 1, MAX_TOP)
    return StatsRequest(flt, interval, None if split == "none" else split, top)


def parse_tail(params: Params, now: float) -> LogFilter:
    """The parameters of ``GET /api/logs/tail`` (``from``/``to`` are checked, not used)."""
    check_known(params, TAIL_PARAMS)
    return parse_filter(params, now)
