"""The generator: determinism, order, keys, wire shapes, counters and scenarios in the data."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter

import orjson
import pytest

from app import topics
from devtools.simulator.generator import (
    KIND_APP,
    KIND_METRICS,
    KIND_NGINX,
    KINDS,
    TrafficGenerator,
    generate,
)
from devtools.simulator.options import OptionsError, SimOptions
from tests.unit.simulator.helpers import (
    RAW_ACCESS,
    RAW_ERROR,
    START,
    metrics_of,
    nginx_of,
    run,
    share_5xx,
    telegraf,
)

STEADY = "steady"


def test_kinds_are_the_input_topic_names() -> None:
    assert (KIND_METRICS, KIND_NGINX, KIND_APP) == topics.INPUT_TOPICS


@pytest.mark.parametrize("fmt", ["batch", "json", "influx"])
@pytest.mark.parametrize("raw_logs", [False, True])
def test_same_seed_and_start_give_the_same_bytes(fmt: str, raw_logs: bool) -> None:
    opts = SimOptions(hosts=4, format=fmt, raw_logs=raw_logs, timeline="default")
    first = list(generate(opts, START, START + 300))
    second = list(generate(opts, START, START + 300))
    assert first == second
    assert len(first) > 50


def test_another_seed_or_start_gives_other_data() -> None:
    base = [r.value for r in generate(SimOptions(hosts=2), START, START + 30)]
    other_seed = [r.value for r in generate(SimOptions(hosts=2, seed=7), START, START + 30)]
    later = [r.value for r in generate(SimOptions(hosts=2), START + 60, START + 90)]
    assert base != other_seed
    assert base != later


@pytest.mark.parametrize("fmt", ["batch", "json", "influx"])
@pytest.mark.parametrize("raw_logs", [False, True])
def test_records_are_in_event_time_order_and_keyed_by_host(fmt: str, raw_logs: bool) -> None:
    gen, records = run(600, hosts=5, format=fmt, raw_logs=raw_logs)
    times = [r.time for r in records]
    assert times == sorted(times)
    assert gen.start <= times[0] and times[-1] <= gen.start + 600
    assert {r.key for r in records} == set(gen.hosts)
    assert {r.kind for r in records} == set(KINDS)
    for r in records:
        if r.kind == KIND_APP:
            assert orjson.loads(r.value)["host"] == r.key
        elif not (raw_logs and r.kind == KIND_NGINX):
            assert f"host={r.key}".encode() in r.value or f'"host":"{r.key}"'.encode() in r.value


def test_start_is_aligned_down_to_the_interval() -> None:
    gen = TrafficGenerator(SimOptions(interval=10), START + 7.5)
    assert gen.start == START
    first = next(gen.records())
    assert first.time == START


def test_batch_format_matches_telegraf() -> None:
    _gen, records = run(10, hosts=2)
    system = [r for r in records if r.kind == KIND_METRICS]
    assert len(system) == 2  # one message per host per interval
    for r in system:
        assert r.value.startswith(b'{"metrics":[{"fields":{') and r.value.endswith(b"}]}\n")
        doc = orjson.loads(r.value)
        assert list(doc) == ["metrics"]
        for m in doc["metrics"]:
            assert list(m) == ["fields", "name", "tags", "timestamp"]
            assert list(m["fields"]) == sorted(m["fields"])
            assert list(m["tags"]) == sorted(m["tags"])
            assert m["tags"]["host"] == r.key
            assert m["timestamp"] == int(START) == r.time
        names = Counter(m["name"] for m in doc["metrics"])
        assert {n: names[n] for n in ("mem", "disk", "diskio", "net", "system")} == dict.fromkeys(
            ("mem", "disk", "diskio", "net", "system"), 1
        )
        cpus = [m["tags"]["cpu"] for m in doc["metrics"] if m["name"] == "cpu"]
        assert cpus[-1] == "cpu-total" and cpus[:-1] == [f"cpu{i}" for i in range(len(cpus) - 1)]


def test_telegraf_fields_and_types() -> None:
    _, records = run(10, hosts=1)
    by_name = {(m["name"], m["tags"].get("cpu")): m for m in metrics_of(records)}
    cpu = by_name[("cpu", "cpu-total")]["fields"]
    assert set(cpu) >= {"usage_user", "usage_system", "usage_idle", "usage_iowait", "usage_active"}
    assert cpu["usage_guest"] == 0 and isinstance(cpu["usage_guest"], int)  # Go prints 0, not 0.0
    assert cpu["usage_idle"] + cpu["usage_active"] == pytest.approx(100)
    parts = ("user", "system", "iowait", "irq", "softirq", "steal", "nice")
    assert sum(cpu[f"usage_{p}"] for p in parts) == pytest.approx(cpu["usage_active"])
    mem = by_name[("mem", None)]["fields"]
    assert mem["used"] + mem["available"] == mem["total"]
    assert 0 < mem["used_percent"] < 100
    disk = by_name[("disk", None)]
    assert disk["tags"]["path"] == "/" and {"device", "fstype"} <= set(disk["tags"])
    assert disk["fields"]["used"] + disk["fields"]["free"] == disk["fields"]["total"]
    assert by_name[("diskio", None)]["tags"]["name"] == "sda"
    net = by_name[("net", None)]
    assert net["tags"]["interface"] == "eth0"
    assert set(net["fields"]) == {
        "bytes_sent", "bytes_recv", "packets_sent", "packets_recv",
        "err_in", "err_out", "drop_in", "drop_out",
    }  # fmt: skip
    system = by_name[("system", None)]["fields"]
    assert set(system) >= {"load1", "load5", "load15", "n_cpus", "uptime"}
    assert all(isinstance(system[k], int) for k in ("n_cpus", "uptime"))


def test_json_format_holds_the_same_metrics_one_per_message() -> None:
    _, batch = run(60, hosts=3)
    _, single = run(60, hosts=3, format="json")
    assert all(not orjson.loads(r.value).get("metrics") for r in single if r.kind != KIND_APP)
    assert sorted(map(orjson.dumps, telegraf(batch)), key=bytes) == sorted(
        map(orjson.dumps, telegraf(single)), key=bytes
    )


def test_influx_format_is_line_protocol_of_the_same_metrics() -> None:
    _, batch = run(20, hosts=2)
    _, influx = run(20, hosts=2, format="influx")
    lines = [
        line for r in influx if r.kind == KIND_METRICS for line in r.value.decode().splitlines()
    ]
    assert len(lines) == len(metrics_of(batch))
    first = metrics_of(batch)[0]
    head, fields, ts = lines[0].rsplit(" ", 2)[0], lines[0].split(" ")[1], lines[0].split(" ")[-1]
    assert head == "cpu,cpu=cpu0,host=host-000"
    assert int(ts) == first["timestamp"] * 10**9
    assert "usage_guest=0," in fields  # a float field, so no "i"
    diskio = next(line for line in lines if line.startswith("diskio,"))
    assert "reads=" in diskio and "i," in diskio  # counters are integers
    # logs.nginx takes Telegraf JSON or raw lines: nginx logs stay batch JSON
    assert [r for r in influx if r.kind == KIND_NGINX] == [r for r in batch if r.kind == KIND_NGINX]


def test_nginx_access_metrics_look_like_tail_and_grok() -> None:
    _, records = run(30, hosts=3)
    access = nginx_of(records)
    assert len(access) > 100
    for m in access[:50]:
        assert set(m["tags"]) == {"host", "path", "resp_code", "service", "verb"}
        assert m["tags"]["path"] == f"/var/log/nginx/{m['tags']['service']}.access.log"
        assert set(m["fields"]) == {
            "client_ip", "ident", "auth", "request", "http_version", "resp_bytes",
            "referrer", "agent", "request_time", "upstream_response_time",
        }  # fmt: skip
        assert isinstance(m["fields"]["request_time"], float | int)
        assert isinstance(m["fields"]["resp_bytes"], int)
        assert m["fields"]["http_version"] == 1.1
    # a batch holds the interval before its flush time
    for r in (r for r in records if r.kind == KIND_NGINX):
        stamps = {m["timestamp"] for m in orjson.loads(r.value)["metrics"]}
        assert r.time - 10 <= min(stamps) and max(stamps) < r.time


def test_request_rate_per_service() -> None:
    _, records = run(300, hosts=4, services=2, rate=30, timeline=STEADY)
    per_service = Counter(m["tags"]["service"] for m in nginx_of(records))
    for name in ("shop", "api"):
        assert per_service[name] / 300 == pytest.approx(30, rel=0.2)


def test_raw_logs_carry_the_same_requests() -> None:
    _, grok = run(20, hosts=2)
    _, raw = run(20, hosts=2, raw_logs=True)
    lines = [r.value.decode() for r in raw if r.kind == KIND_NGINX]
    access = [m for line in lines if (m := RAW_ACCESS.match(line))]
    errors = [line for line in lines if RAW_ERROR.match(line)]
    assert len(access) + len(errors) == len(lines)
    expected = nginx_of(grok)
    assert len(access) == len(expected)
    got = sorted((int(a["status"]), a["request"], float(a["rt"])) for a in access)
    want = sorted(
        (int(m["tags"]["resp_code"]), m["fields"]["request"], m["fields"]["request_time"])
        for m in expected
    )
    assert got == want


def test_app_logs() -> None:
    _, records = run(60, hosts=3)
    apps = [orjson.loads(r.value) for r in records if r.kind == KIND_APP]
    assert apps
    for a in apps:
        assert list(a) == ["timestamp", "level", "service", "host", "message", "trace_id"]
        assert a["timestamp"].endswith("Z") and len(a["timestamp"]) == 24
        assert a["level"] in {"info", "warning", "error"}
        assert len(a["trace_id"]) == 32
    _, without = run(60, hosts=3, app_logs=False)
    assert not [r for r in without if r.kind == KIND_APP]
    # app logs come from their own random stream: turning them off changes nothing else
    assert [r for r in records if r.kind != KIND_APP] == without


def test_tally_counts_what_was_yielded() -> None:
    gen, records = run(120, hosts=3)
    assert gen.tally.messages == Counter(r.kind for r in records)
    assert gen.tally.metrics == len(metrics_of(records))
    entries = len(telegraf(records, KIND_NGINX)) + gen.tally.messages[KIND_APP]
    assert gen.tally.logs == entries


COUNTERS = {
    "diskio": ("reads", "writes", "read_bytes", "write_bytes", "io_time", "read_time"),
    "net": ("bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "drop_in"),
}


def _counter_series(records: list, host: str) -> dict[str, list[tuple[int, int]]]:
    series: dict[str, list[tuple[int, int]]] = {}
    for m in metrics_of(records):
        if m["tags"]["host"] == host and m["name"] in COUNTERS:
            for f in COUNTERS[m["name"]]:
                series.setdefault(f"{m['name']}.{f}", []).append((m["timestamp"], m["fields"][f]))
    return series


def test_counters_only_grow() -> None:
    _, records = run(900, hosts=3, timeline=STEADY)
    for host in ("host-000", "host-002"):
        for name, points in _counter_series(records, host).items():
            values = [v for _, v in points]
            assert values == sorted(values), name
            if not name.endswith(("err_in", "drop_in")):
                assert values[0] < values[-1], name


def test_counter_reset_restarts_counters_once() -> None:
    _, records = run(600, hosts=2, timeline="counter_reset@300:host=host-001")
    for host, resets in (("host-000", 0), ("host-001", 1)):
        for name, points in _counter_series(records, host).items():
            drops = [t for (t, v), (_, w) in itertools.pairwise(points) if w < v]
            if name.startswith("net.err") or name.startswith("net.drop"):
                continue  # may stay at 0 after a reboot
            assert drops == ([START + 290] if resets else []), (host, name)
    uptime = {
        m["timestamp"] - START: m["fields"]["uptime"]
        for m in metrics_of(records)
        if m["name"] == "system" and m["tags"]["host"] == "host-001"
    }
    assert uptime[290] > 86_400 and uptime[300] == 0 and uptime[310] == 10


def test_error_spike_in_its_period_only() -> None:
    # 0 ------ 60 [error_spike shop] 120 ------ 180
    _, records = run(180, hosts=6, timeline="error_spike@60+60:svc=shop")
    access = nginx_of(records)

    def window(service: str, lo: int, hi: int) -> list:
        return [
            m
            for m in access
            if m["tags"]["service"] == service and lo <= m["timestamp"] - START < hi
        ]

    assert share_5xx(window("shop", 60, 120)) == pytest.approx(0.4, abs=0.06)
    assert share_5xx(window("shop", 0, 60)) < 0.03
    assert share_5xx(window("shop", 120, 180)) < 0.03
    assert share_5xx(window("api", 60, 120)) < 0.03

    def median_latency(ms: list) -> float:
        ok = [m["fields"]["request_time"] for m in ms if m["tags"]["resp_code"] == "200"]
        return statistics.median(ok)

    assert median_latency(window("shop", 60, 120)) > 4 * median_latency(window("shop", 0, 60))

    errors = nginx_of(records, "nginx_error_log")
    upstream = [
        m
        for m in errors
        if "upstream timed out (110: Connection timed out)" in m["fields"]["value"]
        or "connect() failed (111: Connection refused)" in m["fields"]["value"]
    ]
    inside = [m for m in upstream if 60 <= m["timestamp"] - START < 120]
    outside = len(upstream) - len(inside)  # a few, from the everyday 0.5% of 5xx
    assert len(inside) > 100 and len(inside) > 10 * outside
    assert sum(m["tags"]["service"] == "shop" for m in inside) > 0.95 * len(inside)
    line = inside[0]["fields"]["value"]
    assert RAW_ERROR.match(line) and 'host: "shop.example.com"' in line and "upstream: " in line

    app_errors = [
        orjson.loads(r.value)
        for r in records
        if r.kind == KIND_APP and b'"level":"error"' in r.value
    ]
    assert sum(a["service"] == "shop" for a in app_errors) > 50


def test_cpu_saturation_in_its_period_only() -> None:
    _, records = run(300, hosts=3, timeline="cpu_saturation@100+100:host=host-001")
    active = {
        (m["tags"]["host"], m["timestamp"] - START): m["fields"]["usage_active"]
        for m in metrics_of(records)
        if m["name"] == "cpu" and m["tags"]["cpu"] == "cpu-total"
    }
    for (host, t), value in active.items():
        if host == "host-001" and 100 <= t < 200:
            assert value == pytest.approx(97, abs=2.5), t
        else:
            assert value < 85, (host, t)


def test_host_silent_sends_nothing_in_its_period_then_resumes() -> None:
    _, records = run(300, hosts=3, timeline="host_silent@100+100:host=2", raw_logs=False)
    mine = [r for r in records if r.key == "host-002"]
    assert not [r for r in mine if START + 100 <= r.time < START + 200]
    assert [r for r in mine if r.time < START + 100]
    after = [r for r in mine if r.time >= START + 200]
    assert {r.kind for r in after} == set(KINDS)
    assert min(r.time for r in after if r.kind == KIND_METRICS) == START + 200
    stamps = [m["timestamp"] - START for m in telegraf(mine)]
    assert not [s for s in stamps if 100 <= s < 200]  # nothing about the silent time either
    others = {r.key for r in records if START + 100 <= r.time < START + 200}
    assert others == {"host-000", "host-001"}


def test_host_silent_also_silences_raw_logs() -> None:
    _, records = run(300, hosts=3, timeline="host_silent@100+100:host=2", raw_logs=True)
    assert not [r for r in records if r.key == "host-002" and START + 100 <= r.time < START + 200]


def test_default_timeline_shows_every_incident() -> None:
    gen, records = run(600, hosts=10)
    assert gen.conditions(START + 250).describe() == (
        "error_spike(shop), cpu_saturation(host-001), host_silent(host-002)"
    )
    cpu1 = [
        m["fields"]["usage_active"]
        for m in metrics_of(records)
        if m["tags"]["host"] == "host-001" and m["tags"].get("cpu") == "cpu-total"
        and 180 <= m["timestamp"] - START < 400
    ]  # fmt: skip
    assert min(cpu1) > 90
    assert not [r for r in records if r.key == "host-002" and START + 240 <= r.time < START + 420]
    shop = [m for m in nginx_of(records) if m["tags"]["service"] == "shop"]
    assert share_5xx([m for m in shop if 120 <= m["timestamp"] - START < 300]) > 0.3


def test_bad_options_are_rejected_before_generating() -> None:
    with pytest.raises(OptionsError, match="--hosts must be between 1 and 100000"):
        TrafficGenerator(SimOptions(hosts=0), START)
    with pytest.raises(OptionsError, match=r"--timeline: .*no service 'nope'"):
        TrafficGenerator(SimOptions(timeline="error_spike@0+10:svc=nope"), START)


def test_many_requests_are_split_into_telegraf_sized_batches() -> None:
    _, records = run(10, hosts=1, services=1, rate=250, timeline=STEADY)
    logs = [orjson.loads(r.value)["metrics"] for r in records if r.kind == KIND_NGINX]
    assert [len(m) for m in logs][:2] == [1000, 1000] and sum(map(len, logs)) > 2000
