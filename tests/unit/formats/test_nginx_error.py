"""nginx error-log entries: raw (single and multi-line) and Telegraf grok JSON."""

from __future__ import annotations

import orjson
import pytest

from formats.nginx_error import (
    LEVELS,
    error_from_metric,
    group_entries,
    parse_error_entry,
    parse_error_lines,
    split_context,
)
from formats.points import ErrorLog, ParseError
from formats.telegraf_json import metric_from_object

T = 1_696_946_136.0  # 2023-10-10T13:55:36Z

UPSTREAM_REFUSED = (
    "2023/10/10 13:55:36 [error] 1234#5678: *99 connect() failed (111: Connection refused)"
    " while connecting to upstream, client: 10.0.0.1, server: shop.example.com,"
    ' request: "GET /api HTTP/1.1", upstream: "http://127.0.0.1:8080/api",'
    ' host: "shop.example.com"'
)
PHP_FATAL = (
    '2023/10/10 13:55:36 [error] 31#31: *7 FastCGI sent in stderr: "PHP message: PHP Fatal'
    " error:  Uncaught Exception: boom in /var/www/html/index.php:3\n"
    "Stack trace:\n"
    "#0 {main}\n"
    '  thrown in /var/www/html/index.php on line 3" while reading response header from'
    ' upstream, client: 172.18.0.1, server: _, request: "GET / HTTP/1.1",'
    ' upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "localhost:8080"'
)


def _entry(text: str, **kwargs: float) -> ErrorLog:
    return parse_error_entry(text, host="web-1", service="shop", **kwargs)


def _subset(record: ErrorLog, expected: dict[str, object]) -> dict[str, object]:
    return {key: getattr(record, key) for key in expected}


def test_upstream_refused() -> None:
    assert _entry(UPSTREAM_REFUSED) == ErrorLog(
        time=T,
        host="web-1",
        service="shop",
        level="error",
        message="connect() failed (111: Connection refused) while connecting to upstream",
        pid=1234,
        tid=5678,
        connection=99,
        client="10.0.0.1",
        server="shop.example.com",
        request="GET /api HTTP/1.1",
        upstream="http://127.0.0.1:8080/api",
        vhost="shop.example.com",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2023/10/10 13:55:36 [notice] 1#1: signal process started",
            {"level": "notice", "pid": 1, "tid": 1, "connection": None, "client": None},
        ),
        (
            "2023/10/10 13:55:36 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address already"
            " in use)",
            {
                "level": "emerg",
                "message": "bind() to 0.0.0.0:80 failed (98: Address already in use)",
            },
        ),
        (
            "2023/10/10 13:55:36 [warn] 22#22: *5 an upstream response is buffered to a temporary"
            " file /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream, client:"
            ' 2001:db8::1, server: shop.example.com, request: "GET /big HTTP/2.0", upstream:'
            ' "http://10.0.0.5:8080/big", host: "shop.example.com", referrer:'
            ' "https://shop.example.com/"',
            {
                "level": "warn",
                "connection": 5,
                "client": "2001:db8::1",
                "request": "GET /big HTTP/2.0",
                "message": "an upstream response is buffered to a temporary file"
                " /var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream",
            },
        ),
        (
            "2023/10/10 13:55:36 [error] 22#22: *3 upstream timed out (110: Connection timed out)"
            " while reading response header from upstream, client: 10.0.0.9, server: api,"
            ' request: "POST /v1/pay HTTP/1.1", upstream: "http://10.0.0.5:8080/v1/pay",'
            ' host: "api.example.com"',
            {"upstream": "http://10.0.0.5:8080/v1/pay", "vhost": "api.example.com"},
        ),
        (
            "2023/10/10 13:55:36 [error] 22#22: *11 limiting requests, excess: 0.500 by zone"
            ' "one", client: 10.0.0.9, server: api, request: "GET / HTTP/1.1", host: "api"',
            {"message": 'limiting requests, excess: 0.500 by zone "one"', "upstream": None},
        ),
        (  # stream module: no request, no host
            "2023/10/10 13:55:36 [info] 22#22: *8 client 10.0.0.9:51234 connected to 0.0.0.0:5432",
            {"level": "info", "client": None, "server": None, "connection": 8},
        ),
        (
            "2023/10/10 13:55:36 [crit] 22#22: *1 SSL_do_handshake() failed (SSL: error:0A00006C:"
            "SSL routines::bad key share) while SSL handshaking, client: 10.0.0.9, server:"
            " 0.0.0.0:443",
            {"level": "crit", "client": "10.0.0.9", "server": "0.0.0.0:443", "request": None},
        ),
        (
            "2023/10/10 13:55:36 [debug] 22#22: timer delta: 0",
            {"level": "debug", "message": "timer delta: 0"},
        ),
        (
            "2023/10/10 13:55:36 [alert] 22#22: worker process 23 exited on signal 9",
            {"level": "alert", "pid": 22},
        ),
        (
            PHP_FATAL,
            {
                "connection": 7,
                "message": 'FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught'
                " Exception: boom in /var/www/html/index.php:3\nStack trace:\n#0 {main}\n"
                '  thrown in /var/www/html/index.php on line 3" while reading response header'
                " from upstream",
                "client": "172.18.0.1",
                "server": "_",
                "upstream": "fastcgi://unix:/run/php/php8.2-fpm.sock:",
                "vhost": "localhost:8080",
            },
        ),
    ],
)
def test_entries(text: str, expected: dict[str, object]) -> None:
    record = _entry(text)
    assert record.time == T
    assert _subset(record, expected) == expected


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_every_level(level: str) -> None:
    assert _entry(f"2023/10/10 13:55:36 [{level}] 1#1: x").level == level


@pytest.mark.parametrize(("offset", "expected"), [(0, T), (7200, T - 7200), (-3600, T + 3600)])
def test_time_is_utc_unless_an_offset_is_given(offset: float, expected: float) -> None:
    assert _entry("2023/10/10 13:55:36 [error] 1#1: x", tz_offset=offset).time == expected


def test_several_entries_with_continuation_lines() -> None:
    lines = [
        "2023/10/10 13:55:36 [notice] 1#1: start worker processes",
        *PHP_FATAL.split("\n"),
        "2023/10/10 13:55:37 [notice] 1#1: start worker process 25",
        "",
    ]
    records, rejected = parse_error_lines(lines, host="h", service="s")
    assert rejected == []
    assert [(r.level, r.connection, r.time) for r in records] == [
        ("notice", None, T),
        ("error", 7, T),
        ("notice", None, T + 1),
    ]
    assert records[1].message.count("\n") == 3


@pytest.mark.parametrize(
    ("lines", "reason", "original"),
    [
        (["not an error line"], "bad_error_line", b"not an error line"),
        (["  thrown in x.php", "#0 {main}"], "bad_error_line", b"  thrown in x.php\n#0 {main}"),
        (["2023/10/10 13:55:36 [fatal] 1#1: x"], "bad_error_line", None),
        (["2023/10/10 13:55:36 error 1#1: x"], "bad_error_line", None),
        (["2023/13/10 13:55:36 [error] 1#1: x"], "bad_timestamp", None),
        (["2023/02/30 13:55:36 [error] 1#1: x"], "bad_timestamp", None),
        (["\u0662023/10/10 13:55:36 [error] 1#1: x"], "bad_error_line", None),
    ],
)
def test_bad_entries(lines: list[str], reason: str, original: bytes | None) -> None:
    good = "2023/10/10 13:55:36 [error] 1#1: fine"
    records, [rejected] = parse_error_lines([*lines, good], host="h", service="s")
    assert [r.message for r in records] == ["fine"]
    assert rejected.reason == reason
    assert rejected.original == (original if original is not None else lines[0].encode())


def test_group_entries() -> None:
    assert group_entries(["", "2023/10/10 13:55:36 [error] 1#1: a", "b", "", ""]) == [
        "2023/10/10 13:55:36 [error] 1#1: a\nb"
    ]


@pytest.mark.parametrize(
    ("message", "text", "context"),
    [
        ("plain", "plain", {}),
        (
            'x, client: 1.2.3.4, server: s, request: "GET /a, b HTTP/1.1", host: "h"',
            "x",
            {"client": "1.2.3.4", "server": "s", "request": "GET /a, b HTTP/1.1", "host": "h"},
        ),
        (  # the last ", client: " is nginx's own; an earlier one belongs to the message
            'stderr: "a, client: fake" while x, client: 1.2.3.4, server: s',
            'stderr: "a, client: fake" while x',
            {"client": "1.2.3.4", "server": "s"},
        ),
        (
            'x, client: 1.2.3.4, server: s, subrequest: "/auth", upstream: "http://u/auth"',
            "x",
            {
                "client": "1.2.3.4",
                "server": "s",
                "subrequest": "/auth",
                "upstream": "http://u/auth",
            },
        ),
        ("client: 1.2.3.4, server: s", "", {"client": "1.2.3.4", "server": "s"}),
    ],
)
def test_split_context(message: str, text: str, context: dict[str, str]) -> None:
    assert split_context(message) == (text, context)


# --- Telegraf grok with the parts already split ---


def _grok(tags: dict[str, str], fields: dict[str, object]) -> ErrorLog:
    obj = {"name": "nginx_error_log", "tags": tags, "fields": fields, "timestamp": 1700000000}
    metric = metric_from_object(orjson.loads(orjson.dumps(obj)))
    return error_from_metric(metric, default_host="kafka-key", default_service="nginx")


def test_grok_split_fields() -> None:
    record = _grok(
        {"host": "web-1", "path": "/var/log/nginx/error.log", "level": "error"},
        {
            "pid": 1234,
            "tid": 5678,
            "connection": 99,
            "message": "connect() failed (111: Connection refused) while connecting to upstream",
            "client": "10.0.0.1",
            "server": "shop.example.com",
            "request": "GET /api HTTP/1.1",
            "upstream": "http://127.0.0.1:8080/api",
            "vhost": "shop.example.com",
        },
    )
    assert record == ErrorLog(
        time=1700000000.0,
        host="web-1",
        service="nginx",
        level="error",
        message="connect() failed (111: Connection refused) while connecting to upstream",
        pid=1234,
        tid=5678,
        connection=99,
        client="10.0.0.1",
        server="shop.example.com",
        request="GET /api HTTP/1.1",
        upstream="http://127.0.0.1:8080/api",
        vhost="shop.example.com",
    )


@pytest.mark.parametrize(
    ("tags", "fields", "expected"),
    [
        (
            {"service": "shop"},
            {"severity": "WARNING", "msg": 'x, client: 1.2.3.4, host: "a"', "cid": "*5"},
            {
                "service": "shop",
                "host": "kafka-key",
                "level": "warn",
                "message": "x",
                "client": "1.2.3.4",
                "vhost": "a",
                "connection": 5,
            },
        ),
        (
            {"vhost": "shop.example.com"},
            {"loglevel": "crit", "errormsg": "y", "pid": "12"},
            {"service": "shop.example.com", "pid": 12, "tid": None},
        ),
    ],
)
def test_grok_variants(
    tags: dict[str, str], fields: dict[str, object], expected: dict[str, object]
) -> None:
    assert _subset(_grok(tags, fields), expected) == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"message": "x"}, "missing_field"),
        ({"level": "error"}, "missing_field"),
        ({"level": "loud", "message": "x"}, "bad_error_line"),
    ],
)
def test_grok_rejects(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ParseError) as info:
        _grok({}, fields)
    assert info.value.reason == reason


def test_an_absurd_pid_stays_in_the_message() -> None:
    record = _entry("2023/10/10 13:55:36 [error] " + "1" * 5000 + "#1: x")
    assert (record.pid, record.message[:3]) == (None, "111")
