"""Application JSON logs: object, array or NDJSON."""

from __future__ import annotations

import orjson
import pytest

from formats.app_log import app_log_from_object, normalise_level, parse_app_logs
from formats.points import AppLog

T = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def _one(obj: dict[str, object]) -> AppLog:
    return app_log_from_object(obj, default_host="kafka-key")


def test_full_record() -> None:
    payload = orjson.dumps(
        {
            "timestamp": "2023-11-14T22:13:20.250Z",
            "level": "ERROR",
            "service": "checkout",
            "host": "app-3",
            "message": "payment failed",
            "order_id": 42,
            "trace": {"id": "abc"},
        }
    )
    assert parse_app_logs(payload, default_host="kafka-key") == (
        [
            AppLog(
                time=T + 0.25,
                level="error",
                service="checkout",
                host="app-3",
                message="payment failed",
                extra={"order_id": 42, "trace": {"id": "abc"}},
            )
        ],
        [],
    )


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"@timestamp": "2023-11-14T22:13:20Z"}, T),
        ({"time": "2023-11-15T00:13:20+02:00"}, T),
        ({"time": "2023-11-14T17:13:20.5-05:00"}, T + 0.5),
        ({"timestamp": "2023-11-14T22:13:20.123456789Z"}, T + 0.123456),
        ({"timestamp": "2023-11-14T22:13:20"}, T),  # naive: UTC
        ({"timestamp": "2023-11-14 22:13:20,500"}, T + 0.5),  # Python logging asctime
        ({"timestamp": 1_700_000_000}, T),
        ({"timestamp": 1_700_000_000.5}, T + 0.5),
        ({"time": 1_700_000_000_000}, T),  # pino: epoch milliseconds
        ({"time": 1_700_000_000_000_000}, T),
        ({"time": 1_700_000_000_000_000_000}, T),
        ({"time": "1700000000"}, T),
        ({}, None),
        ({"timestamp": None, "time": 1_700_000_000}, T),
    ],
)
def test_times(obj: dict[str, object], expected: float | None) -> None:
    record = _one({"message": "m", **obj})
    assert record.time == (None if expected is None else pytest.approx(expected))


def test_time_key_precedence_keeps_the_others_in_extra() -> None:
    record = _one({"message": "m", "timestamp": 1_700_000_000, "time": "later"})
    assert record.time == T
    assert record.extra == {"time": "later"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("info", "info"),
        ("INFO", "info"),
        ("Warning", "warn"),
        ("warn", "warn"),
        ("fatal", "crit"),
        ("CRITICAL", "crit"),
        ("error", "error"),
        ("debug", "debug"),
        ("trace", "trace"),
        (30, "info"),  # pino / bunyan numbers
        (40, "warn"),
        (50, "error"),
        (60, "crit"),
        (10, "trace"),
        ("", "info"),
    ],
)
def test_levels(value: object, expected: str) -> None:
    assert normalise_level(value) == expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"level": "WARNING"}, {"level": "warn"}),
        ({"severity": "critical"}, {"level": "crit"}),
        ({"levelname": "INFO"}, {"level": "info"}),  # python-json-logger
        ({"log.level": "error"}, {"level": "error"}),  # ECS
        ({}, {"level": "info", "service": "unknown", "host": "kafka-key"}),
        ({"app": "billing"}, {"service": "billing"}),
        ({"logger": "app.db"}, {"service": "app.db"}),
        ({"service": "shop", "app": "billing"}, {"service": "shop", "extra": {"app": "billing"}}),
        ({"service": {"name": "shop", "version": "1"}}, {"service": "shop"}),
        ({"hostname": "app-7"}, {"host": "app-7"}),
        ({"host": {"name": "app-8"}}, {"host": "app-8"}),
        ({"host": ""}, {"host": "kafka-key"}),
    ],
)
def test_keys(obj: dict[str, object], expected: dict[str, object]) -> None:
    record = _one({"message": "m", **obj})
    assert {key: getattr(record, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"message": "a"}, "a"),
        ({"msg": "b"}, "b"),
        ({"message": "a", "msg": "b"}, "a"),
        ({"message": 42}, "42"),
        ({"message": {"k": "v"}}, '{"k":"v"}'),
        ({"message": ""}, ""),
    ],
)
def test_message(obj: dict[str, object], message: str) -> None:
    assert _one(obj).message == message


def test_pino_sample() -> None:
    payload = b'{"level":30,"time":1531171074631,"pid":657,"hostname":"Davids-MBP","msg":"hello"}'
    [record], [] = parse_app_logs(payload, default_host="kafka-key")
    assert (record.level, record.time, record.host, record.message, record.extra) == (
        "info",
        1531171074.631,
        "Davids-MBP",
        "hello",
        {"pid": 657},
    )


def test_array() -> None:
    payload = b'[{"msg": "a"}, 7, {"msg": "b"}]'
    records, rejected = parse_app_logs(payload, default_host="h")
    assert [r.message for r in records] == ["a", "b"]
    assert [(r.reason, r.original) for r in rejected] == [("not_object", b"7")]


def test_ndjson_keeps_good_lines_around_bad_ones() -> None:
    payload = (
        b'{"msg": "a", "time": "2023-11-14T22:13:20Z"}\n'
        b"{broken\n"
        b"\n"
        b'{"level": "info"}\r\n'
        b'"just a string"\n'
        b'{"msg": "b", "time": "soon"}\n'
        b'{"msg": "\xff"}\n'
        b'{"msg": "c"}\n'
    )
    records, rejected = parse_app_logs(payload, default_host="h")
    assert [r.message for r in records] == ["a", "c"]
    assert [(r.reason, r.original) for r in rejected] == [
        ("not_utf8", b'{"msg": "\xff"}'),
        ("not_json", b"{broken"),
        ("missing_field", b'{"level": "info"}'),
        ("not_object", b'"just a string"'),
        ("bad_timestamp", b'{"msg": "b", "time": "soon"}'),
    ]


def test_pretty_printed_object() -> None:
    payload = b'{\n  "message": "multi\\nline",\n  "level": "warn"\n}\n'
    [record], [] = parse_app_logs(payload, default_host="h")
    assert (record.message, record.level) == ("multi\nline", "warn")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b" \n ", "empty"),
        (b"plain text log line", "not_json"),
        (b'{"msg": "\xff\xfe"}', "not_utf8"),
        (b"42", "not_object"),
        (b"null", "not_object"),
        (b'{"level": "info"}', "missing_field"),
        (b'{"msg": null}', "missing_field"),
        (b'{"msg": "m", "timestamp": "yesterday"}', "bad_timestamp"),
        (b'{"msg": "m", "timestamp": true}', "bad_timestamp"),
    ],
)
def test_rejected(payload: bytes, reason: str) -> None:
    records, [rejected] = parse_app_logs(payload, default_host="h")
    assert records == []
    assert rejected.reason == reason
    assert rejected.original == payload
