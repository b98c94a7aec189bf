"""nginx access logs: raw combined/common lines and Telegraf's grok JSON."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats.nginx_access import (
    access_from_metric,
    httpd_time,
    parse_access_line,
    parse_access_lines,
    split_request,
    upstream_seconds,
)
from formats.points import AccessLog, ParseError
from formats.telegraf_json import metric_from_object

T = 1_696_938_936.0  # 2023-10-10T11:55:36Z == [10/Oct/2023:13:55:36 +0200]
WHEN = "[10/Oct/2023:13:55:36 +0200]"


def _line(line: str) -> AccessLog:
    return parse_access_line(line, host="web-1", service="shop")


def _subset(record: AccessLog, expected: dict[str, object]) -> dict[str, object]:
    return {key: getattr(record, key) for key in expected}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (  # the combined example of the Apache/nginx log format documentation
            '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'
            ' "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
            {
                "time": 971211336.0,
                "client_ip": "127.0.0.1",
                "remote_user": "frank",
                "method": "GET",
                "path": "/apache_pb.gif",
                "protocol": "HTTP/1.0",
                "status": 200,
                "bytes": 2326,
                "referrer": "http://www.example.com/start.html",
                "agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
                "forwarded_for": [],
                "request_time": None,
                "upstream_time": None,
            },
        ),
        (  # common log format: no referrer, no agent
            '127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif'
            ' HTTP/1.0" 200 2326',
            {"status": 200, "bytes": 2326, "referrer": None, "agent": None, "remote_user": "frank"},
        ),
        (
            f'2001:db8:85a3::8a2e:370:7334 - - {WHEN} "POST /api/orders?id=7 HTTP/2.0" 201 87 "-"'
            ' "okhttp/4.12.0"',
            {
                "time": T,
                "client_ip": "2001:db8:85a3::8a2e:370:7334",
                "method": "POST",
                "path": "/api/orders?id=7",
                "protocol": "HTTP/2.0",
                "remote_user": None,
                "referrer": None,
            },
        ),
        (  # X-Forwarded-For list in the client slot
            f'203.0.113.9, 10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 612 "-" "curl/8.4.0"',
            {"client_ip": "203.0.113.9", "forwarded_for": ["203.0.113.9", "10.0.0.1"]},
        ),
        (
            f'2001:db8::7, 10.0.0.1, 10.0.0.2 - - {WHEN} "GET / HTTP/1.1" 200 612 "-" "curl"',
            {"client_ip": "2001:db8::7", "forwarded_for": ["2001:db8::7", "10.0.0.1", "10.0.0.2"]},
        ),
        (  # nginx's default "main" format: $http_x_forwarded_for quoted at the end
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 612 "-" "curl/8.4.0"'
            ' "203.0.113.9, 198.51.100.7"',
            {"client_ip": "10.0.0.1", "forwarded_for": ["203.0.113.9", "198.51.100.7"]},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 612 "-" "curl/8.4.0" "-"',
            {"client_ip": "10.0.0.1", "forwarded_for": []},
        ),
        (  # an empty request: the client closed or spoke no HTTP
            f'198.51.100.23 - - {WHEN} "" 400 0 "-" "-"',
            {"method": None, "path": None, "protocol": None, "status": 400, "agent": None},
        ),
        (  # TLS spoken to a plain HTTP port: nginx escapes the bytes as \xHH
            f'198.51.100.23 - - {WHEN} "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03"'
            ' 400 157 "-" "-"',
            {"method": None, "path": None, "status": 400, "bytes": 157},
        ),
        (
            f'10.0.0.1 - - {WHEN} "HEAD /health HTTP/1.1" 499 - "-" "kube-probe/1.28"',
            {"status": 499, "bytes": 0, "method": "HEAD"},
        ),
        (  # Apache-style escapes
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "Mozilla/5.0 \\"quoted\\" C:\\\\x"',
            {"agent": 'Mozilla/5.0 "quoted" C:\\x'},
        ),
        (  # nginx-style escapes: \x22 is '"', \x5C is '\', UTF-8 bytes of the path
            f'10.0.0.1 - - {WHEN} "GET /caf\\xC3\\xA9 HTTP/1.1" 200 1 "-" "say \\x22hi\\x22 \\x5C"',
            {"path": "/caf\u00e9", "agent": 'say "hi" \\'},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "https://shop.example.com/a?b=c" "a b"'
            " 0.005",
            {"referrer": "https://shop.example.com/a?b=c", "request_time": 0.005},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl" 0.000 -',
            {"request_time": 0.0, "upstream_time": None},
        ),
        (  # two upstream servers tried
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 502 1 "-" "curl" 0.123 0.010, 0.020',
            {"request_time": 0.123, "upstream_time": pytest.approx(0.030)},
        ),
        (  # an internal redirect between upstream groups
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl" 0.5 0.010 : 0.020',
            {"request_time": 0.5, "upstream_time": pytest.approx(0.030)},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl" 0.5 -, 0.020 : - 200',
            {"upstream_time": pytest.approx(0.020)},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl" "203.0.113.9" 0.123 0.100',
            {"forwarded_for": ["203.0.113.9"], "request_time": 0.123, "upstream_time": 0.1},
        ),
        (  # common format with timings straight after the byte count
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 0.002 0.001',
            {"referrer": None, "request_time": 0.002, "upstream_time": 0.001},
        ),
        (  # unknown trailing fields are ignored
            f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl" [shop-upstream]',
            {"request_time": None, "status": 200},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET /" 200 1 "-" "curl"',
            {"method": "GET", "path": "/", "protocol": None},
        ),
        (
            f'10.0.0.1 - - {WHEN} "GET /a b HTTP/1.1" 400 1 "-" "curl"',
            {"method": "GET", "path": "/a b", "protocol": "HTTP/1.1"},
        ),
        (
            '10.0.0.1 - - [29/Feb/2024:23:59:59 -0130] "GET / HTTP/1.1" 200 1 "-" "curl"',
            {"time": 1709256599.0},
        ),
    ],
)
def test_raw_lines(line: str, expected: dict[str, object]) -> None:
    record = _line(line)
    assert _subset(record, expected) == expected
    assert (record.host, record.service) == ("web-1", "shop")


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        ("garbage", "bad_access_line", "[time]"),
        ('10.0.0.1 - - 10/Oct/2023:13:55:36 +0200 "GET / HTTP/1.1" 200 1', "bad_access_line", ""),
        (f'10.0.0.1 - {WHEN} "GET / HTTP/1.1" 200 1', "bad_access_line", "client ident user"),
        (f'{WHEN} "GET / HTTP/1.1" 200 1', "bad_access_line", "[time]"),
        ('10.0.0.1 - - [10/Foo/2023:13:55:36 +0200] "GET /" 200 1', "bad_timestamp", "10/Foo"),
        ('10.0.0.1 - - [31/Feb/2023:13:55:36 +0200] "GET /" 200 1', "bad_timestamp", ""),
        ('10.0.0.1 - - [10/Oct/2023:13:55:36 ~0200] "GET /" 200 1', "bad_timestamp", ""),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" abc 1', "bad_access_line", "status"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200', "bad_access_line", "status"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 x "-" "-"', "bad_access_line", "status"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" \u00b200 1', "bad_access_line", "status"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 2000 1', "bad_access_line", "status"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 {"9" * 5000}', "bad_access_line", "status"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1 200 1', "bad_access_line", "unterminated"),
        (f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl', "bad_access_line", "unterm"),
    ],
)
def test_bad_raw_lines(line: str, reason: str, detail: str) -> None:
    records, [rejected] = parse_access_lines([line], host="h", service="s")
    assert records == []
    assert (rejected.reason, rejected.original) == (reason, line.encode())
    assert detail in rejected.detail


def test_good_lines_around_a_bad_one_are_kept() -> None:
    good = f'10.0.0.1 - - {WHEN} "GET / HTTP/1.1" 200 1 "-" "curl"'
    records, rejected = parse_access_lines(
        [good, "", "not an access line", good], host="h", service="s"
    )
    assert len(records) == 2
    assert [(r.reason, r.original) for r in rejected] == [
        ("bad_access_line", b"not an access line")
    ]


@pytest.mark.parametrize(
    ("request_line", "expected"),
    [
        ("GET /x HTTP/1.1", ("GET", "/x", "HTTP/1.1")),
        ("", (None, None, None)),
        ("GET /", ("GET", "/", None)),
        ("\x16\x03\x01", (None, None, None)),
        ("PRI * HTTP/2.0", ("PRI", "*", "HTTP/2.0")),
    ],
)
def test_split_request(request_line: str, expected: tuple[str | None, ...]) -> None:
    assert split_request(request_line) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.010", 0.010), ("-", None), ("0.010, 0.020", 0.030), ("0.1 : 0.2, -", 0.3), ("", None)],
)
def test_upstream_seconds(text: str, expected: float | None) -> None:
    assert upstream_seconds(text) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize("text", ["nan", "0.1, inf", "fast"])
def test_upstream_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        upstream_seconds(text)


def test_httpd_time_offsets() -> None:
    assert httpd_time("10/Oct/2023:13:55:36 +0200") == T
    assert httpd_time("10/Oct/2023:11:55:36 +0000") == T
    assert httpd_time("10/Oct/2023:07:25:36 -0430") == T


# --- Telegraf inputs.tail + grok COMBINED_LOG_FORMAT, through the JSON serializer ---

GROK = {
    "name": "nginx_access_log",
    "tags": {
        "host": "web-1",
        "path": "/var/log/nginx/access.log",
        "resp_code": "200",
        "verb": "GET",
        "service": "shop",
    },
    "fields": {
        "client_ip": "203.0.113.9",
        "ident": "-",
        "auth": "-",
        "request": "/x?y=1",
        "http_version": 1.1,
        "resp_bytes": 123,
        "referrer": "-",
        "agent": "Mozilla/5.0 (X11; Linux x86_64)",
    },
    "timestamp": 1700000000,
}


def _grok(tags: dict[str, object] | None = None, **fields: object) -> AccessLog:
    obj = orjson.loads(orjson.dumps(GROK))
    obj["tags"].update(tags or {})
    obj["fields"].update(fields)
    for container in (obj["tags"], obj["fields"]):
        for key in [k for k, v in container.items() if v is ...]:
            del container[key]
    return access_from_metric(
        metric_from_object(obj), default_host="kafka-key", default_service="nginx"
    )


def test_grok_combined_log_format() -> None:
    assert _grok() == AccessLog(
        time=1700000000.0,
        host="web-1",
        service="shop",
        client_ip="203.0.113.9",
        status=200,
        bytes=123,
        method="GET",
        path="/x?y=1",
        protocol="HTTP/1.1",
        remote_user=None,
        referrer=None,
        agent="Mozilla/5.0 (X11; Linux x86_64)",
    )


@pytest.mark.parametrize(
    ("tags", "fields", "expected"),
    [
        ({"service": ..., "vhost": "shop.example.com"}, {}, {"service": "shop.example.com"}),
        ({"service": ...}, {}, {"service": "nginx"}),
        ({"host": ...}, {}, {"host": "kafka-key"}),
        ({}, {"auth": "alice", "referrer": "https://a/"}, {"remote_user": "alice"}),
        ({}, {"http_version": 2}, {"protocol": "HTTP/2.0"}),
        ({}, {"http_version": 1.0}, {"protocol": "HTTP/1.0"}),
        ({}, {"resp_bytes": ...}, {"bytes": 0}),
        (  # "" does not match the request part of the pattern: no verb, request, http_version
            {"verb": ..., "resp_code": "400"},
            {"request": ..., "http_version": ...},
            {"method": None, "path": None, "protocol": None, "status": 400},
        ),
        (  # a custom pattern adding timings
            {},
            {"request_time": 0.123, "upstream_response_time": "0.010, 0.020"},
            {"request_time": 0.123, "upstream_time": pytest.approx(0.03)},
        ),
        ({}, {"request_time": "0.5", "upstream_response_time": 0.25}, {"upstream_time": 0.25}),
        ({}, {"upstream_response_time": "-"}, {"upstream_time": None}),
        ({"resp_code": ...}, {"resp_code": 302}, {"status": 302}),
        (
            {},
            {"client_ip": "203.0.113.9, 10.0.0.1"},
            {"client_ip": "203.0.113.9", "forwarded_for": ["203.0.113.9", "10.0.0.1"]},
        ),
        ({}, {"http_x_forwarded_for": "198.51.100.1"}, {"forwarded_for": ["198.51.100.1"]}),
    ],
)
def test_grok_variants(
    tags: dict[str, object], fields: dict[str, object], expected: dict[str, object]
) -> None:
    assert _subset(_grok(tags, **fields), expected) == expected


@pytest.mark.parametrize(
    ("tags", "fields", "reason"),
    [
        ({"resp_code": ...}, {}, "missing_field"),
        ({}, {"client_ip": ...}, "missing_field"),
        ({"resp_code": "OK"}, {}, "bad_access_line"),
        ({}, {"resp_bytes": True}, "bad_access_line"),
        ({}, {"resp_bytes": 1.5}, "bad_access_line"),
    ],
)
def test_grok_rejects(tags: dict[str, object], fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ParseError) as info:
        _grok(tags, **fields)
    assert info.value.reason == reason


_TAIL_PARTS = [
    '"-"',
    '"Mozilla/5.0 (X11; Linux x86_64)"',
    '"a\\"b"',
    '""',
    '"1.2.3.4, 5.6.7.8"',
    "0.1",
    "0.1,",
    "-",
    ":",
    "0.2",
    "nan",
    "1e400",
    '"x',
    'abc"d',
    " ",
    "0.3 : 0.4",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_TAIL_PARTS), min_size=1, max_size=6))
def test_the_plain_tail_fast_path_reads_what_the_general_scan_reads(parts: list[str]) -> None:
    """_read_tail's regex fast path is only a shortcut: same record as the character scan."""
    import re

    import formats.nginx_access as na
    from formats.points import AccessLog

    def blank() -> AccessLog:
        return AccessLog(
            time=0.0, host="h", service="s", client_ip="1", status=200, bytes=0,
            method=None, path=None, protocol=None, remote_user=None, forwarded_for=[],
        )  # fmt: skip

    tail = " ".join(parts)
    fast, general = blank(), blank()
    fast_error = general_error = None
    try:
        na._read_tail(tail, fast)
    except Exception as exc:
        fast_error = type(exc)
    saved = na._PLAIN_TAIL
    na._PLAIN_TAIL = re.compile(r"(?!)")  # never matches: the general scan only
    try:
        na._read_tail(tail, general)
    except Exception as exc:
        general_error = type(exc)
    finally:
        na._PLAIN_TAIL = saved
    assert (fast_error, fast) == (general_error, general)


_CLIENTS = ["10.0.0.1", "2001:db8::1", "1.2.3.4,", "1.2.3.4, 5.6.7.8", "{x", "[x", "", "a]b"]
_WHO = ["-", "frank", 'a"b', "x]", ""]
_TIMES = ["10/Oct/2000:13:55:36 -0700", "32/Oct/2000:13:55:36 -0700", "10/Oct/2000:13:55:36"]
_REQUESTS = ['"GET /x HTTP/1.1"', '""', '"GET /a\\"b HTTP/1.1"', '"garbage"', '"GET /x']
_STATUS = ["200", "404", "2000", "20", "abc", "099", "٢٠٠"]
_BYTES = ["0", "-", "512", "12a", "99999999999999999999", "-1"]


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(_CLIENTS),
    st.sampled_from(_WHO),
    st.sampled_from(_WHO),
    st.sampled_from(_TIMES),
    st.sampled_from(_REQUESTS),
    st.sampled_from(_STATUS),
    st.sampled_from(_BYTES),
    st.lists(st.sampled_from(_TAIL_PARTS), max_size=5),
    st.sampled_from(["", " ", "\n", "\r\n", "\t"]),
)
def test_the_window_fast_path_reads_what_the_full_decode_reads(
    client: str,
    ident: str,
    user: str,
    stamp: str,
    request: str,
    status: str,
    size: str,
    tail: list[str],
    end: str,
) -> None:
    """nginx_access_fast is only a shortcut: where it answers, decode_nginx accepts the same
    line with the same fields the windows read (and client_ip)."""
    from formats.decode import decode_nginx, nginx_access_fast

    line = f"{client} {ident} {user} [{stamp}] {request} {status} {size}"
    if tail:
        line += " " + " ".join(tail)
    payload = (line + end).encode()
    fast = nginx_access_fast(payload, default_host="h1")
    if fast is None:
        return
    records, rejected = decode_nginx(payload, default_host="h1")
    assert rejected == [] and len(records) == 1
    (full,) = records
    assert isinstance(full, AccessLog)
    keys = ("time", "host", "service", "client_ip", "status", "bytes", "request_time")
    assert [getattr(fast, k) for k in keys] == [getattr(full, k) for k in keys]


def test_the_window_fast_path_takes_the_bench_lines() -> None:
    from devtools.bench.nginx_lines import w3_messages
    from formats.decode import decode_nginx, nginx_access_fast

    keys = ("time", "host", "service", "client_ip", "status", "bytes", "request_time")
    seen = 0
    for message in w3_messages(2000, 1_800_000_000):
        seen += 1
        fast = nginx_access_fast(message.value, default_host="h")
        assert fast is not None, message.value
        (full,), _ = decode_nginx(message.value, default_host="h")
        assert [getattr(fast, k) for k in keys] == [getattr(full, k) for k in keys]
    assert seen == 2000


@pytest.mark.parametrize(
    "line",
    [
        "2026/12/07 10:00:00 [error] 12#0: *5 upstream timed out, client: 10.0.0.1",
        '2026/12/07 10:00:00 [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-"',
        '2026/12/07 10:00:00 - [06/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-"',
    ],
)
def test_the_window_fast_path_leaves_error_entries_to_the_full_decode(line: str) -> None:
    """An error entry's start never fits the plain access form (three words before "["), so
    the fast path needs no separate error check; the last line is an access line whose client
    looks like a date, and both decodes agree on it."""
    from formats.decode import decode_nginx, nginx_access_fast
    from formats.nginx_error import is_error_start

    fast = nginx_access_fast(line.encode(), default_host="h")
    records, _ = decode_nginx(line.encode(), default_host="h")
    if is_error_start(line):
        assert fast is None and not any(isinstance(r, AccessLog) for r in records)
    else:
        assert fast is not None and isinstance(records[0], AccessLog)
        assert (fast.client_ip, fast.status) == (records[0].client_ip, records[0].status)
