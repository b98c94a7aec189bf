"""One entry point per input topic: bytes in, parsed records and rejected parts out.

None of these raise on bad input: every part that cannot be parsed becomes a ``Rejected``
with a short reason code and the original bytes of that part. Reason codes: ``empty``,
``not_utf8``, ``not_json``, ``not_object``, ``bad_metric``, ``bad_line_protocol``,
``bad_access_line``, ``bad_error_line``, ``bad_timestamp``, ``missing_field``,
``unknown_record`` (nginx JSON that is neither an access nor an error record), ``bad_name``
(a measurement, tag, field, service or host name holding a character the window engine reserves
for series ids: U+001E, U+001F).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from formats import app_log, line_protocol, nginx_access, nginx_error, telegraf_json
from formats.points import AccessLog, AppLog, ErrorLog, Metric, ParseError, Rejected
from formats.text import decode_lines, is_blank

R = TypeVar("R")
_JSON_STARTS = (ord("{"), ord("["))
# The window engine joins series ids with these (tables.series SEP / TAG_SEP): a name holding
# one would make an id that cannot be split back (it once crashed the worker on every restart).
_RESERVED = ("\x1e", "\x1f")
_ERROR_KEYS = frozenset(("level", "severity", "loglevel"))
_JSON_RESERVED = b"\\u001"  # the escapes \u001e and \u001f (any case) start with it
_RAW_RESERVED = tuple(c.encode() for c in _RESERVED)


def decode_metrics(
    payload: bytes, *, unit: str = "auto", default_host: str | None = None
) -> tuple[list[Metric], list[Rejected]]:
    """Telegraf metrics: JSON (first non-space byte ``{`` or ``[``) or else line protocol.

    ``unit`` is the unit of the JSON ``timestamp`` (``auto``, ``s``, ``ms``, ``us``, ``ns``);
    line-protocol timestamps are always inferred (Telegraf's influx serializer writes ns).
    ``default_host`` becomes the ``host`` tag of metrics that have none.
    """
    host_ok = default_host is None or not _reserved_in(default_host)
    # one metric a message (Telegraf's kafka output); anything else takes the full path
    if payload[:1] == b"{" and _JSON_RESERVED not in payload and host_ok:
        one = telegraf_json.single_metric(payload, unit=unit, default_host=default_host)
        if one is not None:
            return [one], []
    first = _first_byte(payload)
    if first is None:
        return [], [Rejected("empty", "empty message", payload)]
    if first in _JSON_STARTS:
        metrics, rejected = telegraf_json.parse_metrics(
            payload, unit=unit, default_host=default_host
        )
        # In JSON a control character can only be written escaped (orjson refuses it raw),
        # so a payload without "\u001" names nothing reserved: no need to look (the hot path).
        reserved_possible = _JSON_RESERVED in payload
    else:
        metrics, rejected = line_protocol.parse_lines(
            payload, unit="auto", default_host=default_host
        )
        reserved_possible = _RAW_RESERVED[0] in payload or _RAW_RESERVED[1] in payload
    if not reserved_possible and host_ok:
        return metrics, rejected
    return _named(metrics, rejected, _metric_names)


def decode_nginx(
    payload: bytes, *, default_host: str, default_service: str = "nginx", tz_offset: float = 0.0
) -> tuple[list[AccessLog | ErrorLog], list[Rejected]]:
    """nginx logs: Telegraf JSON (single or batch), raw access lines or raw error entries.

    Raw records take ``default_host`` and ``default_service``; JSON ones take the ``host`` tag
    and the ``service`` (else ``vhost``) tag before those. ``tz_offset`` (seconds east of UTC)
    applies to the zone-less times of raw error entries.
    """
    first = _first_byte(payload)
    if first is None:
        return [], [Rejected("empty", "empty message", payload)]
    if first in _JSON_STARTS:
        records, rejected = _nginx_json(payload, default_host, default_service, tz_offset)
    else:
        records, rejected = _nginx_text(payload, default_host, default_service, tz_offset)
    return _named(records, rejected, _log_names)


def nginx_access_fast(
    payload: bytes, *, default_host: str, default_service: str = "nginx"
) -> AccessLog | None:
    """The access record of a message that is one raw access line of the usual form, with the
    fields the window engine reads (time, status, bytes, request time) and ``client_ip``; None
    for anything else, which :func:`decode_nginx` then decodes in full.

    Exactly what :func:`decode_nginx` gives for those fields (a property test checks it);
    method, path, referrer, agent and upstream time stay unset: the sinks decode on their own.
    """
    if b"\n" in payload or b"\r" in payload:
        return None
    try:
        line = payload.decode()
    except UnicodeDecodeError:
        return None
    # No error entry ("YYYY/MM/DD HH:MM:SS [") fits the plain access form, which needs three
    # words before its "[": the form alone tells the two apart (a test holds it to that).
    fields = nginx_access.plain_access_fields(line)
    if fields is None or _reserved_in(default_host) or _reserved_in(default_service):
        return None
    client, time, status, size, request_time = fields
    return AccessLog(
        time=time,
        host=default_host,
        service=default_service,
        client_ip=client,
        status=status,
        bytes=size,
        request_time=request_time,
    )


def decode_app(payload: bytes, *, default_host: str) -> tuple[list[AppLog], list[Rejected]]:
    """Application JSON logs: one object, an array or NDJSON; ``default_host`` if none is given."""
    if _first_byte(payload) is None:
        return [], [Rejected("empty", "empty message", payload)]
    logs, rejected = app_log.parse_app_logs(payload, default_host=default_host)
    return _named(logs, rejected, _log_names)


def _metric_names(m: Metric) -> str:
    return "".join((m.name, *m.tags, *m.tags.values(), *m.fields))


def _log_names(r: AccessLog | ErrorLog | AppLog) -> str:
    return r.service + r.host


def _reserved_in(text: str) -> bool:
    return _RESERVED[0] in text or _RESERVED[1] in text


def _named(
    records: list[R], rejected: list[Rejected], names: Callable[[R], str]
) -> tuple[list[R], list[Rejected]]:
    """Move records whose names hold a reserved character to the rejected parts."""
    keep = []
    for rec in records:
        if _reserved_in(names(rec)):
            detail = "a name holds a reserved control character (U+001E or U+001F)"
            rejected.append(Rejected("bad_name", detail, repr(rec)[:500].encode()))
        else:
            keep.append(rec)
    return keep, rejected


def _first_byte(payload: bytes) -> int | None:
    head = payload[:64].lstrip() or payload.lstrip()
    return head[0] if head else None


def _nginx_json(
    payload: bytes, host: str, service: str, tz_offset: float
) -> tuple[list[AccessLog | ErrorLog], list[Rejected]]:
    objects, rejected, whole = telegraf_json.load_objects(payload)
    records: list[AccessLog | ErrorLog] = []
    for obj in objects:
        try:
            metric = telegraf_json.metric_from_object(obj)
            value = metric.fields.get("value")
            if isinstance(value, str):
                found, bad = _nginx_text(
                    value.encode(),
                    metric.tags.get("host") or host,
                    metric.tags.get("service") or metric.tags.get("vhost") or service,
                    tz_offset,
                )
                records.extend(found)
                rejected.extend(bad)
            elif "resp_code" in metric.tags or "resp_code" in metric.fields:
                records.append(
                    nginx_access.access_from_metric(
                        metric, default_host=host, default_service=service
                    )
                )
            elif metric.fields.keys() & _ERROR_KEYS or metric.tags.keys() & _ERROR_KEYS:
                records.append(
                    nginx_error.error_from_metric(
                        metric, default_host=host, default_service=service
                    )
                )
            else:
                raise ParseError(
                    "unknown_record",
                    f"{metric.name}: neither an access ('resp_code') nor an error ('level') record",
                )
        except ParseError as exc:
            original = payload if whole else telegraf_json.dump(obj)
            rejected.append(Rejected(exc.reason, exc.detail, original))
    return records, rejected


def _nginx_text(
    payload: bytes, host: str, service: str, tz_offset: float
) -> tuple[list[AccessLog | ErrorLog], list[Rejected]]:
    lines, rejected = decode_lines(payload)
    first = next((line for line in lines if not is_blank(line)), None)
    if first is None:
        return [], rejected or [Rejected("empty", "empty message", payload)]
    records: list[AccessLog | ErrorLog] = []
    if nginx_error.is_error_start(first):
        errors, bad = nginx_error.parse_error_lines(
            lines, host=host, service=service, tz_offset=tz_offset
        )
        records.extend(errors)
    else:
        accesses, bad = nginx_access.parse_access_lines(lines, host=host, service=service)
        records.extend(accesses)
    return records, rejected + bad
