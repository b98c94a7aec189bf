"""Lookout watched by a real Prometheus (Debian's 2.42): promtool on the shipped rules and configs,
then Prometheus scraping a real worker under the simulator.

The worker runs both sinks and the notifier (local webhooks as Slack receivers) with the short
windows and rules of the Grafana data run (``grafana_data.live_env``), so every documented
family has data. The test checks the worker's /metrics with Prometheus's own text parser
against tests/metrics_catalogue.py, that the query API answers every recording rule and every
"Lookout itself" dashboard query, and that the input lag rises while the worker is stopped
(SIGSTOP) and falls back to 0 once it caught up.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import run as simulate
from tests.integration.grafana_data import live_env
from tests.integration.notify_servers import WebhookServer
from tests.integration.prometheus import PROMTOOL, RULES, Prometheus, require
from tests.integration.test_sinks_support import fresh_database, wait_for
from tests.integration.workers import Worker
from tests.metrics_catalogue import WORKER

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "infra" / "prometheus"
BOARD = ROOT / "grafana" / "dashboards" / "lookout-itself.json"
BURST = 150_000  # one metric per message: several seconds of work even for the batch fetcher


def promtool(*args: str, cwd: Path = PROM_DIR) -> str:
    """Run promtool; fail with its output when it does not succeed."""
    done = subprocess.run(
        [require(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_promtool_accepts_the_rules_their_unit_tests_and_the_config() -> None:
    out = promtool("check", "rules", *[str(p) for p in RULES])
    assert "SUCCESS" in out
    assert "SUCCESS" in promtool("test", "rules", "tests/lookout-alerts.test.yml")
    # Debian's build has no Kubernetes discovery: prometheus-kubernetes.yml is checked in
    # tests/unit/test_prometheus_configs.py.
    assert "SUCCESS" in promtool("check", "config", "--syntax-only", "prometheus.yml")


def dashboard_queries() -> list[str]:
    """Every panel query of the dashboard, with Grafana's variables as Grafana would fill them."""
    board = json.loads(BOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    return [e.replace("$__rate_interval", "1m").replace("$instance", ".*") for e in exprs]


def recording_rules() -> list[str]:
    return [
        r["record"]
        for path in RULES
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    ]


def scrape(worker: Worker) -> dict[str, object]:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as resp:
        return {f.name: f for f in text_string_to_metric_families(resp.read().decode())}


async def burst(bootstrap: str, topic: str, count: int) -> None:
    """``count`` Telegraf-style messages, one metric each, keyed by host."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        now = time.time()
        for i in range(count):
            host = f"burst-{i % 20:02d}"
            body = {
                "name": "cpu",
                "tags": {"host": host, "cpu": "cpu-total"},
                "fields": {"usage_active": float(i % 100)},
                "timestamp": int(now - 30 + i / count * 30),
            }
            await producer.send(topic, orjson.dumps(body), key=host.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def test_prometheus_scrapes_a_worker_under_the_simulator(
    stack_services: Services, topic_prefix: str, tmp_path: Path
) -> None:
    require(PROMTOOL)
    dsn = await fresh_database(stack_services.postgres_dsn)
    async with WebhookServer() as hook:
        env = live_env(stack_services, topic_prefix, dsn, tmp_path, hook)
        settings = load_settings(env)
        names = TopicNames.from_settings(settings)
        await ensure_topics(settings, stack_services.bootstrap_servers)
        worker = Worker(env, tmp_path, name="w-prom")
        await asyncio.to_thread(worker.start)
        prom = Prometheus(tmp_path, [f"127.0.0.1:{worker.port}"])
        try:
            await asyncio.to_thread(prom.start)
            opts = SimOptions(
                hosts=3,
                services=2,
                interval=1.0,
                rate=15.0,
                seed=3,
                timeline="cpu_saturation@2+15:host=host-001",
            )
            stop = asyncio.Event()
            sim = asyncio.create_task(
                simulate(settings, opts, stack_services.bootstrap_servers, stop=stop)
            )
            try:
                await asyncio.sleep(20)
                check_families(worker)
                await check_queries(prom)
            finally:
                stop.set()
                await sim
            await check_lag(prom, worker, stack_services.bootstrap_servers, names.metrics)
        finally:
            prom.stop()
            await asyncio.to_thread(worker.stop)


def check_families(worker: Worker) -> None:
    """Every family the catalogue calls always-present, with its type and label names."""
    families = scrape(worker)
    for name, fam in WORKER.items():
        got = families.get(name)
        if got is None:
            assert not fam.always, f"{name} missing from /metrics"
            continue
        assert got.type == fam.type, (name, got.type)  # type: ignore[attr-defined]
        for sample in got.samples:  # type: ignore[attr-defined]
            assert set(sample.labels) - {"le"} == fam.labels, (name, sample)
    for name in ("lookout_sink_up", "lookout_sink_last_success_seconds", "lookout_notify_up"):
        assert name in families, f"{name}: the sinks and the notifier run in this worker"


async def check_queries(prom: Prometheus) -> None:
    """The query API answers every recording rule and every dashboard query with data."""
    for expr in [*recording_rules(), *dashboard_queries()]:
        await wait_for(lambda e=expr: _has_data(prom, e), 60, f"data for {expr}")  # type: ignore[misc]


async def _has_data(prom: Prometheus, expr: str) -> bool:
    return bool(await asyncio.to_thread(prom.query, expr))


async def check_lag(prom: Prometheus, worker: Worker, bootstrap: str, topic: str) -> None:
    """Stopped worker: the lag rises; running again: it falls back to 0."""
    lag = f'sum(lookout_input_lag{{topic="{topic}"}})'
    await wait_for(lambda: _equals(prom, lag, 0.0), 60, "no input lag before the pause")
    assert worker.proc is not None
    os.killpg(worker.proc.pid, signal.SIGSTOP)
    try:
        await burst(bootstrap, topic, BURST)
    finally:
        os.killpg(worker.proc.pid, signal.SIGCONT)
    peak = await wait_for(
        lambda: _above(prom, lag, 1000.0), 60, "the input lag rises after the pause", every=0.2
    )
    assert peak > 1000
    await wait_for(lambda: _equals(prom, lag, 0.0), 180, "the input lag falls back to 0")
    catch_up = await asyncio.to_thread(prom.value, f"max_over_time({lag}[5m:1s])")
    assert catch_up is not None and catch_up >= peak


async def _equals(prom: Prometheus, expr: str, want: float) -> bool:
    return await asyncio.to_thread(prom.value, expr) == want


async def _above(prom: Prometheus, expr: str, floor: float) -> float | None:
    value = await asyncio.to_thread(prom.value, expr)
    return value if value is not None and value > floor else None
