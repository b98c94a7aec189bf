"""Real pipeline data for the Grafana query tests (this module holds no tests itself).

A ``lookout worker`` with both sinks runs the default alert rules, shortened so that a live run
of under a minute fires and resolves them: windows of 10 s (tumbling) and 20 s / 5 s (hopping),
``for`` 5 s, host down after 3 s of silence. The simulator sends live traffic (event time = wall
time, one Telegraf interval a second) with an error spike on ``shop``, a saturated CPU on
``host-001`` and ``host-002`` silent for 8 s, while an operator acknowledges every alert that
fires through the HTTP API. When the simulator stops every host falls silent, so the run ends
with ``host_down`` firing: open incidents and open downtime, as a dashboard would show them.
Then the business catalogue is seeded (``devtools.demo_data.seed_demo``).

The worker also runs the notifier with a notify file whose receivers are local webhooks:
``ops-slack`` takes every alert and answers 200 (sent), ``ops-pager`` takes the critical ones and
answers 400 (failed at once), so the notification panels count real outbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml

from app.services import Services
from app.settings import load_settings
from app.topics import ensure_topics
from devtools.demo_data import seed_demo
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import run as simulate
from sinks.es_templates import index_prefix
from tests.integration.notify_servers import Reply, WebhookServer
from tests.integration.test_sinks_support import es_counts, fresh_database, wait_for
from tests.integration.workers import Worker, worker_env

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "grafana-test-token"
HOSTS, SERVICES = 3, ("shop", "api")
LIVE_SECONDS = 42.0
TIMELINE = (
    "error_spike@2+8:svc=shop:latency=20,"
    "cpu_saturation@2+15:host=host-001,"
    "host_silent@22+8:host=host-002"
)
SHORT_WINDOWS = {
    "tumbling_size": "10",
    "hopping_size": "20",
    "hopping_step": "5",
    "grace": "2",
    "idle_timeout": "2",
}
# Local webhooks as Slack receivers: every alert is sent to ops-slack (200), critical ones also
# to ops-pager, whose webhook refuses them (400: failed at once, no retries).
NOTIFY = """
receivers:
  - name: ops-slack
    slack: {webhook_url: "${GRAFANA_TEST_SLACK}", rate: 50, burst: 50}
  - name: ops-pager
    slack: {webhook_url: "${GRAFANA_TEST_PAGER}", rate: 50, burst: 50}
route:
  receiver: ops-slack
  group_by: [rule, host]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - {match: {severity: critical}, receiver: ops-pager, continue: true}
    - {receiver: ops-slack}
"""


@dataclass(frozen=True)
class PipelineData:
    """Where the run's data lives and the event-time span it covers."""

    dsn: str
    es_url: str
    index_prefix: str
    start: datetime
    end: datetime


def short_rules(path: Path) -> Path:
    """The default rules (``rules/default.yaml``) with durations fit for a one-minute run."""
    doc = yaml.safe_load((ROOT / "rules" / "default.yaml").read_text())
    for rule in doc["rules"]:
        if "for" in rule:
            rule["for"] = "5s"
        if "min_samples" in rule:
            rule["min_samples"] = 5
        if rule.get("kind") == "absence":
            rule["absent_for"] = "3s"
        if rule.get("kind") == "anomaly":
            rule["min_history"] = 2
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


async def _ack_firing(worker: Worker, stop: asyncio.Event) -> set[str]:
    """Acknowledge every alert that fires until ``stop`` (an operator on call)."""
    acked: set[str] = set()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            firing = (await asyncio.to_thread(worker.get, "/api/alerts?status=firing"))["alerts"]
            for alert in firing:
                fp = alert["fingerprint"]
                if fp in acked or alert.get("acknowledged"):
                    continue
                body = {"by": "oncall", "comment": f"looking at {alert['rule']}"}
                url = f"{worker.url}/api/alerts/{fp}/ack"
                async with session.post(url, json=body, headers=auth) as resp:
                    if resp.status == 200:
                        acked.add(fp)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    return acked


async def _pg_settled(dsn: str, previous: list[Any]) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM aggregated_metrics) AS agg,"
            " (SELECT count(*) FROM error_rates) AS rates,"
            " (SELECT count(*) FROM alert_history) AS history,"
            " (SELECT count(*) FROM incidents WHERE acknowledged_at IS NOT NULL) AS acked,"
            " (SELECT count(*) FROM downtime_logs) AS downtime,"
            # the run ends with every host silent: host_down must have fired and been stored
            " (SELECT count(*) FROM incidents WHERE status <> 'resolved'"
            "   AND rule = 'host_down') AS open,"
            " (SELECT count(*) FROM notifications WHERE status = 'sent') AS sent,"
            " (SELECT count(*) FROM notifications WHERE status = 'failed') AS failed,"
            " (SELECT count(*) FROM alert_configuration) AS rules"
        )
    finally:
        await conn.close()
    now = list(row.values())
    ready = all(v > 0 for v in now) and now == previous
    previous[:] = now
    return ready


async def produce_pipeline_data(services: Services, workdir: Path) -> PipelineData:
    """Run the worker and the simulator live (see the module docstring); return where it went."""
    async with WebhookServer() as hook:
        hook.script(*[Reply(400, "invalid_token")] * 1000, path="/pager")
        return await _produce(services, workdir, hook)


def live_env(
    services: Services, topic_prefix: str, dsn: str, workdir: Path, hook: WebhookServer
) -> dict[str, str]:
    """A worker with both sinks, the short rules and windows, notifying ``hook``'s webhooks."""
    notify = workdir / "notify.yaml"
    notify.write_text(NOTIFY)
    env = worker_env(
        services,
        topic_prefix,
        postgres_dsn=dsn,
        sinks="all",
        sink_linger="0.2",
        rules=str(short_rules(workdir / "rules.yaml")),
        api_token=TOKEN,
        notify_file=str(notify),
        **SHORT_WINDOWS,
    )
    env["GRAFANA_TEST_SLACK"] = hook.url
    env["GRAFANA_TEST_PAGER"] = hook.url_for("/pager")
    return env


async def _produce(services: Services, workdir: Path, hook: WebhookServer) -> PipelineData:
    dsn = await fresh_database(services.postgres_dsn)
    topic_prefix = f"g{uuid.uuid4().hex[:8]}."
    env = live_env(services, topic_prefix, dsn, workdir, hook)
    settings = load_settings(env)
    await ensure_topics(settings, services.bootstrap_servers)
    worker = Worker(env, workdir, name="grafana")
    await asyncio.to_thread(worker.start)
    try:
        start = datetime.fromtimestamp(int(time.time()) + 1, UTC)
        opts = SimOptions(
            hosts=HOSTS,
            services=len(SERVICES),
            interval=1.0,
            rate=15.0,
            seed=8,
            start=start,
            timeline=TIMELINE,
        )
        stop = asyncio.Event()
        acks = asyncio.create_task(_ack_firing(worker, stop))
        sim = asyncio.create_task(simulate(settings, opts, services.bootstrap_servers, stop=stop))
        try:
            await asyncio.sleep(LIVE_SECONDS)
        finally:
            stop.set()
            _, acked = await asyncio.gather(sim, acks)
        assert acked, f"no alert fired to acknowledge:\n{worker.tail()}"
        end = datetime.now(UTC)
        seen: list[Any] = []
        await wait_for(lambda: _pg_settled(dsn, seen), 90, "the Postgres sink settles", every=2.0)
        prefix = index_prefix(topic_prefix)

        async def documents() -> bool:
            counts = await es_counts(services.elasticsearch_url, prefix)
            return all(counts[k] > 0 for k in ("es_access", "es_error", "es_app"))

        await wait_for(documents, 60, "the Elasticsearch sink stores access, error and app logs")
    finally:
        await asyncio.to_thread(worker.stop)
    await seed_demo(dsn, hosts=HOSTS, services=SERVICES, seed=8, today=end.date())
    return PipelineData(dsn, services.elasticsearch_url, prefix, start, end)
