"""Application JSON logs: one object, a JSON array of objects, or NDJSON (one object a line).

Keys read (the first one present wins; every other key is kept in ``extra``):

- time: ``timestamp``, ``@timestamp``, ``time``: ISO 8601 (``Z`` or an offset, fractional
  seconds; a naive time is UTC) or an epoch number in s, ms, us or ns (inferred from its size);
- level: ``level``, ``severity``, ``levelname``, ``log.level``: lower-cased, ``warning`` ->
  ``warn``, ``fatal``/``critical`` -> ``crit``; pino/bunyan numbers (30 -> ``info``); default
  ``info``;
- service: ``service``, ``app``, ``logger`` (an ECS ``{"name": ...}`` object is read too),
  default ``unknown``;
- host: ``host``, ``hostname`` (or an ECS object's ``name``/``hostname``), else the caller's;
- message: ``message``, ``msg`` (required).
"""

from __future__ import annotations

from typing import Any

import orjson

from formats.points import AppLog, ParseError, Rejected
from formats.telegraf_json import dump, json_error
from formats.text import decode_lines, is_blank
from formats.timestamps import parse_time_value

DEFAULT_SERVICE = "unknown"
DEFAULT_LEVEL = "info"
_TIME_KEYS = ("timestamp", "@timestamp", "time")
_LEVEL_KEYS = ("level", "severity", "levelname", "log.level")
_SERVICE_KEYS = ("service", "app", "logger")
_HOST_KEYS = ("host", "hostname")
_MESSAGE_KEYS = ("message", "msg")
_LEVEL_ALIASES = {"warning": "warn", "fatal": "crit", "critical": "crit"}
_NUMERIC_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "crit"}


def parse_app_logs(payload: bytes, *, default_host: str) -> tuple[list[AppLog], list[Rejected]]:
    """Records of one message (object, array or NDJSON), and the parts that were rejected."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if b"\n" in payload.strip():
            return _parse_ndjson(payload, default_host)
        return [], [json_error(payload, exc)]
    whole = type(doc) is not list
    records: list[AppLog] = []
    rejected: list[Rejected] = []
    for item in [doc] if whole else doc:
        try:
            records.append(app_log_from_object(item, default_host=default_host))
        except ParseError as exc:
            rejected.append(Rejected(exc.reason, exc.detail, payload if whole else dump(item)))
    return records, rejected


def app_log_from_object(obj: Any, *, default_host: str) -> AppLog:
    """One record from a decoded JSON object; raises ``ParseError`` when it is not usable."""
    if type(obj) is not dict:
        raise ParseError("not_object", f"a log record must be a JSON object, not {_kind(obj)}")
    extra = dict(obj)
    message_key = _first_key(extra, _MESSAGE_KEYS)
    if message_key is None:
        raise ParseError("missing_field", "no 'message' or 'msg'")
    message = extra.pop(message_key)
    if type(message) is not str:
        message = orjson.dumps(message).decode() if type(message) in (dict, list) else str(message)
    time_key = _first_key(extra, _TIME_KEYS)
    time = parse_time_value(extra.pop(time_key)) if time_key is not None else None
    level_key = _first_key(extra, _LEVEL_KEYS)
    level = normalise_level(extra.pop(level_key)) if level_key is not None else DEFAULT_LEVEL
    service = _name(extra, _SERVICE_KEYS, ("name",)) or DEFAULT_SERVICE
    host = _name(extra, _HOST_KEYS, ("name", "hostname")) or default_host
    return AppLog(time=time, level=level, service=service, host=host, message=message, extra=extra)


def normalise_level(value: object) -> str:
    """Lower-case level name with the usual aliases; pino/bunyan numeric levels are mapped."""
    if type(value) is int:
        number: int = value  # type: ignore[assignment]
        return _NUMERIC_LEVELS.get(number - number % 10, "crit" if number > 60 else "trace")
    name = str(value).strip().lower()
    return _LEVEL_ALIASES.get(name, name) or DEFAULT_LEVEL


def _parse_ndjson(payload: bytes, default_host: str) -> tuple[list[AppLog], list[Rejected]]:
    lines, rejected = decode_lines(payload)
    records: list[AppLog] = []
    for line in lines:
        if is_blank(line):
            continue
        original = line.encode()
        try:
            obj = orjson.loads(original)
        except orjson.JSONDecodeError as exc:
            rejected.append(Rejected("not_json", str(exc)[:200], original))
            continue
        try:
            records.append(app_log_from_object(obj, default_host=default_host))
        except ParseError as exc:
            rejected.append(Rejected(exc.reason, exc.detail, original))
    return records, rejected


def _first_key(obj: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if obj.get(key) is not None:
            return key
    return None


def _name(extra: dict[str, Any], keys: tuple[str, ...], inner: tuple[str, ...]) -> str | None:
    """Pop the first usable key: a non-empty string, or an object with one of ``inner``."""
    for key in keys:
        value = extra.get(key)
        if type(value) is str and value:
            del extra[key]
            return value
        if type(value) is dict:
            for name_key in inner:
                name = value.get(name_key)
                if type(name) is str and name:
                    return name
    return None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
