"""Bytes on the wire: Telegraf JSON and line protocol, raw nginx lines, app JSON logs (pure).

Telegraf JSON is what its ``json`` serializer writes: an object with ``fields``, ``name``,
``tags`` and ``timestamp`` (integer seconds, ``json_timestamp_units = "1s"``), keys sorted (Go
marshals maps sorted), integral floats without a fraction (Go prints ``0``, not ``0.0``), one
newline at the end; the batch form is ``{"metrics":[...]}``. Line protocol is Telegraf's
``influx`` serializer: tags sorted, integers with an ``i`` suffix, nanosecond timestamps.

Raw access lines are nginx's ``combined`` format with ``$request_time $upstream_response_time``
appended (they name no service; error lines carry the virtual host in ``host: "..."``)::

    log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status '
                     '$body_bytes_sent "$http_referer" "$http_user_agent" '
                     '$request_time $upstream_response_time';
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from formats.points import FieldValue, Metric

if TYPE_CHECKING:
    from devtools.simulator.traffic import AccessEntry, AppEntry, ErrorEntry

_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def telegraf_object(m: Metric) -> dict[str, Any]:
    """The JSON object Telegraf's serializer writes for one metric."""
    return {
        "fields": _go_fields(m.fields),
        "name": m.name,
        "tags": m.tags,
        "timestamp": int(m.time or 0.0),
    }


def telegraf_json(m: Metric) -> bytes:
    """One metric, Telegraf ``data_format = "json"``."""
    return orjson.dumps(telegraf_object(m), option=_JSON)


def telegraf_batch(metrics: Sequence[Metric]) -> bytes:
    """Several metrics, Telegraf ``json`` with ``use_batch_format = true``."""
    return orjson.dumps({"metrics": [telegraf_object(m) for m in metrics]}, option=_JSON)


def influx_lines(metrics: Sequence[Metric]) -> bytes:
    """Several metrics in InfluxDB line protocol, one line each."""
    return ("".join(influx_line(m) + "\n" for m in metrics)).encode()


def influx_line(m: Metric) -> str:
    """One metric in line protocol (no newline)."""
    tags = "".join(f",{_esc_key(k)}={_esc_key(v)}" for k, v in sorted(m.tags.items()))
    fields = ",".join(f"{_esc_key(k)}={_influx_value(v)}" for k, v in m.fields.items())
    name = m.name.replace(",", r"\,").replace(" ", r"\ ")
    return f"{name}{tags} {fields} {int(m.time or 0.0) * 10**9}"


def go_float(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` prints it."""
    text = repr(value)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def _influx_value(v: FieldValue) -> str:
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if '"' in v or "\\" in v or "\n" in v:
        v = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{v}"'


def _esc_key(s: str) -> str:
    if "," in s or "=" in s or " " in s:
        return s.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")
    return s


def _go_fields(fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
    out = None
    for k, v in fields.items():
        if isinstance(v, float) and v.is_integer():
            if out is None:
                out = dict(fields)
            out[k] = int(v)
    return fields if out is None else out


class NginxTags:
    """Telegraf tags of nginx log metrics (tail adds ``path``, the config adds ``service``)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._access: dict[tuple[str, int, str], dict[str, str]] = {}
        self._error: dict[str, dict[str, str]] = {}

    def access(self, service: str, status: int, verb: str) -> dict[str, str]:
        """Tags of an access-log metric."""
        key = (service, status, verb)
        tags = self._access.get(key)
        if tags is None:
            tags = self._access[key] = {
                "host": self.host,
                "path": f"/var/log/nginx/{service}.access.log",
                "resp_code": str(status),
                "service": service,
                "verb": verb,
            }
        return tags

    def error(self, service: str) -> dict[str, str]:
        """Tags of an error-log metric."""
        tags = self._error.get(service)
        if tags is None:
            tags = self._error[service] = {
                "host": self.host,
                "path": f"/var/log/nginx/{service}.error.log",
                "service": service,
            }
        return tags


def access_metric(e: AccessEntry, tags: dict[str, str]) -> Metric:
    """An access-log entry as Telegraf tail + grok (``%{COMBINED_LOG_FORMAT}`` + times) emits it."""
    fields: dict[str, FieldValue] = {
        "agent": e.agent,
        "auth": "-",
        "client_ip": e.client_ip,
        "http_version": 1.1,
        "ident": "-",
        "referrer": e.referrer,
        "request": e.request,
        "request_time": e.request_time,
        "resp_bytes": e.size,
        "upstream_response_time": e.upstream_time,
    }
    return Metric("nginx_access_log", tags, fields, float(int(e.time)))


def error_metric(e: ErrorEntry, tags: dict[str, str]) -> Metric:
    """An error-log line as Telegraf tail with ``data_format = "value"`` (string) emits it."""
    return Metric("nginx_error_log", tags, {"value": e.line}, float(int(e.time)))


def access_line(e: AccessEntry) -> bytes:
    """A raw access-log line (see the module docstring for the format)."""
    return (
        f'{e.client_ip} - - [{httpd_time(int(e.time))}] "{e.verb} {e.request} HTTP/1.1" '
        f'{e.status} {e.size} "{e.referrer}" "{e.agent}" '
        f"{e.request_time:.3f} {e.upstream_time:.3f}"
    ).encode()


def app_json(e: AppEntry, host: str, service: str) -> bytes:
    """An application log record as JSON."""
    sec = int(e.time)
    ms = round((e.time - sec) * 1000)
    if ms == 1000:
        sec, ms = sec + 1, 0
    return orjson.dumps(
        {
            "timestamp": f"{iso_second(sec)}.{ms:03d}Z",
            "level": e.level,
            "service": service,
            "host": host,
            "message": e.message,
            "trace_id": e.trace_id,
        }
    )


@lru_cache(maxsize=4096)
def httpd_time(sec: int) -> str:
    """nginx ``$time_local`` in UTC: ``10/Oct/2023:13:55:36 +0000``."""
    t = time.gmtime(sec)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


@lru_cache(maxsize=4096)
def nginx_error_time(sec: int) -> str:
    """nginx error-log time in UTC: ``2023/10/10 13:55:36``."""
    t = time.gmtime(sec)
    return (
        f"{t.tm_year}/{t.tm_mon:02d}/{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


@lru_cache(maxsize=4096)
def iso_second(sec: int) -> str:
    """ISO 8601 UTC without zone or fraction: ``2023-10-10T13:55:36``."""
    t = time.gmtime(sec)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )
