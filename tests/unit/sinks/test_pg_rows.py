"""Kafka messages -> PostgreSQL rows (pure mapping)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from app.settings import load_settings
from app.tenancy import TenantMap
from app.topics import TopicNames
from sinks.pg_rows import (
    COLUMNS,
    KEYS,
    PgMapper,
    RowError,
    clean,
    key_indexes,
    number,
    series_name,
    to_json,
    to_time,
    window_row,
)
from tests.unit.sinks.fakes import Rec

NAMES = TopicNames.from_settings(load_settings({"LOOKOUT_TOPIC_PREFIX": "p."}))
MAP = PgMapper(NAMES)
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
KAFKA_TS = 1_704_070_000_123


def msg(topic: str, value: bytes, *, offset: int = 7, key: bytes | None = b"host-a") -> Rec:
    return Rec(topic, 3, offset, key, value, KAFKA_TS)


def rows_of(topic: str, value: bytes, table: str, **kw: object) -> list[dict[str, object]]:
    mapped = MAP(msg(topic, value, **kw))  # type: ignore[arg-type]
    assert mapped.payload is not None
    return [dict(zip(COLUMNS[table], row, strict=True)) for row in mapped.payload[table]]


def test_metric_batch_gives_one_row_per_numeric_field() -> None:
    value = orjson.dumps(
        {
            "metrics": [
                {
                    "name": "cpu",
                    "tags": {"host": "host-a", "cpu": "cpu-total"},
                    "fields": {"usage_active": 12.5, "usage_idle": 87, "label": "x", "ok": True},
                    "timestamp": T0,
                },
                {"name": "mem", "tags": {}, "fields": {"used_percent": 40.0}, "timestamp": T0 + 10},
            ]
        }
    )
    rows = rows_of(NAMES.metrics, value, "server_metrics")
    assert [(r["measurement"], r["field"], r["value"], r["item"]) for r in rows] == [
        ("cpu", "usage_active", 12.5, 0),
        ("cpu", "usage_idle", 87.0, 0),
        ("cpu", "ok", 1.0, 0),
        ("mem", "used_percent", 40.0, 1),
    ]
    first = rows[0]
    assert first["time"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert first["host"] == "host-a"
    assert orjson.loads(first["tags"]) == {"cpu": "cpu-total"}  # type: ignore[arg-type]
    assert (first["src_topic"], first["src_partition"], first["src_offset"]) == (
        "p.telegraf.metrics",
        3,
        7,
    )
    assert rows[3]["host"] == "host-a"  # from the Kafka key
    keys = {tuple(r[k] for k in KEYS["server_metrics"]) for r in rows}
    assert len(keys) == len(rows)


def test_line_protocol_without_time_takes_the_kafka_timestamp() -> None:
    rows = rows_of(
        NAMES.metrics, b'disk,host=h2,path=/ used=5i,free=1.5,state="ro"\n', "server_metrics"
    )
    assert [(r["field"], r["value"]) for r in rows] == [("used", 5.0), ("free", 1.5)]
    assert rows[0]["time"] == datetime.fromtimestamp(KAFKA_TS / 1000, UTC)
    assert rows[0]["host"] == "h2"


def test_metrics_without_host_or_with_bad_parts_are_skipped() -> None:
    mapped = MAP(msg(NAMES.metrics, b'{"name":"cpu","fields":{"x":1},"timestamp":1}', key=None))  # type: ignore[arg-type]
    assert mapped.payload is None
    assert mapped.skipped == 1
    mapped = MAP(msg(NAMES.metrics, b"not json at all {"))  # type: ignore[arg-type]
    assert mapped.payload is None and mapped.skipped >= 1 and not mapped.rejected


def test_nan_and_infinity_are_not_numbers() -> None:
    assert number(float("nan")) is None
    assert number(float("inf")) is None
    assert number("3") is None
    assert number(True) == 1.0
    assert number(3) == 3.0


def test_nginx_error_entries_become_classified_rows_and_access_lines_do_not() -> None:
    value = (
        b"2024/01/01 00:00:05 [error] 12#12: *3 connect() failed (111: Connection refused) while "
        b'connecting to upstream, client: 10.1.2.3, server: shop, request: "GET /x HTTP/1.1", '
        b'upstream: "http://10.0.0.9:8080/x", host: "shop"\n'
        b"2024/01/01 00:00:06 [warn] 12#12: *4 an upstream response is buffered to a temporary "
        b"file /tmp/1 while reading upstream\n"
    )
    rows = rows_of(NAMES.logs_nginx, value, "error_logs")
    assert [(r["level"], r["category"], r["item"]) for r in rows] == [
        ("error", "connection_refused", 0),
        ("warn", "other", 1),
    ]
    assert rows[0]["client"] == "10.1.2.3"
    assert rows[0]["upstream"] == "http://10.0.0.9:8080/x"
    assert rows[0]["time"] == datetime(2024, 1, 1, 0, 0, 5, tzinfo=UTC)
    access = b'10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'
    assert MAP(msg(NAMES.logs_nginx, access)).payload is None  # type: ignore[arg-type]


def test_app_logs_keep_extra_as_json_without_nul() -> None:
    value = orjson.dumps(
        [
            {"timestamp": T0, "level": "error", "service": "billing", "message": "bad\x00thing",
             "order": 42, "user": {"id": "u\x001"}},
            {"level": "info", "service": "billing", "message": "no time"},
        ]
    )  # fmt: skip
    rows = rows_of(NAMES.logs_app, value, "application_logs")
    assert rows[0]["message"] == "badthing"
    assert orjson.loads(rows[0]["extra"]) == {"order": 42, "user": {"id": "u1"}}  # type: ignore[arg-type]
    assert rows[0]["host"] == "host-a"
    assert rows[1]["time"] == datetime.fromtimestamp(KAFKA_TS / 1000, UTC)
    assert [r["item"] for r in rows] == [0, 1]


def test_unknown_topic_or_empty_message_maps_to_nothing() -> None:
    assert MAP(msg("other.topic", b"x")).payload is None  # type: ignore[arg-type]
    assert MAP(msg(NAMES.metrics, b"")).payload is None  # type: ignore[arg-type]


GAUGE = {
    "id": "x",
    "host": "host-a",
    "series": "cpu\x1fcpu=cpu-total\x1ehost=host-a\x1fusage_active",
    "labels": {"type": "metric", "measurement": "cpu", "field": "usage_active",
               "tags": {"cpu": "cpu-total", "host": "host-a"}},
    "kind": "tumbling",
    "start": T0,
    "end": T0 + 60,
    "value": {"count": 6, "sum": 60.0, "min": 5.0, "max": 15.0, "mean": 10.0, "last": 9.0,
              "p50": 10.0, "p95": 15.0, "p99": 15.0, "first_ts": T0, "last_ts": T0 + 50},
    "closed_at": T0 + 95.5,
}  # fmt: skip


def test_gauge_window_row() -> None:
    table, row = window_row(GAUGE)
    r = dict(zip(COLUMNS[table], row, strict=True))
    assert table == "aggregated_metrics"
    assert r["series_id"] == "cpu,cpu=cpu-total,host=host-a usage_active"
    assert (r["window_kind"], r["window_start"]) == ("tumbling", datetime(2024, 1, 1, tzinfo=UTC))
    assert r["window_end"] == datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
    assert (r["count"], r["sum"], r["mean"], r["p95"], r["rate"]) == (6, 60.0, 10.0, 15.0, None)
    assert orjson.loads(r["tags"]) == {"cpu": "cpu-total"}  # type: ignore[arg-type]
    assert r["closed_at"] == datetime.fromtimestamp(T0 + 95.5, UTC)


def test_counter_window_row_puts_rates_in_the_stats_columns() -> None:
    record = dict(GAUGE, kind="hopping", end=T0 + 300)
    record["labels"] = {"type": "metric", "measurement": "net", "field": "bytes_recv",
                        "tags": {"host": "host-a", "interface": "eth0"}}  # fmt: skip
    record["value"] = {"samples": 30, "resets": 0, "increase": 3000.0, "rate": 10.0,
                       "intervals": 29, "rate_min": 8.0, "rate_max": 12.0, "rate_mean": 10.1,
                       "rate_p95": 11.9, "first_ts": T0, "last_ts": T0 + 290,
                       "inexact": False}  # fmt: skip
    _, row = window_row(record)
    r = dict(zip(COLUMNS["aggregated_metrics"], row, strict=True))
    assert (r["count"], r["rate"], r["increase"]) == (30, 10.0, 3000.0)
    assert (r["min"], r["max"], r["mean"], r["p95"]) == (8.0, 12.0, 10.1, 11.9)
    assert (r["sum"], r["last"], r["p50"], r["p99"]) == (None, None, None, None)


def test_log_window_row() -> None:
    record = dict(GAUGE, series="log\x1fshop\x1fhost-a")
    record["labels"] = {"type": "log", "service": "shop", "host": "host-a"}
    record["value"] = {"requests": 100, "s2xx": 90, "s3xx": 2, "s4xx": 3, "s5xx": 5,
                       "other": 0, "bytes": 12345, "log_lines": 4, "error_lines": 4,
                       "warn_lines": 0, "error_rate": 0.05, "latency_p50": 0.01,
                       "latency_p95": 0.2, "latency_p99": None}  # fmt: skip
    table, row = window_row(record)
    r = dict(zip(COLUMNS[table], row, strict=True))
    assert table == "error_rates"
    assert (r["service"], r["host"], r["requests"], r["s5xx"], r["error_lines"]) == (
        "shop", "host-a", 100, 5, 4,
    )  # fmt: skip
    assert (r["error_rate"], r["latency_p95"], r["latency_p99"], r["bytes"]) == (
        0.05,
        0.2,
        None,
        12345,
    )


def test_every_row_carries_its_hosts_tenant() -> None:
    mapper = PgMapper(NAMES, tenants=TenantMap("main", {"host-a": "acme"}))

    def tenants(topic: str, value: bytes, table: str, key: bytes = b"host-a") -> list[object]:
        mapped = mapper(msg(topic, value, key=key))  # type: ignore[arg-type]
        assert mapped.payload is not None
        return [dict(zip(COLUMNS[table], r, strict=True))["tenant"] for r in mapped.payload[table]]

    metrics = orjson.dumps(
        {"metrics": [
            {"name": "cpu", "tags": {"host": "host-a"}, "fields": {"x": 1}, "timestamp": T0},
            {"name": "cpu", "tags": {"host": "h-b"}, "fields": {"x": 1}, "timestamp": T0},
            {"name": "cpu", "tags": {"host": "h-c", "tenant": "t"}, "fields": {"x": 1},
             "timestamp": T0},
        ]}
    )  # fmt: skip
    assert tenants(NAMES.metrics, metrics, "server_metrics") == ["acme", "main", "t"]
    app_log = orjson.dumps({"message": "m", "timestamp": T0})
    assert tenants(NAMES.logs_app, app_log, "application_logs") == ["acme"]
    assert tenants(NAMES.logs_app, app_log, "application_logs", key=b"h-c") == ["t"]  # learnt
    nginx = b"2024/01/01 00:00:05 [error] 1#1: *1 open() failed, client: 1.2.3.4, server: x"
    assert tenants(NAMES.logs_nginx, nginx, "error_logs", key=b"h-b") == ["main"]
    # a window row has its record's tenant; a record from before tenants, the host's
    assert tenants(NAMES.windows, orjson.dumps(dict(GAUGE, tenant="t2")), "aggregated_metrics") == [
        "t2"
    ]
    assert tenants(NAMES.windows, orjson.dumps(GAUGE), "aggregated_metrics") == ["acme"]
    log = dict(GAUGE, labels={"type": "log", "service": "s", "host": "h-b"}, tenant=None)
    assert tenants(NAMES.windows, orjson.dumps(log), "error_rates") == ["main"]
    assert dict(zip(COLUMNS["error_rates"], window_row(log)[1], strict=True))["tenant"] == (
        "default"
    )


def test_window_messages_and_refusals() -> None:
    mapped = MAP(msg(NAMES.windows, orjson.dumps(GAUGE)))  # type: ignore[arg-type]
    assert mapped.payload is not None and list(mapped.payload) == ["aggregated_metrics"]
    for bad in (
        b"{not json",
        orjson.dumps({"kind": "tumbling"}),
        orjson.dumps(dict(GAUGE, kind="x")),
    ):
        mapped = MAP(msg(NAMES.windows, bad))  # type: ignore[arg-type]
        assert mapped.payload is None
        assert len(mapped.rejected) == 1 and mapped.rejected[0][0] is None


def test_pattern_windows_are_not_stored() -> None:
    pattern = dict(GAUGE, labels={"type": "pattern", "service": "shop", "host": "h"})
    mapped = MAP(msg(NAMES.windows, orjson.dumps(pattern)))  # type: ignore[arg-type]
    assert mapped.payload is None and not mapped.rejected


def test_times_outside_what_postgres_and_python_hold_are_refused() -> None:
    with pytest.raises(RowError):
        to_time(1e14)
    value = orjson.dumps(
        {"name": "cpu", "tags": {"host": "h"}, "fields": {"x": 1}, "timestamp": 1e13}
    )
    seconds = PgMapper(NAMES, timestamp_unit="s")  # 1e13 s: year 318857
    mapped = seconds(msg(NAMES.metrics, value))  # type: ignore[arg-type]
    # The decoder already refuses it (bad_timestamp, dead-lettered by the worker): skipped here.
    assert mapped.payload is None
    assert mapped.skipped == 1 and not mapped.rejected


def test_helpers() -> None:
    assert clean("a\x00b") == "ab" and clean(None) is None
    assert to_json({"a": "x\x00y"}) == '{"a":"xy"}'
    assert series_name({"measurement": "mem", "field": "used", "tags": {}}) == "mem used"
    assert key_indexes("error_rates") == (0, 1, 2, 3)


def test_log_rows_carry_the_pattern_id_of_their_item_when_known() -> None:
    app = orjson.dumps(
        [{"timestamp": T0, "level": "error", "service": "s", "message": f"m{n}"} for n in range(3)]
    )
    mapped = MAP(msg(NAMES.logs_app, app), {0: "aa", 2: "cc"})  # type: ignore[arg-type]
    assert mapped.payload is not None
    rows = [
        dict(zip(COLUMNS["application_logs"], r, strict=True))
        for r in mapped.payload["application_logs"]
    ]
    assert [r["pattern_id"] for r in rows] == ["aa", None, "cc"]
    error = b"2024/01/01 00:00:05 [error] 1#1: *3 open() failed (2: No such file or directory)"
    mapped = MAP(msg(NAMES.logs_nginx, error), {0: "ee"})  # type: ignore[arg-type]
    assert mapped.payload is not None
    assert mapped.payload["error_logs"][0][COLUMNS["error_logs"].index("pattern_id")] == "ee"
    assert rows_of(NAMES.logs_app, app, "application_logs")[0]["pattern_id"] is None
