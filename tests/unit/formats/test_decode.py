"""The per-topic entry points: format detection, wrappers, and never raising."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats.decode import decode_app, decode_metrics, decode_nginx
from formats.points import AccessLog, ErrorLog

REASONS = {
    "empty",
    "not_utf8",
    "not_json",
    "not_object",
    "bad_metric",
    "bad_line_protocol",
    "bad_access_line",
    "bad_error_line",
    "bad_timestamp",
    "missing_field",
    "unknown_record",
    "bad_name",
}
ACCESS = '10.0.0.1 - - [10/Oct/2023:13:55:36 +0200] "GET /x HTTP/1.1" 200 12 "-" "curl/8.4.0"'
ERROR = "2023/10/10 13:55:36 [error] 7#7: *3 boom, client: 10.0.0.1, server: shop"
PHP = (
    '2023/10/10 13:55:36 [error] 7#7: *3 FastCGI sent in stderr: "PHP message: Uncaught boom\n'
    "Stack trace:\n"
    '#0 {main}" while reading response header from upstream, client: 10.0.0.1, server: shop'
)


# --- metrics ---


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        (b'{"name":"cpu","fields":{"v":1},"timestamp":1700000000}', ["cpu"]),
        (
            b' \n {"metrics":[{"name":"a","fields":{"v":1}},{"name":"b","fields":{"v":2}}]}',
            ["a", "b"],
        ),
        (b'[{"name":"a","fields":{"v":1}}]', ["a"]),
        (b"cpu,host=a v=1 1700000000000000000\nmem v=2i", ["cpu", "mem"]),
        (b"# only a comment\n", []),
    ],
)
def test_decode_metrics_detects_the_format(payload: bytes, names: list[str]) -> None:
    metrics, rejected = decode_metrics(payload)
    assert [m.name for m in metrics] == names
    assert rejected == []


@pytest.mark.parametrize(
    ("payload", "unit", "expected"),
    [
        (b'{"name":"a","fields":{"v":1},"timestamp":1700000000000}', "auto", 1_700_000_000),
        (b'{"name":"a","fields":{"v":1},"timestamp":1700000000000}', "ms", 1_700_000_000),
        (b"a v=1 1700000000000000000", "auto", 1_700_000_000),
        (b"a v=1 1700000000", "s", 1_700_000_000),
    ],
)
def test_decode_metrics_unit(payload: bytes, unit: str, expected: float) -> None:
    [metric], _ = decode_metrics(payload, unit=unit)
    assert metric.time == expected


@pytest.mark.parametrize("payload", [b'{"name":"a","fields":{"v":1}}', b"a v=1"])
def test_decode_metrics_default_host(payload: bytes) -> None:
    [metric], _ = decode_metrics(payload, default_host="kafka-key")
    assert metric.tags == {"host": "kafka-key"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "empty"), (b" \r\n\t", "empty"), (b"{oops", "not_json"), (b"oops", "bad_line_protocol")],
)
def test_decode_metrics_rejects(payload: bytes, reason: str) -> None:
    assert [(r.reason, r.original) for r in decode_metrics(payload)[1]] == [(reason, payload)]


# --- nginx ---


def _nginx(payload: bytes) -> tuple[list[AccessLog | ErrorLog], list[tuple[str, bytes]]]:
    records, rejected = decode_nginx(payload, default_host="kafka-key", default_service="web")
    return records, [(r.reason, r.original) for r in rejected]


def test_raw_access_line() -> None:
    [record], rejected = _nginx(ACCESS.encode())
    assert rejected == []
    assert isinstance(record, AccessLog)
    assert (record.host, record.service, record.path) == ("kafka-key", "web", "/x")


def test_several_raw_access_lines_with_a_bad_one() -> None:
    payload = f"{ACCESS}\r\nnot a log line\n\n{ACCESS}\n".encode()
    records, rejected = _nginx(payload)
    assert len(records) == 2
    assert rejected == [("bad_access_line", b"not a log line")]


def test_raw_multi_line_error_entry() -> None:
    [record], rejected = _nginx(PHP.encode())
    assert rejected == []
    assert isinstance(record, ErrorLog)
    assert record.message.endswith('#0 {main}" while reading response header from upstream')
    assert (record.client, record.server, record.host, record.service) == (
        "10.0.0.1",
        "shop",
        "kafka-key",
        "web",
    )


def test_several_raw_error_entries() -> None:
    records, rejected = _nginx(f"{ERROR}\n{PHP}\n{ERROR}".encode())
    assert [type(r) for r in records] == [ErrorLog] * 3
    assert rejected == []


def test_error_tz_offset() -> None:
    [record], _ = decode_nginx(ERROR.encode(), default_host="h", tz_offset=7200)
    assert record.time == 1_696_946_136 - 7200


def _wrap(name: str, tags: dict[str, str], fields: dict[str, object]) -> dict[str, object]:
    return {"name": name, "tags": tags, "fields": fields, "timestamp": 1_700_000_000}


GROK = _wrap(
    "nginx_access_log",
    {"host": "web-1", "path": "/var/log/nginx/access.log", "resp_code": "200", "verb": "GET"},
    {
        "client_ip": "203.0.113.9",
        "ident": "-",
        "auth": "-",
        "request": "/x?y=1",
        "http_version": 1.1,
        "resp_bytes": 123,
        "referrer": "-",
        "agent": "curl/8.4.0",
    },
)
GROK_ERROR = _wrap("nginx_error_log", {"host": "web-1"}, {"level": "error", "message": "boom"})


def test_telegraf_grok_access_json() -> None:
    [record], rejected = _nginx(orjson.dumps(GROK))
    assert rejected == []
    assert isinstance(record, AccessLog)
    assert (record.host, record.service, record.time, record.status) == (
        "web-1",
        "web",
        1_700_000_000,
        200,
    )


def test_telegraf_grok_error_json() -> None:
    [record], rejected = _nginx(orjson.dumps(GROK_ERROR))
    assert rejected == []
    assert isinstance(record, ErrorLog)
    assert (record.level, record.message, record.host) == ("error", "boom", "web-1")


@pytest.mark.parametrize(
    ("tags", "value", "kinds", "service"),
    [
        ({"host": "web-1", "service": "shop"}, PHP, [ErrorLog], "shop"),
        (
            {"vhost": "shop.example.com"},
            f"{ERROR}\n{ERROR}",
            [ErrorLog, ErrorLog],
            "shop.example.com",
        ),
        ({}, ACCESS, [AccessLog], "web"),
        ({}, f"{ACCESS}\n{ACCESS}", [AccessLog, AccessLog], "web"),
    ],
)
def test_telegraf_value_wrapper(
    tags: dict[str, str], value: str, kinds: list[type], service: str
) -> None:
    payload = orjson.dumps(_wrap("nginx_error_log", tags, {"value": value}))
    records, rejected = _nginx(payload)
    assert rejected == []
    assert [type(r) for r in records] == kinds
    assert {r.service for r in records} == {service}
    assert {r.host for r in records} == {tags.get("host", "kafka-key")}


def test_batch_with_bad_and_unknown_metrics_keeps_the_good_ones() -> None:
    missing = _wrap("nginx_access_log", {"resp_code": "200"}, {"agent": "curl"})
    unknown = _wrap("nginx_stub_status", {}, {"active": 3})
    wrapped_bad = _wrap("nginx_error_log", {}, {"value": "garbage line"})
    batch = {"metrics": [GROK, missing, unknown, GROK_ERROR, wrapped_bad, GROK]}
    records, rejected = _nginx(orjson.dumps(batch))
    assert [type(r) for r in records] == [AccessLog, ErrorLog, AccessLog]
    assert rejected == [
        ("missing_field", orjson.dumps(missing)),
        ("unknown_record", orjson.dumps(unknown)),
        ("bad_access_line", b"garbage line"),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"{not json", "not_json"),
        (b'{"name": "x", "fields": {}}', "bad_metric"),
        (b"garbage", "bad_access_line"),
        (b"\xff\xfe", "not_utf8"),
    ],
)
def test_decode_nginx_rejects(payload: bytes, reason: str) -> None:
    records, rejected = _nginx(payload)
    assert records == []
    assert rejected == [(reason, payload)]


# --- app logs ---


def test_decode_app() -> None:
    payload = b'{"msg": "a", "level": "warning"}\n{"msg": "b"}\nnope'
    records, rejected = decode_app(payload, default_host="kafka-key")
    assert [(r.message, r.level, r.host) for r in records] == [
        ("a", "warn", "kafka-key"),
        ("b", "info", "kafka-key"),
    ]
    assert [(r.reason, r.original) for r in rejected] == [("not_json", b"nope")]


@pytest.mark.parametrize("payload", [b"", b"   "])
def test_decode_app_empty(payload: bytes) -> None:
    assert [(r.reason, r.original) for r in decode_app(payload, default_host="h")[1]] == [
        ("empty", payload)
    ]


# --- never raise ---

_fragments = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b'"',
        b"\\",
        b",",
        b"=",
        b" ",
        b"\n",
        b"\r\n",
        b"\xff",
        b'"metrics":',
        b'"name":"a"',
        b'"fields":{"v":1}',
        b'"timestamp":',
        b"1700000000",
        b"cpu,host=a v=1",
        b"i",
        b'"value":',
        ACCESS.encode(),
        ERROR.encode(),
        b"2023/10/10 13:55:36 [",
        b"[10/Oct/2023:13:55:36 +0200]",
        b'"msg":"m"',
    ]
)
_payloads = st.one_of(st.binary(max_size=200), st.lists(_fragments, max_size=12).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(payload=_payloads)
def test_decoders_never_raise_and_use_known_reasons(payload: bytes) -> None:
    results = [
        decode_metrics(payload),
        decode_nginx(payload, default_host="h"),
        decode_app(payload, default_host="h"),
    ]
    for _records, rejected in results:
        for item in rejected:
            assert item.reason in REASONS
            assert isinstance(item.original, bytes)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"name":"cpu\\u001e","fields":{"v":1}}',
        b'{"name":"cpu","tags":{"host":"a\\u001eb"},"fields":{"v":1}}',
        b'{"name":"cpu","tags":{"\\u001f":"x"},"fields":{"v":1}}',
        b'{"name":"cpu","fields":{"v\\u001f":1}}',
    ],
)
def test_names_with_the_engines_separators_are_rejected(payload: bytes) -> None:
    # Such a name made a series id the engine could not split back: the worker crashed.
    good = b'{"name":"ok","fields":{"v":1}}'
    metrics, rejected = decode_metrics(b"[" + payload + b"," + good + b"]")
    assert [m.name for m in metrics] == ["ok"]
    assert [r.reason for r in rejected] == ["bad_name"]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"name":"cpu\\u001E","fields":{"v":1}}',  # upper-case escape
        b'{"name":"cpu","tags":{"host":"a\\u001Fb"},"fields":{"v":1}}',
        b"cpu,host=a\x1eb v=1",  # line protocol has no escapes: the raw byte
        b"cpu\x1f v=1",
    ],
)
def test_single_metrics_naming_a_separator_are_rejected(payload: bytes) -> None:
    """One metric a message (the hot path that skips the name scan when nothing reserved can
    be in the payload) still refuses a reserved character, in either case, JSON or not."""
    metrics, rejected = decode_metrics(payload)
    assert metrics == [] and [r.reason for r in rejected] == ["bad_name"]
    metrics, rejected = decode_metrics(b'{"name":"cpu","fields":{"v":1}}', default_host="a\x1fb")
    assert metrics == [] and [r.reason for r in rejected] == ["bad_name"]
    metrics, rejected = decode_metrics(b'{"name":"cpu","fields":{"v":"\\u001e"}}')
    assert [m.fields for m in metrics] == [{"v": "\x1e"}] and rejected == []  # a value, no name


def test_log_services_and_hosts_with_the_engines_separators_are_rejected() -> None:
    bad = {"level": "error", "service": "pay\u001fx", "host": "a", "message": "m"}
    logs, rejected = decode_app(orjson.dumps(bad), default_host="h")
    assert logs == [] and [r.reason for r in rejected] == ["bad_name"]
    logs, rejected = decode_nginx(ACCESS.encode(), default_host="web\u001e1")
    assert logs == [] and [r.reason for r in rejected] == ["bad_name"]
