"""/metrics of a freshly built worker (no broker): every always-present family from the start."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from app.settings import load_settings
from app.worker import create_app
from tests.metrics_catalogue import NOTIFY_FAMILIES, SINK_FAMILIES, WORKER

RULES = Path(__file__).resolve().parents[2] / "rules"


async def test_fresh_worker_exposes_every_always_present_family_at_zero() -> None:
    settings = load_settings(
        {"LOOKOUT_PARTITIONS": "1", "LOOKOUT_RULES": str(RULES), "LOOKOUT_APP_ID": "metrics-test"}
    )
    lk = create_app(settings, "kafka://127.0.0.1:1")
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
