"""InfluxDB line protocol as Telegraf's influx serializer writes it.

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``, one point a line.
Escapes: ``\\,`` and ``\\ `` in the measurement; ``\\,``, ``\\=`` and ``\\ `` in tag keys, tag
values and field keys; ``\\"`` and ``\\\\`` inside double-quoted string field values. A backslash
before any other character is kept as it is (InfluxDB's rule), so ``C:\\temp`` survives. Field
values: float (``1.5``, ``-3e-2``), integer ``3i``, unsigned ``4u``, boolean (``t``, ``T``,
``true``, ``True``, ``TRUE`` and the ``f`` forms) or string. The timestamp is an integer epoch,
nanoseconds by default. Blank lines and ``#`` comments are skipped, CRLF is tolerated, and a
string field may span lines. A bad line rejects only that line.
"""

from __future__ import annotations

import re
from math import isfinite

from formats.points import FieldValue, Metric, ParseError, Rejected
from formats.text import decode_lines
from formats.timestamps import checked, divisor, infer_divisor

_BOOLS: dict[str, bool] = {
    "t": True,
    "T": True,
    "true": True,
    "True": True,
    "TRUE": True,
    "f": False,
    "F": False,
    "false": False,
    "False": False,
    "FALSE": False,
}
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_UINT_MAX = 2**64 - 1
_NAME_STOPS = ", "
_MAX_CONTINUATION = 256
_NAME_SPECIAL = re.compile(r"[, \\]")
_KEY_SPECIAL = re.compile(r"[,= \\]")
_VALUE_END = re.compile(r"[, ]")
_FLOAT_ENDS = "0123456789."
_KEY_STOPS = ",= "


class _Unterminated(ParseError):
    """A string field value runs past the end of the line."""


def parse_lines(
    payload: bytes, *, unit: str = "ns", default_host: str | None = None
) -> tuple[list[Metric], list[Rejected]]:
    """Metrics of one line-protocol message, and the lines that could not be parsed."""
    div = divisor(unit)
    lines, rejected = decode_lines(payload)
    metrics: list[Metric] = []
    count = len(lines)
    index = 0
    while index < count:
        line = lines[index]
        index += 1
        if not line or line[0] == "#":
            continue
        if line[0] in " \t":
            stripped = line.lstrip()
            if not stripped or stripped[0] == "#":
                continue
        try:
            metrics.append(parse_line(line, div=div, default_host=default_host))
        except _Unterminated:
            joined = _join_string_lines(lines, index, line, div, default_host)
            if joined is None:
                rejected.append(
                    Rejected("bad_line_protocol", "unterminated string field", line.encode())
                )
            else:
                metric, index = joined
                metrics.append(metric)
        except ParseError as exc:
            rejected.append(Rejected(exc.reason, exc.detail, line.encode()))
    return metrics, rejected


def parse_line(
    line: str, *, div: int | None = 1_000_000_000, default_host: str | None = None
) -> Metric:
    """One point; ``div`` turns the timestamp into seconds (``None`` infers it from the size)."""
    if not line or line[0] in " \t":
        line = line.lstrip(" \t")
        if not line:
            raise ParseError("bad_line_protocol", "empty line")
    parsed = None
    if "\\" not in line:
        parsed = _parse_plain(line)
    if parsed is None:
        parsed = _parse_escaped(line)
    name, tags, fields, stamp = parsed
    if default_host is not None and "host" not in tags:
        tags["host"] = default_host
    if stamp is None:
        return Metric(name, tags, fields, None)
    if (
        len(stamp) > 20
        or not (stamp.isdigit() or (stamp[0] == "-" and stamp[1:].isdigit()))
        or not stamp.isascii()
    ):
        raise ParseError("bad_timestamp", f"timestamp is not an int64: {stamp[:30]!r}")
    number = int(stamp)
    if not _INT_MIN <= number <= _INT_MAX:
        raise ParseError("bad_timestamp", f"timestamp is not an int64: {stamp[:30]!r}")
    seconds = checked(number / (infer_divisor(number) if div is None else div), stamp)
    return Metric(name, tags, fields, seconds)


_Parsed = tuple[str, dict[str, str], dict[str, FieldValue], str | None]


def _parse_plain(line: str) -> _Parsed | None:
    """Fast path for a line without backslashes; ``None`` if it needs a closer look."""
    if '"' in line:
        space = line.find(" ")
        if space <= 0:
            return None
        head = line[:space]
        quoted = _plain_quoted_fields(line, space + 1)
        if quoted is None:
            return None
        fields, stamp = quoted
    else:
        parts = line.split(" ")
        size = len(parts)
        if size == 2:
            head, body = parts
            stamp = None
        elif size == 3:
            head, body, stamp = parts
            if not stamp:
                stamp = None
        else:
            return None
        fields = {}
        for pair in body.split(","):
            key, _, raw = pair.partition("=")
            if not key or not raw or "=" in raw:
                return None
            if raw[-1] in _FLOAT_ENDS and "_" not in raw:
                try:
                    number = float(raw)
                except ValueError:
                    return None
                if not isfinite(number):
                    return None
                fields[key] = number
            else:
                fields[key] = _number(raw)
    names = head.split(",")
    name = names[0]
    if not name:
        return None
    tags: dict[str, str] = {}
    for pair in names[1:]:
        key, _, value = pair.partition("=")
        if not key or not value or "=" in value:
            return None
        tags[key] = value
    return name, tags, fields, stamp


def _plain_quoted_fields(line: str, i: int) -> tuple[dict[str, FieldValue], str | None] | None:
    """Fields (with string values) and timestamp of a line without backslashes, from ``i``."""
    fields: dict[str, FieldValue] = {}
    size = len(line)
    while True:
        equals = line.find("=", i)
        key = line[i:equals]
        if equals <= i or "," in key or " " in key or '"' in key:
            return None
        if equals + 1 < size and line[equals + 1] == '"':
            close = line.find('"', equals + 2)
            if close < 0:
                return None
            fields[key] = line[equals + 2 : close]
            i = close + 1
        else:
            found = _VALUE_END.search(line, equals + 1)
            i = size if found is None else found.start()
            raw = line[equals + 1 : i]
            if not raw or '"' in raw:
                return None
            fields[key] = _number(raw)
        if i >= size:
            return fields, None
        if line[i] == " ":
            stamp = line[i + 1 :]
            return (fields, stamp or None) if " " not in stamp else None
        if line[i] != ",":
            return None
        i += 1


def _parse_escaped(line: str) -> _Parsed:
    """Careful path: escapes, quoted strings, and every error message."""
    size = len(line)
    name, i = _token(line, 0, _NAME_STOPS)
    if not name:
        raise ParseError("bad_line_protocol", "missing measurement")
    tags: dict[str, str] = {}
    while i < size and line[i] == ",":
        key, i = _token(line, i + 1, _KEY_STOPS)
        if not key or i >= size or line[i] != "=":
            raise ParseError("bad_line_protocol", f"tag {key!r} has no '=value'")
        value, i = _token(line, i + 1, _KEY_STOPS)
        if not value:
            raise ParseError("bad_line_protocol", f"tag {key!r} has an empty value")
        if i < size and line[i] == "=":
            raise ParseError("bad_line_protocol", f"tag {key!r} has an unescaped '='")
        tags[key] = value
    if i >= size:
        raise ParseError("bad_line_protocol", "no fields")
    while i < size and line[i] == " ":
        i += 1
    fields: dict[str, FieldValue] = {}
    while True:
        key, i = _token(line, i, _KEY_STOPS)
        if not key or i >= size or line[i] != "=":
            raise ParseError("bad_line_protocol", f"field {key!r} has no '=value'")
        i += 1
        if i < size and line[i] == '"':
            fields[key], i = _string(line, i + 1)
        else:
            found = _VALUE_END.search(line, i)
            end = size if found is None else found.start()
            if end == i:
                raise ParseError("bad_line_protocol", f"field {key!r} has an empty value")
            fields[key] = _number(line[i:end])
            i = end
        if i >= size or line[i] == " ":
            break
        if line[i] != ",":
            raise ParseError("bad_line_protocol", f"unexpected {line[i]!r} after field {key!r}")
        i += 1
    stamp = line[i:].strip(" \t") or None
    if stamp is not None and " " in stamp:
        raise ParseError("bad_line_protocol", "text after the timestamp")
    return name, tags, fields, stamp


def _token(line: str, i: int, stops: str) -> tuple[str, int]:
    """Read up to an unescaped stop character; ``\\`` + a stop character is that character."""
    special = _NAME_SPECIAL if stops is _NAME_STOPS else _KEY_SPECIAL
    size = len(line)
    start = i
    parts: list[str] = []
    while True:
        found = special.search(line, i)
        if found is None:
            i = size
            break
        i = found.start()
        if line[i] != "\\":
            break
        if i + 1 < size and line[i + 1] in stops:
            parts.append(line[start:i])
            start = i + 1
            i += 2
        else:
            i += 1
    if not parts:
        return line[start:i], i
    parts.append(line[start:i])
    return "".join(parts), i


def _string(line: str, i: int) -> tuple[str, int]:
    """Read a string field value after its opening quote; returns it and the index past it."""
    parts: list[str] = []
    while True:
        quote = line.find('"', i)
        if quote < 0:
            raise _Unterminated("bad_line_protocol", "unterminated string field")
        slash = line.find("\\", i, quote)
        if slash < 0:
            parts.append(line[i:quote])
            return "".join(parts), quote + 1
        parts.append(line[i:slash])
        escaped = line[slash + 1]
        if escaped == '"' or escaped == "\\":
            parts.append(escaped)
            i = slash + 2
        else:
            parts.append("\\")
            i = slash + 1


def _number(raw: str) -> FieldValue:
    """A non-string field value: ``1.5``, ``3i``, ``4u`` or a boolean."""
    last = raw[-1]
    try:
        if last == "i":
            value = int(raw[:-1])
            if "_" in raw or not _INT_MIN <= value <= _INT_MAX:
                raise ValueError
            return value
        if last == "u":
            unsigned = int(raw[:-1])
            if "_" in raw or raw[0] in "+-" or not 0 <= unsigned <= _UINT_MAX:
                raise ValueError
            return unsigned
        boolean = _BOOLS.get(raw)
        if boolean is not None:
            return boolean
        number = float(raw)
        if "_" in raw or not isfinite(number):
            raise ValueError
        return number
    except ValueError:
        raise ParseError("bad_line_protocol", f"bad field value {raw[:40]!r}") from None


def _join_string_lines(
    lines: list[str], index: int, line: str, div: int | None, default_host: str | None
) -> tuple[Metric, int] | None:
    """Retry a line whose string field continues on the next lines (a raw newline in a value).

    Only a line with a quote can close the string; at most ``_MAX_CONTINUATION`` are read.
    """
    parts = [line]
    for end in range(index, min(len(lines), index + _MAX_CONTINUATION)):
        parts.append(lines[end])
        if '"' not in lines[end]:
            continue
        try:
            return parse_line("\n".join(parts), div=div, default_host=default_host), end + 1
        except _Unterminated:
            continue
        except ParseError:
            return None
    return None
