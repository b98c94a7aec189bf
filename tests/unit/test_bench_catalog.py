"""Benchmark workloads W1f and W3, the catalog, the median run and the JSON keys (pure, fast)."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from devtools.bench.catalog import SHAPES, message_count, messages, rounded_count, span, start_for
from devtools.bench.nginx_lines import LINES_PER_SECOND, SERVICES
from devtools.bench.report import summary, targets
from devtools.bench.result import (
    LOOKOUT,
    LOOKOUT_NOPAT,
    QUIX,
    RAW,
    DrainResult,
    Results,
    median_run,
)
from devtools.bench.telegraf_inputs import FIELDS_PER_HOST, METRICS_PER_INTERVAL
from devtools.bench.workloads import HOSTS, INTERVAL, W1, W1F, W2, W3, W3A, host_name
from formats.decode import decode_metrics, decode_nginx
from formats.nginx_access import parse_access_line

START = 1_767_225_600  # 2026-01-01T00:00:00Z
FIELDS = {
    "cpu": {
        "usage_user",
        "usage_system",
        "usage_idle",
        "usage_nice",
        "usage_iowait",
        "usage_irq",
        "usage_softirq",
        "usage_steal",
        "usage_guest",
        "usage_guest_nice",
        "usage_active",
    },
    "disk": {
        "total",
        "free",
        "used",
        "used_percent",
        "inodes_total",
        "inodes_free",
        "inodes_used",
    },
    "net": {
        "bytes_sent",
        "bytes_recv",
        "packets_sent",
        "packets_recv",
        "err_in",
        "err_out",
        "drop_in",
        "drop_out",
    },
    "system": {"load1", "load5", "load15", "n_cpus", "n_users", "uptime"},
}
COUNTS = {"cpu": 11, "mem": 10, "disk": 7, "diskio": 11, "net": 8, "system": 6, "processes": 11}


@pytest.mark.parametrize(
    ("workload", "count", "records", "msgs"),
    [
        (W1, 1, 10_000, 10_000),
        (W2, 200_000, 200_000, 2_000),
        (W1F, 1, 7_000, 7_000),
        (W1F, 14_001, 21_000, 21_000),
        (W3, 1, 1_000, 1_000),
        (W3, 2_500, 3_000, 3_000),
    ],
)
def test_sizes_round_up_to_whole_steps(workload: str, count: int, records: int, msgs: int) -> None:
    assert rounded_count(workload, count) == records
    assert message_count(workload, count) == msgs


def test_spans_and_starts_end_just_before_now() -> None:
    assert span(W1, 30_000) == 30 and span(W1F, 21_000) == 30 and span(W3, 3_000) == 3
    now = START + 1000.5
    for workload, count in ((W1, 30_000), (W1F, 21_000), (W3, 3_000)):
        start = start_for(workload, count, now)
        last = start + span(workload, count)
        assert last <= now < last + 2 * INTERVAL


def test_w1f_one_metric_per_message_with_telegrafs_fields() -> None:
    msgs = list(messages(W1F, 14_000, START))  # two intervals
    assert len(msgs) == 2 * METRICS_PER_INTERVAL
    per_name: dict[str, set[str]] = {}
    stamps = Counter()
    for m in msgs:
        doc = orjson.loads(m.value)
        assert set(doc) == {"name", "tags", "fields", "timestamp"}
        assert doc["tags"]["host"].encode() == m.key
        assert m.timestamp_ms == doc["timestamp"] * 1000
        assert m.metrics == 1 and m.fields == len(doc["fields"])
        per_name.setdefault(doc["name"], set()).update(doc["fields"])
        stamps[doc["timestamp"]] += 1
        if doc["name"] == "cpu":
            assert doc["tags"]["cpu"] == "cpu-total"
    assert {name: len(fields) for name, fields in per_name.items()} == COUNTS
    for name, fields in FIELDS.items():
        assert per_name[name] == fields
    assert sum(m.fields for m in msgs) == 2 * HOSTS * FIELDS_PER_HOST
    assert stamps == {START: METRICS_PER_INTERVAL, START + INTERVAL: METRICS_PER_INTERVAL}
    assert {m.key for m in msgs} == {host_name(h).encode() for h in range(HOSTS)}


def test_w1f_is_the_same_every_run_and_lookout_decodes_it() -> None:
    first = [m.value for m in messages(W1F, 7_000, START)]
    assert first == [m.value for m in messages(W1F, 7_000, START)]
    total = 0
    for value in first:
        metrics, rejected = decode_metrics(value)
        assert not rejected
        total += sum(len(x.fields) for x in metrics)
    assert total == HOSTS * FIELDS_PER_HOST


def test_w3_one_parseable_access_line_per_message_keyed_by_host() -> None:
    msgs = list(messages(W3, 3_000, START))  # three seconds
    assert len(msgs) == 3 * LINES_PER_SECOND
    statuses = Counter()
    for m in msgs:
        assert b"\n" not in m.value and m.metrics == 1
        line = m.value.decode()
        record = parse_access_line(line, host=m.key.decode(), service="nginx")
        assert record.request_time is not None and record.upstream_time is not None
        assert START <= record.time < START + 3
        assert int(record.time) * 1000 <= m.timestamp_ms < (int(record.time) + 1) * 1000
        statuses[record.status // 100] += 1
        records, rejected = decode_nginx(m.value, default_host=m.key.decode())
        assert len(records) == 1 and not rejected
    assert {m.key for m in msgs} == {host_name(h).encode() for h in range(HOSTS)}
    assert Counter(m.key for m in msgs).most_common(1)[0][1] == 3
    assert statuses[2] > 0.85 * len(msgs)


def test_w3_mix_has_client_and_server_errors_and_twenty_services() -> None:
    msgs = list(messages(W3, 20_000, START))
    status = Counter(int(m.value.split(b'" ', 2)[1][:3]) // 100 for m in msgs)
    assert status[4] > 0.01 * len(msgs) and status[5] > 0.001 * len(msgs)
    assert status[2] > 0.9 * len(msgs)
    paths = {m.value.split(b'"')[1].split()[1].split(b"?")[0].split(b"/")[1] for m in msgs}
    assert len(paths) >= SERVICES // 2  # each service has its own endpoints


def test_every_shape_is_known() -> None:
    assert set(SHAPES) == {W1, W2, W1F, W3, W3A}
    assert [SHAPES[w].suffix for w in (W1, W2, W1F, W3, W3A)] == ["eps", "eps", "mps", "lps", "lps"]


def test_w3a_is_one_app_record_per_message() -> None:
    msgs = list(messages(W3A, 2_000, 1_765_000_000))
    assert len(msgs) == rounded_count(W3A, 2_000) == 2_000
    records = [orjson.loads(m.value) for m in msgs]
    assert all(r["message"] and r["service"] and r["level"] for r in records)
    assert len({r["host"] for r in records}) == HOSTS
    assert len({r["service"] for r in records}) >= 10


def _run(eps: float, peak: float | None = None, complete: bool = True) -> DrainResult:
    return DrainResult(LOOKOUT, W2, int(eps * 10), 10.0, complete, peak)


def test_median_run_keeps_every_rate_and_the_highest_peak() -> None:
    result = median_run([_run(57_000, 300.0), _run(84_000, 320.0), _run(60_000, None)])
    assert result.eps == 60_000
    assert result.runs == (57_000, 84_000, 60_000)
    assert result.peak_rss_mb == 320.0
    assert median_run([_run(2), _run(1)]).eps == 1
    assert not median_run([_run(1), _run(2, complete=False)]).complete
    with pytest.raises(ValueError):
        median_run([])


def test_summary_has_the_new_keys_and_targets() -> None:
    results = Results(10_000, repeat=3)
    results.fields_per_record = {W1F: 64 / 7}
    for drain, workload, eps in (
        (LOOKOUT, W1F, 7_000.0),
        (QUIX, W1F, 3_000.0),
        (LOOKOUT, W3, 12_000.0),
        (QUIX, W3, 5_000.0),
        (RAW, W3, 90_000.0),
        (LOOKOUT, W2, 60_000.0),
        (RAW, W2, 300_000.0),
        (QUIX, W2, 15_000.0),
    ):
        runs = (eps, eps) if drain == LOOKOUT else ()
        results.add(DrainResult(drain, workload, int(eps * 10), 10.0, runs=runs))
    out = summary(results, {}, "2026-01-01")
    assert out["w1f_lookout_mps"] == 7_000 and out["w1f_lookout_fps"] == 64_000
    assert out["w1f_quix_mps"] == 3_000
    assert out["w3_lookout_lps"] == 12_000 and out["w3_quix_lps"] == 5_000
    assert out["w3_raw_lps"] == 90_000
    assert out["w2_lookout_eps"] == 60_000 and out["w2_lookout_eps_runs"] == [60_000, 60_000]
    assert out["w1_lookout_eps"] is None and out["repeat"] == 3
    verdicts = {t.key: t.verdict for t in targets(results)}
    assert verdicts == out["targets"]
    assert verdicts["w1f_lookout_vs_quix"] == "PASS"
    assert verdicts["w3_lookout_vs_quix"] == "PASS" and verdicts["w3_lookout_lps"] == "PASS"
    assert verdicts["w2_lookout_vs_quix"] == "PASS" and verdicts["w2_lookout_vs_raw"] == "PASS"
    assert verdicts["w1_lookout_vs_quix"] == "n/a"


def test_patterns_on_off_targets_and_keys() -> None:
    results = Results(1_000)
    results.add(DrainResult(LOOKOUT, W3A, 1_000, 1.0))
    results.add(DrainResult(LOOKOUT_NOPAT, W3A, 1_000, 0.5))
    results.add(DrainResult(LOOKOUT, W3, 1_000, 1.0))
    results.add(DrainResult(LOOKOUT_NOPAT, W3, 1_000, 0.9))
    verdicts = {t.key: t.verdict for t in targets(results)}
    assert verdicts["w3a_patterns_on_vs_off"] == "MISS"  # 1,000 vs 2,000 lines/s
    assert verdicts["w3_patterns_on_vs_off"] == "PASS"  # 0.9x
    out = summary(results, {}, "2026-12-07")
    assert out["w3a_lookout_nopat_lps"] == 2_000 and out["w3a_lookout_lps"] == 1_000
    assert "w1_lookout_nopat_eps" not in out  # not run: no key (like the sinks-on drain)
