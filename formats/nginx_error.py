"""nginx error-log entries, raw or inside Telegraf JSON.

Raw entry, as nginx writes it::

    2023/10/10 13:55:36 [error] 1234#5678: *99 connect() failed (111: Connection refused) while
    connecting to upstream, client: 10.0.0.1, server: shop.example.com, request: "GET /api
    HTTP/1.1", upstream: "http://127.0.0.1:8080/api", host: "shop.example.com"

(one line in the log). ``PID#TID:`` and the connection id ``*N`` are optional. Lines that do
not start with a ``YYYY/MM/DD HH:MM:SS [`` time continue the previous entry (a PHP-FPM stack
trace in ``FastCGI sent in stderr``), and stay in its message. The trailing ``, client: ...``
context is split into ``client``, ``server``, ``request``, ``upstream`` and ``host`` (the
vhost) and removed from the message.

nginx writes the time without a zone: it is taken as UTC, or as UTC + ``tz_offset`` seconds
when the caller knows the server's offset (``+7200`` for a server on UTC+2).

Telegraf JSON: ``inputs.tail`` with ``data_format = "value"`` (the raw text in
``fields.value``) is read as raw text; a grok metric with the parts already split uses fields
``level``/``severity``/``loglevel``, ``message``/``msg``/``errormsg``, ``pid``, ``tid``,
``connection``/``cid``, ``client``, ``server``, ``request``, ``upstream`` and ``vhost``/
``http_host`` (``level`` may also be a tag), with the metric's timestamp.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from formats.points import ErrorLog, FieldValue, Metric, ParseError, Rejected
from formats.text import ascii_int, is_blank

LEVELS = frozenset(("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"))
_LEVEL_ALIASES = {"warning": "warn", "critical": "crit", "emergency": "emerg", "err": "error"}
_START = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[", re.ASCII)
_HEAD = re.compile(
    r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] "
    r"(?:(\d{1,10})#(\d{1,10}): ?)?(?:\*(\d{1,20}) )?",
    re.ASCII,
)
_CONTEXT_KEY = re.compile(
    r"(?:^|, )(client|server|request|subrequest|upstream|host|referrer|login|"
    r"bytes from/to client|bytes from/to upstream): "
)
_CONTEXT_START = ", client: "


def is_error_start(line: str) -> bool:
    """True when ``line`` starts a raw error-log entry (``YYYY/MM/DD HH:MM:SS [``)."""
    return _START.match(line) is not None


def parse_error_lines(
    lines: list[str], *, host: str, service: str, tz_offset: float = 0.0
) -> tuple[list[ErrorLog], list[Rejected]]:
    """Error entries of raw error-log lines; continuation lines join the entry before them."""
    records: list[ErrorLog] = []
    rejected: list[Rejected] = []
    for entry in group_entries(lines):
        try:
            records.append(
                parse_error_entry(entry, host=host, service=service, tz_offset=tz_offset)
            )
        except ParseError as exc:
            rejected.append(Rejected(exc.reason, exc.detail, entry.encode()))
    return records, rejected


def group_entries(lines: list[str]) -> list[str]:
    """Join continuation lines to the entry they follow; blank lines at the ends are dropped."""
    entries: list[list[str]] = []
    for line in lines:
        if is_error_start(line) or not entries:
            entries.append([line])
        else:
            entries[-1].append(line)
    texts = ["\n".join(entry).strip("\n") for entry in entries]
    return [text for text in texts if not is_blank(text)]


def parse_error_entry(text: str, *, host: str, service: str, tz_offset: float = 0.0) -> ErrorLog:
    """One raw entry (possibly several lines); raises ``ParseError`` (``bad_error_line``)."""
    head = _HEAD.match(text)
    if head is None:
        raise ParseError("bad_error_line", "expected 'YYYY/MM/DD HH:MM:SS [level]' at the start")
    level = normalise_level(head.group(7))
    try:
        year, month, day, hour, minute, second = map(int, head.group(1, 2, 3, 4, 5, 6))
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise ParseError("bad_timestamp", f"not a time: {text[:19]!r}") from None
    pid, tid, connection = head.group(8, 9, 10)
    message, context = split_context(text[head.end() :])
    return ErrorLog(
        time=moment.timestamp() - tz_offset,
        host=host,
        service=service,
        level=level,
        message=message,
        pid=int(pid) if pid else None,
        tid=int(tid) if tid else None,
        connection=int(connection) if connection else None,
        client=context.get("client"),
        server=context.get("server"),
        request=context.get("request"),
        upstream=context.get("upstream"),
        vhost=context.get("host"),
    )


def error_from_metric(metric: Metric, *, default_host: str, default_service: str) -> ErrorLog:
    """An error record from a grok metric whose fields are already split."""
    tags, fields = metric.tags, metric.fields
    level = _first(fields, "level", "severity", "loglevel") or _first(
        tags, "level", "severity", "loglevel"
    )
    message = _first(fields, "message", "msg", "errormsg")
    if level is None or message is None:
        missing = "level" if level is None else "message"
        raise ParseError("missing_field", f"{metric.name}: no {missing!r}")
    text, context = split_context(str(message))
    for key in ("client", "server", "request", "upstream"):
        value = fields.get(key)
        if value is not None:
            context[key] = str(value)
    vhost = _first(fields, "vhost", "http_host")
    return ErrorLog(
        time=metric.time,
        host=tags.get("host") or default_host,
        service=tags.get("service") or tags.get("vhost") or default_service,
        level=normalise_level(str(level)),
        message=text,
        pid=_int_or_none(fields.get("pid")),
        tid=_int_or_none(fields.get("tid")),
        connection=_int_or_none(fields.get("connection", fields.get("cid"))),
        client=context.get("client"),
        server=context.get("server"),
        request=context.get("request"),
        upstream=context.get("upstream"),
        vhost=str(vhost) if vhost is not None else context.get("host"),
    )


def split_context(message: str) -> tuple[str, dict[str, str]]:
    """Split ``msg, client: a, server: b, request: "..."`` into the message and its context."""
    at = message.rfind(_CONTEXT_START)
    if at < 0:
        if message.startswith("client: "):
            at = -2  # a message that is only context
        else:
            return message.rstrip(), {}
    context_text = message[at + 2 :]
    keys = list(_CONTEXT_KEY.finditer(context_text))
    context: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(context_text)
        value = context_text[match.end() : end].rstrip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        context.setdefault(match.group(1), value)
    return message[: max(at, 0)].rstrip(), context


def normalise_level(level: str) -> str:
    """A lower-case nginx level (``warning`` -> ``warn``); raises ``ParseError`` if unknown."""
    name = level.lower()
    name = _LEVEL_ALIASES.get(name, name)
    if name not in LEVELS:
        raise ParseError("bad_error_line", f"unknown level {level!r}")
    return name


def _first(values: dict[str, str] | dict[str, FieldValue], *keys: str) -> FieldValue | None:
    for key in keys:
        value = values.get(key)
        if value is not None and value != "":
            return value
    return None


def _int_or_none(value: FieldValue | None) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return ascii_int(str(value).lstrip("*"))
