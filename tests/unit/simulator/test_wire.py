"""Wire encoders: Go number formatting, line protocol escaping, nginx and app log lines."""

from __future__ import annotations

import orjson
import pytest

from devtools.simulator.traffic import AccessEntry, AppEntry
from devtools.simulator.wire import (
    access_line,
    app_json,
    go_float,
    httpd_time,
    influx_line,
    iso_second,
    nginx_error_time,
    telegraf_batch,
    telegraf_json,
)
from formats.points import Metric
from tests.unit.simulator.helpers import START


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (10.0, "10"), (97.25, "97.25"), (0.1, "0.1"), (1e-05, "0.00001"),
     (1e16, "10000000000000000"), (-2.5, "-2.5")],
)  # fmt: skip
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_telegraf_json_is_sorted_go_style_with_newline() -> None:
    m = Metric(
        "cpu", {"host": "h", "cpu": "cpu-total"}, {"usage_idle": 100.0, "b": 1.5, "n": 3}, 1.0e9
    )
    assert telegraf_json(m) == (
        b'{"fields":{"b":1.5,"n":3,"usage_idle":100},"name":"cpu",'
        b'"tags":{"cpu":"cpu-total","host":"h"},"timestamp":1000000000}\n'
    )
    assert m.fields["usage_idle"] == 100.0  # the metric itself is not changed
    batch = telegraf_batch([m, m])
    assert batch.endswith(b"\n") and orjson.loads(batch) == {
        "metrics": [orjson.loads(telegraf_json(m))] * 2
    }


def test_influx_line_escapes_and_types() -> None:
    m = Metric(
        "my meas,x",
        {"z": "1", "path": "/var/log/a b", "k=v": "a,b"},
        {"f": 1.0, "i": 7, "s": 'say "hi" \\ now', "b": True, "g": 0.5},
        1_700_000_000.0,
    )
    assert influx_line(m) == (
        r"my\ meas\,x,k\=v=a\,b,path=/var/log/a\ b,z=1 "
        r'f=1,i=7i,s="say \"hi\" \\ now",b=true,g=0.5 1700000000000000000'
    )


def test_nginx_times() -> None:
    sec = int(START) + 13 * 3600 + 55 * 60 + 36
    assert httpd_time(sec) == "01/Jan/2024:13:55:36 +0000"
    assert nginx_error_time(sec) == "2024/01/01 13:55:36"
    assert iso_second(sec) == "2024-01-01T13:55:36"


def test_access_line_is_combined_plus_times() -> None:
    e = AccessEntry(START + 0.25, 0, "10.1.2.3", "GET", "/a?b=1", 200, 512, "-", "curl/8.5.0",
                    0.123, 0.12)  # fmt: skip
    assert access_line(e) == (
        b'10.1.2.3 - - [01/Jan/2024:00:00:00 +0000] "GET /a?b=1 HTTP/1.1" 200 512 "-" '
        b'"curl/8.5.0" 0.123 0.120'
    )


@pytest.mark.parametrize(
    ("offset", "stamp"), [(0.0, "00:00:00.000Z"), (1.5, "00:00:01.500Z"), (2.999, "00:00:02.999Z")]
)
def test_app_json(offset: float, stamp: str) -> None:
    e = AppEntry(START + offset, 0, "error", "boom", "ab" * 16)
    assert orjson.loads(app_json(e, "host-001", "shop")) == {
        "timestamp": f"2024-01-01T{stamp}",
        "level": "error",
        "service": "shop",
        "host": "host-001",
        "message": "boom",
        "trace_id": "ab" * 16,
    }
