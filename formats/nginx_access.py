"""nginx access logs: raw ``combined``/``common`` lines and Telegraf's grok JSON of them.

Raw line, as nginx's ``combined`` format writes it (``common`` stops after the byte count)::

    203.0.113.9 - alice [10/Oct/2023:13:55:36 +0200] "GET /x?y=1 HTTP/1.1" 200 512 "-" "curl/8.4"

Accepted around it: an X-Forwarded-For list in the client slot (``203.0.113.9, 10.0.0.1 - -``;
``client_ip`` is its first address and ``forwarded_for`` the whole list), IPv6 clients, an
empty request ``""`` (method, path and protocol ``None``), ``-`` bytes (0), quoted strings with
``\\"``/``\\\\`` (Apache) or ``\\xHH`` (nginx) escapes, and after the agent, in any order: one
more quoted field taken as ``$http_x_forwarded_for``, then bare ``$request_time`` and
``$upstream_response_time`` numbers (``-``, ``0.010, 0.020`` or ``0.010 : 0.020``, summed).
Other trailing fields are ignored. ``client_ip`` of the trailing-XFF form stays
``$remote_addr``, as logged.

Telegraf JSON: ``inputs.tail`` with ``grok_patterns = ["%{COMBINED_LOG_FORMAT}"]`` gives tags
``verb`` and ``resp_code`` and fields ``client_ip``, ``ident``, ``auth``, ``request``,
``http_version`` (float), ``resp_bytes`` (int), ``referrer`` and ``agent``; a custom pattern may
add ``request_time`` and ``upstream_response_time``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from math import isfinite

from formats.points import AccessLog, FieldValue, Metric, ParseError, Rejected
from formats.text import ascii_int, is_blank

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ESCAPE = re.compile(rb'\\(x[0-9A-Fa-f]{2}|["\\])')
_TIME_SIZE = len("10/Oct/2023:13:55:36 +0200")
# The usual tail: "referrer" "agent" [request_time [upstream_time]], no escapes; anything else
# takes the general scan of _read_tail (same result, this only skips the character walk).
_PLAIN_TAIL = re.compile(r'"([^"\\]*)" "([^"\\]*)"(?: ([^"\s]\S*))?(?: ([^"\s]\S*))?')

# The usual whole line: client, ident and user without spaces, brackets, quotes or commas (no
# X-Forwarded-For list), the time, a request and referrer and agent without escapes, then
# optional request and upstream times (the _PLAIN_TAIL form). Anything else: the full parse.
_PLAIN_LINE = re.compile(
    r'([^\s,"\[\]{]+) [^\s"\[\]]+ [^\s"\[\]]+ \[([^\]]{' + str(_TIME_SIZE) + r"})\] "
    r'"[^"\\]*" ([0-9]{3}) ([0-9]+|-) "[^"\\]*" "[^"\\]*"(?: ([^"\s]\S*))?(?: ([^"\s]\S*))?'
)


def plain_access_fields(line: str) -> tuple[str, float, int, int, float | None] | None:
    """client_ip, time, status, bytes and request time of a line of the usual form, the same as
    :func:`parse_access_line` gives; None for any other line (then parse it in full).

    For the window engine's hot path, which reads nothing else of a request.
    """
    m = _PLAIN_LINE.fullmatch(line)
    if m is None:
        return None
    client, stamp, status_text, size_text, request_time, _upstream = m.groups()
    status = ascii_int(status_text, 3)
    size = 0 if size_text == "-" else ascii_int(size_text)
    if status is None or size is None:
        return None
    try:
        time = httpd_time(stamp)
    except ParseError:
        return None
    return client, time, status, size, None if request_time is None else _seconds(request_time)


def parse_access_lines(
    lines: list[str], *, host: str, service: str
) -> tuple[list[AccessLog], list[Rejected]]:
    """Access-log records of raw lines (one request a line); blank lines are skipped."""
    records: list[AccessLog] = []
    rejected: list[Rejected] = []
    for line in lines:
        if is_blank(line):
            continue
        try:
            records.append(parse_access_line(line, host=host, service=service))
        except ParseError as exc:
            rejected.append(Rejected(exc.reason, exc.detail, line.encode()))
    return records, rejected


def parse_access_line(line: str, *, host: str, service: str) -> AccessLog:
    """One raw access-log line; raises ``ParseError`` (``bad_access_line``, ``bad_timestamp``)."""
    close = line.find('] "')
    open_ = close - _TIME_SIZE - 1
    if close < 0 or open_ < 1 or line[open_] != "[" or line[open_ - 1] != " ":
        raise ParseError("bad_access_line", "no [time] followed by a quoted request")
    who = line[: open_ - 1].rsplit(" ", 2)
    if len(who) != 3 or not who[0]:
        raise ParseError("bad_access_line", "expected 'client ident user' before the time")
    clients, _ident, user = who
    forwarded = _address_list(clients) if "," in clients else []
    client_ip = forwarded[0] if forwarded else clients.strip()
    time = httpd_time(line[open_ + 1 : close])
    request, i = _quoted(line, close + 2)
    head = line[i:].split(None, 2)
    status = ascii_int(head[0], 3) if head else None
    size = (0 if head[1] == "-" else ascii_int(head[1])) if len(head) > 1 else None
    if status is None or size is None:
        raise ParseError("bad_access_line", "expected status and bytes after the request")
    method, path, protocol = split_request(request)
    record = AccessLog(
        time=time,
        host=host,
        service=service,
        client_ip=client_ip,
        status=status,
        bytes=size,
        method=method,
        path=path,
        protocol=protocol,
        remote_user=None if user == "-" else user,
        forwarded_for=forwarded,
    )
    if len(head) == 3:
        _read_tail(head[2], record)
    return record


def access_from_metric(metric: Metric, *, default_host: str, default_service: str) -> AccessLog:
    """An access record from Telegraf's grok metric (``COMBINED_LOG_FORMAT`` field names)."""
    tags, fields = metric.tags, metric.fields
    status = fields.get("resp_code", tags.get("resp_code"))
    client = fields.get("client_ip")
    if status is None or client is None:
        missing = "resp_code" if status is None else "client_ip"
        raise ParseError("missing_field", f"{metric.name}: no {missing!r}")
    status_code = _as_int(status, "resp_code")
    client_text = str(client)
    forwarded = _address_list(client_text) if "," in client_text else []
    xff = fields.get("http_x_forwarded_for", fields.get("forwarded_for"))
    if isinstance(xff, str) and not forwarded:
        forwarded = _address_list(xff)
    method = fields.get("verb", tags.get("verb"))
    path = fields.get("request")
    version = fields.get("http_version")
    user = fields.get("auth")
    return AccessLog(
        time=metric.time,
        host=tags.get("host") or default_host,
        service=tags.get("service") or tags.get("vhost") or default_service,
        client_ip=forwarded[0] if forwarded else client_text,
        status=status_code,
        bytes=_as_int(fields.get("resp_bytes", 0), "resp_bytes"),
        method=str(method) if method else None,
        path=str(path) if path else None,
        protocol=_protocol(version) if version is not None else None,
        remote_user=None if user in (None, "-", "") else str(user),
        referrer=_dash_none(fields.get("referrer")),
        agent=_dash_none(fields.get("agent")),
        forwarded_for=forwarded,
        request_time=_seconds(fields.get("request_time")),
        upstream_time=_seconds(fields.get("upstream_response_time")),
    )


def split_request(request: str) -> tuple[str | None, str | None, str | None]:
    """Method, path and protocol of a request line; ``None`` parts when it is empty or garbage."""
    parts = request.split(" ")
    if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
        return parts[0], " ".join(parts[1:-1]), parts[-1]
    if len(parts) == 2 and parts[0].isalpha():
        return parts[0], parts[1], None  # HTTP/0.9 style: "GET /"
    return None, None, None


@lru_cache(maxsize=4096)
def httpd_time(text: str) -> float:
    """Seconds since the epoch for ``10/Oct/2023:13:55:36 +0200`` (nginx ``$time_local``)."""
    try:
        if len(text) != _TIME_SIZE or text[2] != "/" or text[6] != "/" or text[20] != " ":
            raise ValueError
        sign = {"+": 1, "-": -1}[text[21]]
        offset = timezone(sign * timedelta(hours=int(text[22:24]), minutes=int(text[24:26])))
        moment = datetime(
            int(text[7:11]),
            _MONTHS[text[3:6]],
            int(text[0:2]),
            int(text[12:14]),
            int(text[15:17]),
            int(text[18:20]),
            tzinfo=offset,
        )
    except (KeyError, ValueError):
        raise ParseError("bad_timestamp", f"not an nginx time: {text!r}") from None
    return moment.timestamp()


def upstream_seconds(text: str) -> float | None:
    """Sum of an ``$upstream_response_time`` list (``0.01, 0.02 : 0.03``); ``None`` if all ``-``."""
    total = None
    for part in text.replace(":", ",").split(","):
        part = part.strip()
        if part and part != "-":
            seconds = float(part)
            if not isfinite(seconds):
                raise ValueError(f"not a duration: {part!r}")
            total = (total or 0.0) + seconds
    return total


def _quoted(line: str, i: int) -> tuple[str, int]:
    """The unescaped text of the quoted string starting at ``line[i]``, and the index past it."""
    if i >= len(line) or line[i] != '"':
        raise ParseError("bad_access_line", f"expected a quoted string at column {i}")
    end = line.find('"', i + 1)
    while end > 0 and line[end - 1] == "\\":
        before = end - 1
        while line[before - 1] == "\\":
            before -= 1
        if (end - before) % 2 == 0:
            break  # an escaped backslash, then the closing quote
        end = line.find('"', end + 1)
    if end < 0:
        raise ParseError("bad_access_line", "unterminated quoted string")
    text = line[i + 1 : end]
    return (unescape(text) if "\\" in text else text), end + 1


def unescape(text: str) -> str:
    """Undo nginx (``\\xHH``) and Apache (``\\"``, ``\\\\``) log escapes; bytes decode as UTF-8."""
    raw = _ESCAPE.sub(_unescape_one, text.encode())
    return raw.decode("utf-8", "replace")


def _unescape_one(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return bytes.fromhex(code[1:].decode()) if len(code) == 3 else code


def _read_tail(tail: str, record: AccessLog) -> None:
    """Referrer, agent, X-Forwarded-For and timings after the byte count."""
    plain = _PLAIN_TAIL.fullmatch(tail)
    if plain is not None:
        referrer, agent, request_time, upstream_time = plain.groups()
        record.referrer = _dash_none(referrer)
        record.agent = _dash_none(agent)
        if request_time is not None:
            record.request_time = _seconds(request_time)
        if upstream_time is not None:
            record.upstream_time = _seconds(upstream_time)
        return
    quoted: list[str] = []
    bare: list[str] = []
    i, size = 0, len(tail)
    while i < size:
        char = tail[i]
        if char == " ":
            i += 1
        elif char == '"':
            text, i = _quoted(tail, i)
            quoted.append(text)
        else:
            end = tail.find(" ", i)
            end = size if end < 0 else end
            bare.append(tail[i:end])
            i = end
    if quoted:
        record.referrer = _dash_none(quoted[0])
    if len(quoted) > 1:
        record.agent = _dash_none(quoted[1])
    if len(quoted) > 2 and not record.forwarded_for:
        record.forwarded_for = _address_list(quoted[2])
    if bare:
        record.request_time = _seconds(bare[0])
    if len(bare) > 1:
        upstream = [bare[1]]
        for part in bare[2:]:
            if not (upstream[-1].endswith(",") or upstream[-1] == ":" or part == ":"):
                break
            upstream.append(part)
        record.upstream_time = _seconds(" ".join(upstream))


def _seconds(value: FieldValue | None) -> float | None:
    if value.__class__ is str:
        try:
            number = float(value)  # the common case: one duration
        except ValueError:
            pass  # a list (0.010, 0.020 : 0.030), or "-"
        else:
            return number if isfinite(number) else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return upstream_seconds(value)
    except ValueError:
        return None


def _address_list(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.split(",")) if part and part != "-"]


def _dash_none(value: FieldValue | None) -> str | None:
    if value is None or value == "-" or value == "":
        return None
    return str(value)


def _as_int(value: FieldValue, name: str) -> int:
    if isinstance(value, bool):
        raise ParseError("bad_access_line", f"{name} is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == "-" and name == "resp_bytes":
        return 0
    number = ascii_int(value) if isinstance(value, str) else None
    if number is not None:
        return number
    raise ParseError("bad_access_line", f"{name} is not an integer: {value!r}")


def _protocol(version: FieldValue) -> str:
    if isinstance(version, int | float) and not isinstance(version, bool):
        return f"HTTP/{float(version):g}" if float(version) % 1 else f"HTTP/{int(version)}.0"
    text = str(version)
    return text if text.startswith("HTTP/") else f"HTTP/{text}"
