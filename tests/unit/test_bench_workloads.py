"""Benchmark workloads: shapes, counts, keys, series and event-time spacing (pure, fast)."""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise

import orjson
import pytest

from devtools.bench.catalog import message_count, messages, rounded_count
from devtools.bench.workloads import (
    BATCH_INTERVALS,
    HOSTS,
    INTERVAL,
    METRICS_PER_INTERVAL,
    SERIES_PER_HOST,
    W1,
    W2,
    LatencyMessages,
    host_name,
    intervals_for,
    marker_field,
    plan_start,
    w1_messages,
    w2_messages,
)
from formats.decode import decode_metrics

START = 1_767_225_600  # 2026-01-01T00:00:00Z, a multiple of the interval
COUNT = 30_000  # three intervals of all 10,000 series


def _series(metric: dict) -> tuple[str, str, str]:
    tags = ",".join(f"{k}={v}" for k, v in sorted(metric["tags"].items()))
    return metric["name"], tags, next(iter(metric["fields"]))


@pytest.mark.parametrize(
    ("count", "intervals", "rounded"),
    [(1, 1, 10_000), (10_000, 1, 10_000), (10_001, 2, 20_000), (1_000_000, 100, 1_000_000)],
)
def test_count_rounds_up_to_whole_intervals(count: int, intervals: int, rounded: int) -> None:
    assert intervals_for(count) == intervals
    assert rounded_count(W1, count) == rounded == rounded_count(W2, count)


def test_count_must_be_positive() -> None:
    with pytest.raises(ValueError):
        intervals_for(0)


def test_plan_start_ends_one_interval_before_now() -> None:
    # now = START + 1000.5 s; 3 intervals -> the last at START + 990, the first at START + 970
    now = START + 1000.5
    start = plan_start(COUNT, now)
    assert start == START + 970
    assert start % INTERVAL == 0
    last = start + (intervals_for(COUNT) - 1) * INTERVAL
    assert last < now and now - last <= 2 * INTERVAL


def test_plan_start_goes_back_count_over_ten_thousand_intervals() -> None:
    now = START + 100_000.0
    assert now - plan_start(1_000_000, now) == pytest.approx(100 * INTERVAL, abs=INTERVAL)


def test_w1_one_metric_per_message_keyed_by_host() -> None:
    msgs = list(w1_messages(COUNT, START))
    assert len(msgs) == COUNT == message_count(W1, COUNT)
    assert all(m.metrics == 1 for m in msgs)
    for m in msgs[:2000]:
        doc = orjson.loads(m.value)
        assert set(doc) == {"name", "tags", "fields", "timestamp"}
        assert len(doc["fields"]) == 1
        assert doc["tags"]["host"].encode() == m.key
        assert m.timestamp_ms == doc["timestamp"] * 1000


def test_w1_every_host_has_ten_series_each_once_per_interval() -> None:
    per_host: defaultdict[str, Counter[tuple[str, str, str]]] = defaultdict(Counter)
    for m in w1_messages(COUNT, START):
        doc = orjson.loads(m.value)
        per_host[doc["tags"]["host"]][_series(doc)] += 1
    assert len(per_host) == HOSTS
    assert set(per_host) == {host_name(h) for h in range(HOSTS)}
    for counts in per_host.values():
        assert len(counts) == SERIES_PER_HOST
        assert set(counts.values()) == {intervals_for(COUNT)}


def test_w1_event_times_step_by_the_interval_in_order() -> None:
    stamps = [orjson.loads(m.value)["timestamp"] for m in w1_messages(COUNT, START)]
    assert stamps == sorted(stamps)
    assert sorted(set(stamps)) == [START, START + INTERVAL, START + 2 * INTERVAL]
    assert Counter(stamps)[START] == METRICS_PER_INTERVAL


def test_w2_hundred_metrics_of_one_host_per_message() -> None:
    count = 200_000  # 20 intervals: two blocks of 10
    msgs = list(w2_messages(count, START))
    assert len(msgs) == 2 * HOSTS == message_count(W2, count)
    assert sum(m.metrics for m in msgs) == count
    for m in msgs[:50]:
        batch = orjson.loads(m.value)["metrics"]
        assert len(batch) == m.metrics == SERIES_PER_HOST * BATCH_INTERVALS
        assert {x["tags"]["host"] for x in batch} == {m.key.decode()}
        assert len({_series(x) for x in batch}) == SERIES_PER_HOST
        stamps = sorted({x["timestamp"] for x in batch})
        assert len(stamps) == BATCH_INTERVALS
        assert all(b - a == INTERVAL for a, b in pairwise(stamps))
        assert m.timestamp_ms == stamps[-1] * 1000


def test_w2_blocks_follow_each_other_in_time() -> None:
    msgs = list(w2_messages(200_000, START))
    first = {x["timestamp"] for x in orjson.loads(msgs[0].value)["metrics"]}
    second = {x["timestamp"] for x in orjson.loads(msgs[HOSTS].value)["metrics"]}
    assert min(first) == START
    assert min(second) == max(first) + INTERVAL


def test_w2_last_block_may_be_partial() -> None:
    msgs = list(w2_messages(COUNT, START))  # 3 intervals: one block of 3
    assert len(msgs) == HOSTS
    assert {m.metrics for m in msgs} == {SERIES_PER_HOST * 3}
    assert sum(m.metrics for m in msgs) == COUNT


def test_same_metrics_in_both_workloads() -> None:
    w1 = Counter(
        (d["tags"]["host"], _series(d), d["timestamp"], next(iter(d["fields"].values())))
        for d in (orjson.loads(m.value) for m in w1_messages(COUNT, START))
    )
    w2 = Counter(
        (d["tags"]["host"], _series(d), d["timestamp"], next(iter(d["fields"].values())))
        for m in w2_messages(COUNT, START)
        for d in orjson.loads(m.value)["metrics"]
    )
    assert w1 == w2


def test_lookout_decodes_every_metric_of_both_workloads() -> None:
    for workload in (W1, W2):
        total = 0
        for m in messages(workload, 10_000, START):
            metrics, rejected = decode_metrics(m.value)
            assert not rejected
            assert all(x.time is not None and x.time >= START for x in metrics)
            total += len(metrics)
        assert total == 10_000


def test_values_vary_and_stay_below_alert_thresholds() -> None:
    values = {
        next(iter(orjson.loads(m.value)["fields"].values())) for m in w1_messages(COUNT, START)
    }
    assert len(values) > 100
    assert min(values) >= 0 and max(values) < 80


def test_unknown_workload_is_refused() -> None:
    with pytest.raises(ValueError):
        list(messages("w9", 10, START))


def test_latency_message_carries_its_marker() -> None:
    gen = LatencyMessages()
    now = START + 0.7
    m = gen.message(1234, now)
    batch = orjson.loads(m.value)["metrics"]
    assert m.key.decode() == gen.host_of(1234) == host_name(234)
    assert len(batch) == m.metrics == 100
    assert {x["timestamp"] for x in batch} == {START}
    markers = [x["fields"][marker_field()] for x in batch if marker_field() in x["fields"]]
    assert markers == [1234] * BATCH_INTERVALS
