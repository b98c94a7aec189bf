"""/metrics of a freshly built worker (no broker): every always-present family from the start."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from faust.types import TP
from prometheus_client.parser import text_string_to_metric_families

from app.settings import load_settings
from app.worker import create_app
from tests.metrics_catalogue import NOTIFY_FAMILIES, SINK_FAMILIES, WORKER

RULES = Path(__file__).resolve().parents[2] / "rules"


def build(partitions: int = 1) -> Any:
    settings = load_settings(
        {
            "LOOKOUT_PARTITIONS": str(partitions),
            "LOOKOUT_RULES": str(RULES),
            "LOOKOUT_APP_ID": "metrics-test",
        }
    )
    return create_app(settings, "kafka://127.0.0.1:1")


async def test_fresh_worker_exposes_every_always_present_family_at_zero() -> None:
    lk = build()
    client = TestClient(TestServer(lk.app.web.web_app))  # type: ignore[attr-defined]
    await client.start_server()
    try:
        resp = await client.get("/metrics")
        text = await resp.text()
    finally:
        await client.close()
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # input lag needs assigned partitions; sinks and notifications run only where configured
    later = {"lookout_input_lag"} | SINK_FAMILIES | NOTIFY_FAMILIES
    for name, fam in WORKER.items():
        if not fam.always or name in later:
            continue
        assert name in families, name
        assert families[name].type == fam.type, name
        for sample in families[name].samples:
            assert set(sample.labels) - {"le"} == fam.labels, (name, sample)
    rules = {s.labels["rule"] for s in families["lookout_alert_evaluations"].samples}
    assert rules == {r.name for r in lk.store.alerting.rules}  # type: ignore[union-attr]
    records_in = families["lookout_records_in"].samples
    assert {s.labels["topic"] for s in records_in} == set(lk.topics.inputs())
    assert all(s.value == 0 for s in records_in)


class FakeConsumer:
    """Answers ``highwaters`` like Faust's consumer, from a dict."""

    def __init__(self, ends: dict[tuple[str, int], int]) -> None:
        self.ends = ends

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[(tp.topic, tp.partition)] for tp in tps}


async def test_input_lag_is_high_watermark_minus_next_offset_clamped_at_zero() -> None:
    lk = build(partitions=2)
    metrics, logs = lk.topics.metrics, lk.topics.logs_app
    owned = {0, 1}
    lk.store.active_partitions = lambda: owned  # type: ignore[method-assign]
    ends = {(t, p): 0 for t in lk.topics.inputs() for p in (0, 1)}
    # applied up to offset 99 of 150; caught up at 40 of an end Tansu understates as 38
    ends[(metrics, 0)], ends[(logs, 1)] = 150, 38
    for offset in range(100):
        lk.store.order.admit((metrics, 0), offset)
    for offset in range(41):
        lk.store.order.admit((logs, 1), offset)
    ends[(metrics, 1)] = 7  # nothing applied yet: all of it is lag
    telemetry = lk.telemetry
    telemetry.app = SimpleNamespace(rebalancing=False, consumer=FakeConsumer(ends))
    telemetry.fetcher = None  # the lag math on a consumer's high watermarks (no fetcher here)
    telemetry.clock = lambda: 1_800_000_000.0
    await telemetry.refresh_lag()
    stats = lk.stats
    assert stats.get("lookout_input_lag", topic=metrics, partition="0") == 50
    assert stats.get("lookout_input_lag", topic=logs, partition="1") == 0
    assert stats.get("lookout_input_lag", topic=metrics, partition="1") == 7
    assert stats.get("lookout_input_lag_updated_seconds") == 1_800_000_000.0
    # partition 1 moved to another worker: its series go away
    owned.discard(1)
    await telemetry.refresh_lag()
    lags = {dict(k[1])["partition"] for k in stats.gauges if k[0] == "lookout_input_lag"}
    assert lags == {"0"}


async def test_event_time_delay_and_alert_counts_are_read_at_scrape_time() -> None:
    lk = build()
    now = 1_800_000_000.0
    engine = lk.store.engine
    slow, fast, silent = (engine.host(h, 0, now) for h in ("slow", "fast", "silent"))
    slow.max_ts, fast.max_ts, silent.max_ts = now - 90, now - 5, now - 3600
    silent.last_recv = now - 10 * engine.config.idle  # gone quiet: not a pipeline delay
    lk.telemetry.clock = lambda: now
    alerting = lk.store.alerting
    rule = alerting.rules[0].name
    alerting.evaluations[rule] += 3
    alerting.transitions[(rule, "firing")] += 1
    lk.telemetry.collect()
    stats = lk.stats
    assert stats.get("lookout_event_time_delay_seconds") == 90
    assert stats.get("lookout_alert_evaluations_total", rule=rule) == 3
    assert stats.get("lookout_alert_transitions_total", rule=rule, to="firing") == 1
    assert stats.get("lookout_alert_transitions_total", rule=rule, to="resolved") == 0
    assert stats.get("lookout_state_hosts") == 3
