"""Telegraf JSON serializer output: one metric or a ``{"metrics": [...]}`` batch.

A metric is ``{"name": str, "tags": {str: str}, "fields": {str: number|bool|str},
"timestamp": N}``. ``timestamp`` is an epoch in the configured unit (Telegraf's
``json_timestamp_units``; ``auto`` infers it from the magnitude), or an ISO 8601 string when
``json_timestamp_format`` is set; without one the metric's time is ``None``. Numeric or boolean
tag values are coerced to strings. A bad metric in a batch rejects only that metric.
"""

from __future__ import annotations

from typing import Any

import orjson

from formats.points import Metric, ParseError, Rejected
from formats.timestamps import checked, divisor, infer_divisor, parse_time_value

_FIELD_TYPES = frozenset((int, float, bool, str))


def parse_metrics(
    payload: bytes, *, unit: str = "auto", default_host: str | None = None
) -> tuple[list[Metric], list[Rejected]]:
    """Metrics of one Telegraf JSON message, and the parts that could not be parsed."""
    div = divisor(unit)
    objects, rejected, whole = load_objects(payload)
    metrics: list[Metric] = []
    append = metrics.append
    for obj in objects:
        try:
            append(_metric(obj, div, unit, default_host))
        except ParseError as exc:
            rejected.append(Rejected(exc.reason, exc.detail, payload if whole else dump(obj)))
    return metrics, rejected


def single_metric(
    payload: bytes, *, unit: str = "auto", default_host: str | None = None
) -> Metric | None:
    """The metric of a message that is one valid Telegraf JSON metric (``{...}``, not a batch),
    exactly as :func:`parse_metrics` gives it; None for anything else, which
    :func:`parse_metrics` then parses in full and rejects what it must (the hot path: Telegraf's
    kafka output writes one metric per message)."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict or "metrics" in obj:
        return None
    try:
        return _metric(obj, divisor(unit), unit, default_host)
    except ParseError:
        return None


def load_objects(payload: bytes) -> tuple[list[Any], list[Rejected], bool]:
    """The metric objects of a message (single, batch or array), or why there are none.

    The flag is true when the message is one metric, whose original bytes are the payload.
    """
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return [], [json_error(payload, exc)], False
    if type(doc) is dict:
        batch = doc.get("metrics")
        if batch is None:
            return [doc], [], True
        if type(batch) is list:
            return batch, [], False
        return [], [Rejected("bad_metric", "'metrics' must be an array", payload)], False
    if type(doc) is list:
        return doc, [], False
    return [], [Rejected("bad_metric", "expected a JSON object or array", payload)], False


def json_error(payload: bytes, exc: Exception) -> Rejected:
    """Why orjson could not load a payload: ``empty``, ``not_utf8`` or ``not_json``."""
    if not payload.strip():
        return Rejected("empty", "empty message", payload)
    try:
        payload.decode()
    except UnicodeDecodeError as err:
        return Rejected("not_utf8", f"invalid UTF-8 at byte {err.start}", payload)
    return Rejected("not_json", str(exc)[:200], payload)


def metric_from_object(obj: Any, *, unit: str = "auto", default_host: str | None = None) -> Metric:
    """One metric from a decoded JSON object; raises ``ParseError`` when it is not valid."""
    return _metric(obj, divisor(unit), unit, default_host)


def dump(obj: Any) -> bytes:
    """The JSON bytes of one decoded part of a batch, for ``Rejected.original``."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # pragma: no cover - decoded JSON always serialises
        return repr(obj).encode()


def _metric(obj: Any, div: int | None, unit: str, default_host: str | None) -> Metric:
    if type(obj) is not dict:
        raise ParseError("bad_metric", "a metric must be a JSON object")
    name = obj.get("name")
    if type(name) is not str or not name:
        raise ParseError("bad_metric", "'name' must be a non-empty string")
    fields = obj.get("fields")
    if type(fields) is not dict or not fields:
        raise ParseError("bad_metric", f"{name}: 'fields' must be a non-empty object")
    for value in fields.values():
        if type(value) not in _FIELD_TYPES:
            _reject_fields(name, fields)
    tags = obj.get("tags")
    if tags is None:
        tags = {}
    elif type(tags) is not dict:
        raise ParseError("bad_metric", f"{name}: 'tags' must be an object")
    else:
        for value in tags.values():
            if type(value) is not str:
                _coerce_tags(name, tags)
                break
    if default_host is not None and "host" not in tags:
        tags["host"] = default_host
    stamp: Any = obj.get("timestamp")
    kind = type(stamp)
    if kind is int or kind is float:
        time: float | None = checked(stamp / (infer_divisor(stamp) if div is None else div), stamp)
    elif stamp is None:
        time = None
    else:
        time = parse_time_value(stamp, unit=unit)
    return Metric(name, tags, fields, time)


def _reject_fields(name: str, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        if type(value) not in _FIELD_TYPES:
            kind = "null" if value is None else type(value).__name__
            raise ParseError(
                "bad_metric", f"{name}: field {key!r} is {kind}, not a number, bool or string"
            )


def _coerce_tags(name: str, tags: dict[str, Any]) -> None:
    for key, value in tags.items():
        kind = type(value)
        if kind is str:
            continue
        if kind is bool:
            tags[key] = "true" if value else "false"
        elif kind is int or kind is float:
            tags[key] = str(value)
        else:
            kind_name = "null" if value is None else kind.__name__
            raise ParseError("bad_metric", f"{name}: tag {key!r} is {kind_name}, not a string")
