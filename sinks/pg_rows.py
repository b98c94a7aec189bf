"""Kafka messages -> PostgreSQL rows (pure: no I/O, no clock).

One mapper for the four topics the Postgres sink reads:

* ``telegraf.metrics`` -> ``server_metrics``: one row per numeric field of every metric (ints,
  floats and booleans as 0/1, finite values only; strings are skipped, as the window engine
  skips them). Key: source topic, partition, offset, ``item`` (the metric's index in the
  message) and field.
* ``logs.nginx`` -> ``error_logs``: error entries with a category from :mod:`sinks.classify`;
  access entries are not stored in Postgres (they go to Elasticsearch and are counted in the
  windows). ``item`` is the entry's index among the message's decoded records.
* ``logs.app`` -> ``application_logs``.
* ``lookout.windows`` -> ``aggregated_metrics`` (metric series) or ``error_rates`` (labels
  type ``log``), keyed on their natural keys and upserted.
* ``lookout.alerts`` -> ``alert_history``, ``incidents``, ``downtime_logs`` (see
  :mod:`sinks.alert_rows`: ordered idempotent statements).

Every row of the five tables above carries its host's ``tenant``: window rows the one of their
final record, raw rows the one of the host->tenant map (``tenants``, the worker's
:class:`~app.tenancy.TenantMap` kept current by :mod:`sinks.host_tenants`; a metric's ``tenant``
tag counts as it does in the worker).

A record without its own time gets the Kafka message timestamp, which a replay reproduces (the
worker's processing-time fallback would not). Text loses NUL characters (PostgreSQL refuses
them). Parts the decoders reject are skipped: the worker already dead-letters them. A window
record that is not valid JSON, or a time PostgreSQL cannot hold, is refused (dead letter).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from app.tenancy import TENANT_TAG, TenantMap
from app.topics import TopicNames
from formats.decode import decode_app, decode_metrics, decode_nginx
from formats.points import ErrorLog
from sinks.alert_rows import OPS, alert_ops
from sinks.batch import Mapped, Message
from sinks.classify import classify
from sinks.pg_values import RowError, clean, number, to_json, to_time

PgRows = dict[str, list[tuple[Any, ...]]]

SRC = ("src_topic", "src_partition", "src_offset", "item")
COLUMNS: dict[str, tuple[str, ...]] = {
    "server_metrics": ("time", "host", "measurement", "field", "tags", "value", *SRC, "tenant"),
    "error_logs": (
        "time", "host", "service", "level", "category", "message", "client", "server",
        "request", "upstream", *SRC, "tenant",
    ),
    "application_logs": (
        "time", "service", "host", "level", "message", "extra", *SRC, "tenant",
    ),
    "aggregated_metrics": (
        "series_id", "window_kind", "window_start", "window_end", "host", "measurement", "field",
        "tags", "count", "sum", "min", "max", "mean", "last", "p50", "p95", "p99", "rate",
        "increase", "closed_at", "tenant",
    ),
    "error_rates": (
        "service", "host", "window_kind", "window_start", "window_end", "requests", "s2xx",
        "s3xx", "s4xx", "s5xx", "error_lines", "error_rate", "latency_p50", "latency_p95",
        "latency_p99", "bytes", "closed_at", "tenant",
    ),
}  # fmt: skip
# The pattern id of a log row (migration 0008; None: not mined, or not known in time).
for _logs in ("error_logs", "application_logs"):
    COLUMNS[_logs] = (*COLUMNS[_logs], "pattern_id")
Patterns = Mapping[int, str] | None  # item -> pattern_id of a message (sinks/pattern_feed.py)
# Natural keys (the primary keys of migration 0001).
KEYS: dict[str, tuple[str, ...]] = {
    "server_metrics": ("src_topic", "src_partition", "src_offset", "item", "field"),
    "error_logs": SRC,
    "application_logs": SRC,
    "aggregated_metrics": ("series_id", "window_kind", "window_start"),
    "error_rates": ("service", "host", "window_kind", "window_start"),
}
# Raw tables take new rows only (ON CONFLICT DO NOTHING); window tables are upserted.
RAW_TABLES = ("server_metrics", "error_logs", "application_logs")
WINDOW_TABLES = ("aggregated_metrics", "error_rates")


def key_indexes(table: str) -> tuple[int, ...]:
    """Positions of the natural-key columns inside a row of ``table``."""
    cols = COLUMNS[table]
    return tuple(cols.index(k) for k in KEYS[table])


def series_name(labels: dict[str, Any]) -> str:
    """Readable series id, as the HTTP API names it: ``cpu,cpu=cpu-total,host=h1 usage_active``."""
    tags = labels.get("tags") or {}
    tagtext = ",".join(f"{k}={tags[k]}" for k in sorted(tags))
    return f"{labels['measurement']}{',' + tagtext if tagtext else ''} {labels['field']}"


class PgMapper:
    """Maps messages of the Postgres sink's topics to rows per table."""

    def __init__(
        self, topics: TopicNames, *, timestamp_unit: str = "auto", tenants: TenantMap | None = None
    ) -> None:
        self.unit = timestamp_unit
        self.tenants = tenants if tenants is not None else TenantMap("default")
        self._by_topic: dict[str, Callable[[Message, PgRows, Patterns], Mapped[PgRows]]] = {
            topics.metrics: self._metrics,
            topics.logs_nginx: self._nginx,
            topics.logs_app: self._app,
            topics.windows: self._window,
            topics.alerts: self._alerts,
        }
        self.topics = tuple(self._by_topic)
        self.keyed = (topics.metrics, topics.logs_nginx, topics.logs_app)

    def __call__(self, msg: Message, patterns: Patterns = None) -> Mapped[PgRows]:
        """Rows of one message (payload None when it holds nothing for Postgres); ``patterns``:
        the ``pattern_id`` of each mined item of a log message."""
        handler = self._by_topic.get(msg.topic)
        if handler is None or not msg.value:
            return Mapped(None)
        rows: PgRows = {}
        mapped = handler(msg, rows, patterns)
        mapped.payload = rows if any(rows.values()) else None
        return mapped

    # ---- raw records ---------------------------------------------------------------------
    def _metrics(self, msg: Message, rows: PgRows, _patterns: Patterns) -> Mapped[PgRows]:
        key = msg.key.decode("utf-8", "replace") if msg.key else None
        metrics, rejected = decode_metrics(msg.value or b"", unit=self.unit, default_host=key)
        out = rows.setdefault("server_metrics", [])
        src = (msg.topic, msg.partition, msg.offset)
        fallback = msg.timestamp / 1000.0
        mapped: Mapped[PgRows] = Mapped(None, skipped=len(rejected))
        last_ts: float | None = None
        when: datetime | None = None
        for item, m in enumerate(metrics):
            host = m.tags.get("host") or key
            if host is None:
                mapped.skipped += 1  # the worker counts these (lookout_missing_host_total)
                continue
            ts = m.time if m.time is not None else fallback
            try:
                if ts != last_ts:
                    when, last_ts = to_time(ts), ts
            except RowError as exc:
                mapped.rejected.append((item, f"metric {m.name}: {exc}"))
                continue
            tags = to_json({k: v for k, v in m.tags.items() if k != "host"})
            tenant = clean(
                self.tenants.of(host, {"tags": m.tags} if TENANT_TAG in m.tags else None)
            )
            name, host = clean(m.name), clean(host)
            for fname, raw in m.fields.items():
                value = number(raw)
                if value is not None:
                    out.append((when, host, name, clean(fname), tags, value, *src, item, tenant))
        return mapped

    def _nginx(self, msg: Message, rows: PgRows, patterns: Patterns) -> Mapped[PgRows]:
        key = msg.key.decode("utf-8", "replace") if msg.key else None
        records, rejected = decode_nginx(msg.value or b"", default_host=key or "unknown")
        out = rows.setdefault("error_logs", [])
        src = (msg.topic, msg.partition, msg.offset)
        mapped: Mapped[PgRows] = Mapped(None, skipped=len(rejected))
        for item, rec in enumerate(records):
            if not isinstance(rec, ErrorLog):
                continue
            try:
                when = to_time(rec.time if rec.time is not None else msg.timestamp / 1000.0)
            except RowError as exc:
                mapped.rejected.append((item, f"nginx error entry: {exc}"))
                continue
            message = clean(rec.message) or ""
            out.append(
                (
                    when,
                    clean(rec.host),
                    clean(rec.service),
                    clean(rec.level),
                    classify(message),
                    message,
                    clean(rec.client),
                    clean(rec.server),
                    clean(rec.request),
                    clean(rec.upstream),
                    *src,
                    item,
                    self.tenants.of(rec.host),
                    patterns.get(item) if patterns else None,
                )
            )
        return mapped

    def _app(self, msg: Message, rows: PgRows, patterns: Patterns) -> Mapped[PgRows]:
        key = msg.key.decode("utf-8", "replace") if msg.key else None
        records, rejected = decode_app(msg.value or b"", default_host=key or "unknown")
        out = rows.setdefault("application_logs", [])
        src = (msg.topic, msg.partition, msg.offset)
        mapped: Mapped[PgRows] = Mapped(None, skipped=len(rejected))
        for item, rec in enumerate(records):
            try:
                when = to_time(rec.time if rec.time is not None else msg.timestamp / 1000.0)
            except RowError as exc:
                mapped.rejected.append((item, f"app log: {exc}"))
                continue
            out.append(
                (
                    when,
                    clean(rec.service),
                    clean(rec.host),
                    clean(rec.level),
                    clean(rec.message) or "",
                    to_json(rec.extra),
                    *src,
                    item,
                    self.tenants.of(rec.host),
                    patterns.get(item) if patterns else None,
                )
            )
        return mapped

    # ---- final windows -------------------------------------------------------------------
    def _window(self, msg: Message, rows: PgRows, _patterns: Patterns) -> Mapped[PgRows]:
        try:
            record = orjson.loads(msg.value or b"")
            if record["labels"].get("type") == "pattern":
                return Mapped(None)  # pattern counts are read live (API, alerts), not stored
            table, row = window_row(record, self.tenants)
        except (orjson.JSONDecodeError, RowError, KeyError, TypeError, ValueError) as exc:
            return Mapped(None, rejected=[(None, f"window record: {type(exc).__name__}: {exc}")])
        rows[table] = [row]
        return Mapped(None)

    # ---- alert transitions and acks -----------------------------------------------------------
    def _alerts(self, msg: Message, rows: PgRows, _patterns: Patterns) -> Mapped[PgRows]:
        try:
            rows[OPS] = alert_ops(msg.value or b"", self.tenants)
        except RowError as exc:
            return Mapped(None, rejected=[(None, str(exc))])
        return Mapped(None)


def window_row(
    record: dict[str, Any], tenants: TenantMap | None = None
) -> tuple[str, tuple[Any, ...]]:
    """Table and row of one final window record (``lookout.windows``, see Final.to_record).

    The tenant is the record's own; a record written before tenants (none) takes the host's
    tenant from ``tenants`` (the default tenant without one).
    """
    labels = record["labels"]
    value = record["value"]
    kind = record["kind"]
    if kind not in ("tumbling", "hopping"):
        raise RowError(f"unknown window kind {kind!r}")
    start, end = to_time(float(record["start"])), to_time(float(record["end"]))
    closed = to_time(float(record.get("closed_at") or record["end"]))
    tenant = record.get("tenant")
    if not tenant:
        host = labels.get("host") or record["host"]
        tenant = tenants.of(host, labels) if tenants is not None else "default"
    tenant = clean(str(tenant))
    if labels.get("type") == "log":
        return "error_rates", (
            clean(labels["service"]),
            clean(labels["host"]),
            kind,
            start,
            end,
            int(value.get("requests") or 0),
            int(value.get("s2xx") or 0),
            int(value.get("s3xx") or 0),
            int(value.get("s4xx") or 0),
            int(value.get("s5xx") or 0),
            int(value.get("error_lines") or 0),
            _float(value.get("error_rate")),
            _float(value.get("latency_p50")),
            _float(value.get("latency_p95")),
            _float(value.get("latency_p99")),
            int(value.get("bytes") or 0),
            closed,
            tenant,
        )
    host = labels.get("tags", {}).get("host") or record["host"]
    tags = {k: v for k, v in (labels.get("tags") or {}).items() if k != "host"}
    stats: tuple[Any, ...]
    if "rate" in value:  # a counter: the stats columns describe its per-second rates
        stats = (
            int(value.get("samples") or 0),
            None,
            _float(value.get("rate_min")),
            _float(value.get("rate_max")),
            _float(value.get("rate_mean")),
            None,
            None,
            _float(value.get("rate_p95")),
            None,
            _float(value.get("rate")),
            _float(value.get("increase")),
        )
    else:
        stats = (
            int(value.get("count") or 0),
            _float(value.get("sum")),
            _float(value.get("min")),
            _float(value.get("max")),
            _float(value.get("mean")),
            _float(value.get("last")),
            _float(value.get("p50")),
            _float(value.get("p95")),
            _float(value.get("p99")),
            None,
            None,
        )
    return "aggregated_metrics", (
        clean(series_name(labels)),
        kind,
        start,
        end,
        clean(host),
        clean(labels["measurement"]),
        clean(labels["field"]),
        to_json(tags),
        *stats,
        closed,
        tenant,
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None
