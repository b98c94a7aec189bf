"""Elasticsearch request bodies of log search and statistics, and their answers (pure).

* Search: ``bool`` with the time range and the field filters in ``filter`` (cached, unscored)
  and the free text as ``simple_query_string`` (``lenient``: a user's syntax never fails the
  request; unbalanced quotes or a stray ``(`` are taken as text). Newest first on
  ``(@timestamp, log_id)``; pages after the first use ``search_after`` on those sort values,
  so a deep page costs what the first one does (no ``from`` offset ever). A page is read in
  time slices (:func:`time_slices`), newest first, until it is full: each slice request asks
  only for the lines still missing, counts nothing (``track_total_hits: false``) and highlights
  only what it returns, so a request touches the lines near the page instead of the whole
  range. A page after a cursor starts at the cursor's millisecond. Only the first page counts
  the total, in its own request without hits (:func:`count_body`, capped at :data:`TOTAL_CAP`).
* Stats: a ``date_histogram`` with ``fixed_interval`` (no empty gaps: ``min_doc_count`` 0 and
  ``extended_bounds`` over the whole range), split per bucket by a ``terms`` aggregation, and the
  overall top N of the split field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from logsearch.params import LogFilter, SearchRequest, StatsRequest

TEXT_FIELDS = ("message", "path", "request", "agent", "host", "service")
HIGHLIGHT_FIELDS = ("message", "path", "request", "agent")
SORT = [{"@timestamp": {"order": "desc"}}, {"log_id": {"order": "desc"}}]
TOTAL_CAP = 10_000
FIRST_SLICE = 8  # the newest slice is 1/8 of the page's span (at least MIN_SLICE_MS) ...
SLICE_GROWTH = 4  # ... the next one 4 times wider, the third takes the rest
MAX_SLICES = 3
MIN_SLICE_MS = 60_000
NONE = "(none)"
MATCH_NOTHING: dict[str, Any] = {"bool": {"must_not": [{"match_all": {}}]}}
OTHER = "(other)"


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds, like the documents' ``@timestamp``."""
    when = datetime.fromtimestamp(ts, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def bool_query(flt: LogFilter, start: float, end: float) -> dict[str, Any]:
    """The ``bool`` query of a filter over ``[start, end)`` (ms precision)."""
    return ms_bool_query(flt, int(start * 1000), int(end * 1000))


def ms_bool_query(flt: LogFilter, start_ms: int, end_ms: int) -> dict[str, Any]:
    """The ``bool`` query of a filter over ``[start_ms, end_ms)`` (epoch milliseconds)."""
    filters: list[dict[str, Any]] = [
        {"range": {"@timestamp": {"gte": start_ms, "lt": end_ms, "format": "epoch_millis"}}}
    ]
    for name, values in flt.terms:
        # no value allowed (a caller asking for other tenants' logs only): match nothing
        filters.append({"terms": {name: list(values)}} if values else MATCH_NOTHING)
    out: dict[str, Any] = {"filter": filters}
    if flt.q:
        out["must"] = [
            {
                "simple_query_string": {
                    "query": flt.q,
                    "fields": list(TEXT_FIELDS),
                    "default_operator": "and",
                    "lenient": True,
                }
            }
        ]
    return {"bool": out}


def page_span(start: float, end: float, after: tuple[int, str] | None) -> tuple[int, int]:
    """``[start_ms, end_ms)`` that can hold a page's lines: up to the cursor's millisecond."""
    start_ms, end_ms = int(start * 1000), int(end * 1000)
    if after is not None:  # every later line sorts at or before the cursor's time
        end_ms = min(end_ms, after[0] + 1)
    return start_ms, end_ms


def time_slices(
    start_ms: int,
    end_ms: int,
    growth: int = SLICE_GROWTH,
    most: int = MAX_SLICES,
) -> Iterator[tuple[int, int]]:
    """Adjacent ``[lo, hi)`` covering ``[start_ms, end_ms)``, newest first, each ``growth``
    times wider than the one before; the ``most``-th slice takes all that is left."""
    hi, width = end_ms, max(MIN_SLICE_MS, (end_ms - start_ms) // FIRST_SLICE)
    for n in range(1, most + 1):
        if hi <= start_ms:
            return
        lo = start_ms if n == most else max(start_ms, hi - width)
        yield lo, hi
        hi, width = lo, width * growth


def search_body(
    req: SearchRequest,
    start_ms: int,
    end_ms: int,
    after: tuple[int, str] | None,
    size: int | None = None,
) -> dict[str, Any]:
    """The ``_search`` body of (a slice of) a page: ``size`` lines after ``after``, no count."""
    body: dict[str, Any] = {
        "size": req.limit if size is None else size,
        "query": ms_bool_query(req.filter, start_ms, end_ms),
        "sort": SORT,
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = list(after)
    if req.filter.q:
        body["highlight"] = {
            "fields": {name: {"number_of_fragments": 0} for name in HIGHLIGHT_FIELDS},
            "require_field_match": False,
        }
    return body


def count_body(flt: LogFilter, start: float, end: float) -> dict[str, Any]:
    """The ``_search`` body that counts a first page's total (no hits, capped)."""
    return {"size": 0, "query": bool_query(flt, start, end), "track_total_hits": TOTAL_CAP}


def entry(hit: Mapping[str, Any]) -> dict[str, Any]:
    """One result: id, time, index, the document, the highlights (field -> fragments)."""
    source = hit.get("_source") or {}
    return {
        "id": hit.get("_id"),
        "time": source.get("@timestamp"),
        "index": hit.get("_index"),
        "doc": source,
        "highlight": hit.get("highlight") or {},
    }


def last_sort(hits: Sequence[Mapping[str, Any]]) -> tuple[int, str] | None:
    """The sort values of the last hit (where the next page starts), None when there are none."""
    if not hits:
        return None
    when, log_id = hits[-1]["sort"][:2]
    return int(when), str(log_id)


def total(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"value", "relation"}`` of a first page (``gte`` when over the cap), else None."""
    raw = (answer.get("hits") or {}).get("total")
    if isinstance(raw, Mapping):
        return {"value": int(raw.get("value", 0)), "relation": raw.get("relation", "eq")}
    return None


def stats_body(req: StatsRequest) -> dict[str, Any]:
    """The ``_search`` body of a statistics request (no hits, aggregations only)."""
    flt = req.filter
    start_ms, end_ms = int(flt.start * 1000), int(flt.end * 1000)
    histogram: dict[str, Any] = {
        "date_histogram": {
            "field": "@timestamp",
            "fixed_interval": f"{req.interval}s",
            "min_doc_count": 0,
            "extended_bounds": {"min": start_ms, "max": max(start_ms, end_ms - 1)},
        }
    }
    aggs: dict[str, Any] = {"over_time": histogram}
    if req.split:
        split = {"terms": {"field": req.split, "size": req.top, "missing": NONE}}
        histogram["aggs"] = {"split": split}
        aggs["top"] = split
    return {
        "size": 0,
        "query": bool_query(flt, flt.start, flt.end),
        "aggs": aggs,
        "track_total_hits": True,
    }


def stats_answer(req: StatsRequest, answer: Mapping[str, Any]) -> dict[str, Any]:
    """Buckets (time, count, counts of the top keys and the rest) and the overall top keys."""
    aggs = answer.get("aggregations") or {}
    counts = [
        (str(b["key"]), int(b["doc_count"])) for b in (aggs.get("top") or {}).get("buckets", [])
    ]
    top = [{"key": key, "count": count} for key, count in counts]
    keys = [key for key, _ in counts]
    start_ms, end_ms = int(req.filter.start * 1000), int(req.filter.end * 1000)
    buckets = []
    for raw in (aggs.get("over_time") or {}).get("buckets", []):
        at = int(raw["key"])
        if not start_ms - req.interval * 1000 < at < end_ms:
            continue
        bucket: dict[str, Any] = {"time": iso(at / 1000), "count": int(raw["doc_count"])}
        if req.split:
            split = raw.get("split") or {}
            found = {str(b["key"]): int(b["doc_count"]) for b in split.get("buckets", [])}
            by: dict[str, int] = {key: found.get(key, 0) for key in keys}
            by[OTHER] = bucket["count"] - sum(by.values())
            bucket["by"] = by
        buckets.append(bucket)
    hits_total = total(answer) or {"value": sum(b["count"] for b in buckets)}
    return {
        "from": iso(req.filter.start),
        "to": iso(req.filter.end),
        "interval": f"{req.interval}s",
        "split": req.split,
        "total": hits_total["value"],
        "top": top,
        "buckets": buckets,
    }
