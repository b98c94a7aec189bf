"""The search Grafana's Elasticsearch data source sends for a panel query (``_msearch`` item).

Follows Grafana's backend (``pkg/tsdb/elasticsearch``): a ``bool`` filter with the range on the
data source's time field (epoch milliseconds) and the panel's Lucene query as a
``query_string`` (``analyze_wildcard``); bucket aggregations nested in the order the panel lists
them, metric aggregations inside the innermost bucket (``count`` is the bucket's ``doc_count``);
``logs`` and ``raw_data`` queries fetch documents sorted by time, newest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grafana.macros import TimeRange, Value, expand_variables

DEFAULT_SIZE = 500
_PIPELINE = {"moving_avg", "moving_fn", "derivative", "cumulative_sum", "serial_diff"}


def _int(value: Any, default: int) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        return default
    return out or default


def _date_histogram(agg: Mapping[str, Any], tr: TimeRange, time_field: str) -> dict[str, Any]:
    settings = agg.get("settings") or {}
    interval = str(settings.get("interval") or "auto")
    if interval == "auto":
        interval = f"{tr.interval_ms}ms"
    body: dict[str, Any] = {
        "field": agg.get("field") or time_field,
        "fixed_interval": interval,
        "min_doc_count": _int(settings.get("min_doc_count"), 0),
        "extended_bounds": {"min": tr.from_ms, "max": tr.to_ms},
        "format": "epoch_millis",
    }
    if settings.get("offset"):
        body["offset"] = settings["offset"]
    return {"date_histogram": body}


def _terms(agg: Mapping[str, Any], metrics: list[Mapping[str, Any]]) -> tuple[dict, dict]:
    settings = agg.get("settings") or {}
    body: dict[str, Any] = {"field": agg["field"], "size": _int(settings.get("size"), DEFAULT_SIZE)}
    if "min_doc_count" in settings:
        body["min_doc_count"] = _int(settings["min_doc_count"], 0)
    inner: dict[str, Any] = {}
    order_by = settings.get("orderBy")
    if order_by:
        order = settings.get("order") or "desc"
        metric = next((m for m in metrics if str(m["id"]) == str(order_by)), None)
        if metric is None:
            body["order"] = {order_by: order}
        elif metric["type"] == "count":
            body["order"] = {"_count": order}
        else:
            body["order"] = {order_by: order}
            inner[str(metric["id"])] = {metric["type"]: {"field": metric["field"]}}
    return {"terms": body}, inner


def _metric(metric: Mapping[str, Any]) -> dict[str, Any]:
    kind = metric["type"]
    if kind in _PIPELINE:
        raise ValueError(f"pipeline aggregation {kind!r} is not reproduced here")
    body = dict(metric.get("settings") or {})
    if metric.get("field"):
        body["field"] = metric["field"]
    return {kind: body}


def search_body(
    target: Mapping[str, Any],
    tr: TimeRange,
    variables: Mapping[str, Value],
    *,
    time_field: str = "@timestamp",
) -> dict[str, Any]:
    """The search body Grafana sends for an Elasticsearch ``target`` over ``tr``."""
    query = expand_variables(str(target.get("query") or ""), variables, default="lucene")
    filters: list[dict[str, Any]] = [
        {"range": {time_field: {"gte": tr.from_ms, "lte": tr.to_ms, "format": "epoch_millis"}}}
    ]
    if query.strip():
        filters.append({"query_string": {"analyze_wildcard": True, "query": query}})
    body: dict[str, Any] = {"size": 0, "query": {"bool": {"filter": filters}}}
    metrics = list(target.get("metrics") or [])
    first = metrics[0]["type"] if metrics else "count"
    if first in ("logs", "raw_data", "raw_document"):
        settings = metrics[0].get("settings") or {}
        body["size"] = _int(settings.get("limit" if first == "logs" else "size"), DEFAULT_SIZE)
        body["sort"] = {
            time_field: {"order": "desc", "unmapped_type": "boolean"},
            "_doc": {"order": "desc"},
        }
        body["docvalue_fields"] = [time_field]
        body["script_fields"] = {}
        if first == "logs":
            body["highlight"] = {
                "fields": {"*": {}},
                "pre_tags": ["@HIGHLIGHT@"],
                "post_tags": ["@/HIGHLIGHT@"],
                "fragment_size": 2147483647,
            }
            auto = {"id": "1", "type": "date_histogram", "settings": {"interval": "auto"}}
            body["aggs"] = {"1": _date_histogram(auto, tr, time_field)}
        return body
    buckets = list(target.get("bucketAggs") or [])
    if not buckets:
        raise ValueError("a metric query needs at least one bucket aggregation")
    aggs: dict[str, Any] = {}
    level = aggs
    for agg in buckets:
        inner: dict[str, Any]
        if agg["type"] == "date_histogram":
            node, inner = _date_histogram(agg, tr, time_field), {}
        elif agg["type"] == "terms":
            node, inner = _terms(agg, metrics)
        else:
            raise ValueError(f"bucket aggregation {agg['type']!r} is not reproduced here")
        level[str(agg["id"])] = node
        node["aggs"] = inner
        level = inner
    for metric in metrics:
        if metric["type"] != "count":
            level[str(metric["id"])] = _metric(metric)
    _drop_empty_aggs(aggs)
    body["aggs"] = aggs
    return body


def _drop_empty_aggs(aggs: dict[str, Any]) -> None:
    for node in aggs.values():
        inner = node.get("aggs")
        if inner:
            _drop_empty_aggs(inner)
        else:
            node.pop("aggs", None)
