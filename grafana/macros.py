"""Grafana's query expansion, reproduced to run the dashboards' queries where Grafana cannot run.

What a panel's query becomes before it reaches the data source, in Grafana's order:

1. Template variables (frontend): ``$name``, ``${name}``, ``${name:format}`` and ``[[name]]``,
   formatted with ``sqlstring``, ``lucene``, ``csv``, ``raw``, ``pipe`` or ``singlequote``, or
   the data source's default (SQL: multi-value and include-all variables become a quoted list;
   Elasticsearch: lucene).
2. Global SQL substitutions (backend, ``sqleng``): ``$__interval_ms``, ``$__interval``,
   ``$__unixEpochFrom()``, ``$__unixEpochTo()``.
3. PostgreSQL macros (backend, ``macros.go``): ``$__time``, ``$__timeEpoch``, ``$__timeFilter``,
   ``$__timeFrom``, ``$__timeTo``, ``$__timeGroup``, ``$__timeGroupAlias``,
   ``$__unixEpochFilter``, ``$__unixEpochGroup(Alias)`` (fill values are accepted and ignored:
   they change the frame, not the SQL).

``interval`` follows Grafana's calculator: range / max data points, at least the data source's
minimum interval, rounded to a "nice" step (``roundInterval``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Value = str | Sequence[str]

# Grafana's roundInterval: (upper bound in ms, the interval used below it), ascending.
_ROUND_MS = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)
_UNITS_MS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_DURATION_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_MS["w"] = 7 * _DURATION_MS["d"]
# ${name}, ${name:format}, [[name]], [[name:format]], $name (Grafana's variableRegex).
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.[^:^}]+)?(?::([^}]+))?}")
_MACRO = re.compile(r"\$(\w+)\(([^)]*)\)")
_LUCENE_SPECIAL = re.compile(r'([!*+\-=<>\s&|()\[\]{}^~?:\\/"])')


class MacroError(ValueError):
    """A query uses a macro or variable Grafana would refuse (the message names it)."""


@dataclass(frozen=True)
class TimeRange:
    """A dashboard time range (aware UTC datetimes) and the interval Grafana derives from it."""

    start: datetime
    end: datetime
    interval_ms: int

    @classmethod
    def of(
        cls, start: datetime, end: datetime, *, max_data_points: int = 1000, min_interval: str = ""
    ) -> TimeRange:
        """The range with Grafana's calculated interval (``min_interval`` like ``10s``)."""
        span = (end - start) / timedelta(milliseconds=1)
        raw = max(span / max_data_points, float(parse_duration_ms(min_interval or "1ms")))
        return cls(start.astimezone(UTC), end.astimezone(UTC), round_interval_ms(raw))

    @property
    def interval_text(self) -> str:
        """``$__interval`` as Grafana prints it (``10s``, ``2m``, ``500ms``)."""
        return format_duration_ms(self.interval_ms)

    @property
    def from_ms(self) -> int:
        """Start in epoch milliseconds."""
        return int(self.start.timestamp() * 1000)

    @property
    def to_ms(self) -> int:
        """End in epoch milliseconds."""
        return int(self.end.timestamp() * 1000)


def round_interval_ms(ms: float) -> int:
    """Grafana's ``roundInterval``: the nice interval for a raw interval in milliseconds."""
    for bound, nice in _ROUND_MS:
        if ms <= bound:
            return nice
    return 31_536_000_000


def parse_duration_ms(text: str) -> int:
    """``10s``, ``5m``, ``500ms``, ``1h``, ``1d``, ``1w`` -> milliseconds."""
    match = _DURATION.match(text.strip().strip("'"))
    if match is None:
        raise MacroError(f"interval {text!r} is not a Grafana duration such as 10s, 5m or 1h")
    return int(match.group(1)) * _DURATION_MS[match.group(2)]


def format_duration_ms(ms: int) -> str:
    """Milliseconds as the largest whole unit: ``60000`` -> ``1m``."""
    for unit, size in _UNITS_MS:
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


# --- template variables ---------------------------------------------------------------------


def lucene_escape(value: str) -> str:
    """Grafana's ``luceneEscape``: a backslash before each Lucene special character."""
    return _LUCENE_SPECIAL.sub(r"\\\1", value)


def format_value(value: Value, fmt: str) -> str:
    """One variable value (a string, or a list for multi-value) in a Grafana format."""
    many = not isinstance(value, str)
    values: list[str] = list(value) if not isinstance(value, str) else [value]
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "lucene":
        if not many:
            return lucene_escape(values[0])
        if not values:
            return "__empty__"
        return "(" + " OR ".join(f'"{lucene_escape(v)}"' for v in values) + ")"
    if fmt == "csv" or fmt == "raw":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    raise MacroError(f"variable format {fmt!r} is not supported here")


def sql_default(value: Value, multi: bool) -> str:
    """The SQL data sources' default: multi/include-all variables quoted, others as they are."""
    if isinstance(value, str) and not multi:
        return value
    return format_value(value if not isinstance(value, str) else [value], "sqlstring")


def expand_variables(
    text: str,
    variables: Mapping[str, Value],
    *,
    default: str,
    multi: Mapping[str, bool] | None = None,
) -> str:
    """Replace template variables in ``text``; ``default`` is ``sql`` or ``lucene``.

    Built-in ``$__...`` variables are left for the later steps; an unknown variable raises
    :class:`MacroError` (Grafana would leave it in place and the query would fail).
    """
    multi = multi or {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(5)
        if name.startswith("__"):
            return match.group(0)
        if name not in variables:
            raise MacroError(f"variable ${name} is not defined in the dashboard's templating")
        value = variables[name]
        if fmt:
            return format_value(value, fmt)
        if default == "lucene":
            return format_value(value, "lucene")
        return sql_default(value, multi.get(name, not isinstance(value, str)))

    return _VARIABLE.sub(replace, text)


def variable_names(text: str) -> set[str]:
    """Names of the template variables ``text`` uses (built-ins excluded)."""
    names = set()
    for match in _VARIABLE.finditer(text):
        name = match.group(1) or match.group(2) or match.group(4)
        if not name.startswith("__"):
            names.add(name)
    return names


# --- SQL --------------------------------------------------------------------------------------


def _rfc3339(when: datetime) -> str:
    text = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def _seconds(ms: int) -> str:
    # Go prints interval.Seconds() with %v: 10 -> "10", 0.5 -> "0.5".
    return f"{ms / 1000:g}"


def _macro(name: str, args: list[str], tr: TimeRange) -> str:
    def column() -> str:
        if not args or not args[0]:
            raise MacroError(f"missing time column argument for macro ${name}")
        return args[0]

    def group_seconds() -> str:
        if len(args) < 2:
            raise MacroError(f"macro ${name} needs time column and interval and optional fill")
        return _seconds(parse_duration_ms(args[1]))

    start, end = _rfc3339(tr.start), _rfc3339(tr.end)
    if name == "__time":
        return f'{column()} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {column()}) as "time"'
    if name == "__timeFilter":
        return f"{column()} BETWEEN '{start}' AND '{end}'"
    if name == "__timeFrom":
        return f"'{start}'"
    if name == "__timeTo":
        return f"'{end}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        step = group_seconds()
        group = f"floor(extract(epoch from {column()})/{step})*{step}"
        return group + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        col = column()
        return f"{col} >= {int(tr.start.timestamp())} AND {col} <= {int(tr.end.timestamp())}"
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        step = group_seconds()
        group = f"floor(({column()})/{step})*{step}"
        return group + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise MacroError(f"unknown macro ${name}")


def expand_sql(
    sql: str,
    tr: TimeRange,
    variables: Mapping[str, Value],
    multi: Mapping[str, bool] | None = None,
) -> str:
    """The SQL Grafana's PostgreSQL data source runs for ``sql`` over ``tr``."""
    text = expand_variables(sql, variables, default="sql", multi=multi)
    text = text.replace("$__interval_ms", str(tr.interval_ms))
    text = text.replace("$__interval", tr.interval_text)
    text = text.replace("$__unixEpochFrom()", str(int(tr.start.timestamp())))
    text = text.replace("$__unixEpochTo()", str(int(tr.end.timestamp())))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            # Grafana: a comma right after $__timeGroup(...) means the pre-5.3 aliasing form.
            after = match.end()
            if after < len(match.string) and match.string[after] == ",":
                name = "__timeGroupAlias"
        args = [arg.strip() for arg in match.group(2).split(",")]
        return _macro(name, args, tr)

    return _MACRO.sub(replace, text)
