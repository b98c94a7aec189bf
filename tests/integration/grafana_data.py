"""Real pipeline data for the Grafana query tests (this module holds no tests itself).

A ``lookout worker`` with both sinks runs the default alert rules, shortened so that a live run
of under a minute fires and resolves them: windows of 10 s (tumbling) and 20 s / 5 s (hopping),
``for`` 5 s, host down after 3 s of silence. The simulator sends live traffic (event time = wall
time, one Telegraf interval a second) with an error spike on ``shop``, a saturated CPU on
``host-001`` and ``host-002`` silent for 8 s, while an operator acknowledges every alert that
fires through the HTTP API. When the simulator stops every host falls silent, so the run ends
with ``host_down`` firing: open incidents and open downtime, as a dashboard would show them.
Then the business catalogue is seeded (``sinks.demo_data.seed_demo``).

Nothing writes ``notifications`` yet (the notifier, issue #5, is not wired into the worker):
:func:`outbox_rows` puts in the rows the outbox would hold for the recorded transitions, in the
shape of the notification contract, so the notification panels have something to count. Every
other row and document comes from the pipeline. Once the worker runs the notifier, replace it
with a notify file whose receivers point at local servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import yaml

from app.settings import load_settings
from app.simulator.options import SimOptions
from app.simulator.runner import run as simulate
from app.stack import Services
from app.topics import ensure_topics
from sinks.demo_data import seed_demo
from sinks.es_templates import index_prefix
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
# Receivers of the outbox stand-in (see outbox_rows).
RECEIVERS = ("ops-slack", "ops-email")


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
            " (SELECT count(*) FROM incidents WHERE status <> 'resolved') AS open,"
            " (SELECT count(*) FROM alert_configuration) AS rules"
        )
    finally:
        await conn.close()
    now = list(row.values())
    ready = all(v > 0 for v in now) and now == previous
    previous[:] = now
    return ready


async def outbox_rows(dsn: str) -> int:
    """Outbox rows for the recorded firing/resolved transitions (see the module docstring).

    The shape is the notification contract's (docs/NOTIFY-CONTRACT.md): one row per (group,
    transition, receiver), grouped by rule and host; ``ops-slack`` takes every alert and its
    webhook answers 2xx (sent), ``ops-email`` takes critical ones and its server refuses them
    with a 5xx reply (failed at once).
    """
    conn = await asyncpg.connect(dsn)
    try:
        transitions = await conn.fetch(
            "SELECT h.transition_id, h.fingerprint, h.rule, h.labels, h.to_state, h.value,"
            " h.event_time, c.severity, i.incident_id, i.opened_at, i.resolved_at,"
            " i.acknowledged_at IS NOT NULL AND i.acknowledged_at <= h.event_time AS acked"
            " FROM alert_history AS h"
            " JOIN alert_configuration AS c ON c.rule = h.rule"
            " LEFT JOIN LATERAL (SELECT * FROM incidents AS i WHERE i.fingerprint = h.fingerprint"
            "   AND i.opened_at <= h.event_time ORDER BY i.opened_at DESC LIMIT 1) AS i ON true"
            " WHERE h.to_state IN ('firing', 'resolved')"
            " ORDER BY h.event_time, h.transition_id"
        )
        rows = []
        for tr in transitions:
            labels = orjson.loads(tr["labels"])
            group_labels = {"rule": tr["rule"], "host": labels.get("host", "")}
            for receiver in RECEIVERS:
                if receiver == "ops-email" and tr["severity"] != "critical":
                    continue
                group = f"{receiver}|rule={tr['rule']},host={group_labels['host']}"
                failed = receiver == "ops-email"
                alert = {
                    "fingerprint": tr["fingerprint"],
                    "rule": tr["rule"],
                    "severity": tr["severity"],
                    "labels": labels,
                    "annotations": {},
                    "value": tr["value"],
                    "threshold": None,
                    "state": tr["to_state"],
                    "starts_at": tr["opened_at"].timestamp() if tr["opened_at"] else None,
                    "ends_at": tr["resolved_at"].timestamp() if tr["resolved_at"] else None,
                    "incident_id": tr["incident_id"],
                    "acknowledged": bool(tr["acked"]),
                }
                payload = {
                    "version": 1,
                    "receiver": receiver,
                    "group_key": group,
                    "group_labels": group_labels,
                    "status": tr["to_state"],
                    "kind": tr["to_state"],
                    "alerts": [alert],
                    "truncated": 0,
                }
                rows.append(
                    (
                        f"{group}|{tr['transition_id']}",
                        group,
                        tr["transition_id"],
                        receiver,
                        "failed" if failed else "sent",
                        f"new {tr['to_state']}",
                        1,
                        "ops-email: SMTP 554 5.7.1 relay access denied" if failed else None,
                        orjson.dumps(payload).decode(),
                        tr["event_time"],
                        None if failed else tr["event_time"] + timedelta(seconds=1),
                    )
                )
        await conn.executemany(
            "INSERT INTO notifications (idempotency_key, group_key, transition_id, receiver,"
            " status, reason, attempts, last_error, payload, created_at, sent_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            rows,
        )
        return len(rows)
    finally:
        await conn.close()


async def produce_pipeline_data(services: Services, workdir: Path) -> PipelineData:
    """Run the worker and the simulator live (see the module docstring); return where it went."""
    dsn = await fresh_database(services.postgres_dsn)
    topic_prefix = f"g{uuid.uuid4().hex[:8]}."
    env = worker_env(
        services,
        topic_prefix,
        postgres_dsn=dsn,
        sinks="all",
        sink_linger="0.2",
        rules=str(short_rules(workdir / "rules.yaml")),
        api_token=TOKEN,
        **SHORT_WINDOWS,
    )
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
    await outbox_rows(dsn)
    return PipelineData(dsn, services.elasticsearch_url, prefix, start, end)
