"""Alerting on the real stack: simulator scenarios -> window state -> transitions on lookout.alerts.

- error spike (fast replay, default rules): the 5xx rule goes pending then firing within
  window + for + 5 s of event time after the spike starts, and resolves after it ends; a
  graceful worker restart in the middle gives the same transitions (none lost, none doubled).
- host silent (live, a 4 s absence rule): host down fires and resolves with the down duration.
- ack and silences through the HTTP API (bearer token).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerting.evaluator import EVAL_TICK
from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.simulator.generator import KIND_APP, KIND_NGINX, generate
from devtools.simulator.options import SimOptions
from devtools.simulator.runner import run as simulate
from devtools.simulator.scenarios import parse_timeline
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

TOKEN = "test-admin-token"
SPIKE_AT, SPIKE_FOR = 120, 180
START = 1_790_000_400.0  # fixed event-time start (a multiple of 60)
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules"


async def alerts(services: Services, topic: str, settle: float = 3.0) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=services.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        quiet = time.monotonic()
        while time.monotonic() - quiet < settle:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                for m in msgs:
                    out.append(orjson.loads(m.value))
                    quiet = time.monotonic()
    finally:
        await consumer.stop()
    return out


async def produce_records(services: Services, settings: Any, records: list[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=services.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        for rec in records:
            await producer.send(settings.topic(rec.kind), rec.value, key=rec.key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def spike_records() -> list[Any]:
    """The error-spike scenario's input: 15 minutes of event time, 3 hosts, 2 services."""
    timeline = parse_timeline(f"error_spike@{SPIKE_AT}s+{SPIKE_FOR}s:svc=shop", hosts=3)
    opts = SimOptions(hosts=3, services=2, seed=7, duration=900.0, timeline=timeline)
    return list(generate(opts, START, START + 900))


def largest_log_gap(records: list[Any], host: str) -> float:
    """The longest stretch of event time without a record in one of ``host``'s log topics."""
    gaps = [10.0]
    for kind in (KIND_NGINX, KIND_APP):
        times = sorted(r.time for r in records if r.kind == kind and r.key == host)
        gaps += [b - a for a, b in itertools.pairwise(times)]
    return max(gaps)


async def spike_run(services: Services, tmp: Path, restart: bool) -> list[dict[str, Any]]:
    """The error-spike scenario over 15 minutes of event time; optionally a restart halfway."""
    prefix = f"a{int(time.time() * 1000) % 10**8}{int(restart)}."
    env = worker_env(services, prefix, rules=str(DEFAULT_RULES), api_token=TOKEN)
    settings = load_settings(env)
    await ensure_topics(settings, services.bootstrap_servers)
    records = spike_records()
    first = [r for r in records if r.time < START + 450]
    rest = [r for r in records if r.time >= START + 450]
    worker = Worker(env, tmp, name="spike")
    await asyncio.to_thread(worker.start)
    try:
        await produce_records(services, settings, first)
        # Both runs pause halfway: a quiet host is judged at its current clock (see
        # Evaluator.evaluate_quiet), which a run without the pause would only judge at its next
        # tick, up to the sparsest log topic's gap later. The restart is then the one difference.
        await wait_quiet(worker)
        if restart:
            await asyncio.to_thread(worker.stop)  # graceful: finish the batch, commit, leave
            worker = Worker(env, tmp, name="spike-restarted")
            await asyncio.to_thread(worker.start)
        await produce_records(services, settings, rest)
        await wait_quiet(worker)
        return await alerts(services, TopicNames.from_settings(settings).alerts)
    finally:
        await asyncio.to_thread(worker.stop)


async def wait_records(worker: Worker, minimum: int) -> None:
    for _ in range(200):
        if worker.get("/api/health")["records_in"] >= minimum:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("worker processed nothing")


async def wait_quiet(worker: Worker) -> None:
    last, same = -1.0, 0
    for _ in range(300):
        now = worker.get("/api/health")["records_in"]
        same = same + 1 if now == last else 0
        if same >= 8 and now > 0:
            return
        last = now
        await asyncio.sleep(0.25)
    raise AssertionError("worker never went quiet")


def fivexx(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r.get("type") == "transition"
        and r["rule"] == "nginx_5xx_error_rate"
        and r["labels"].get("service") == "shop"
    ]


async def test_error_spike_fires_within_window_plus_for_and_resolves(
    stack_services: Services, tmp_path: Path
) -> None:
    records = await spike_run(stack_services, tmp_path, restart=False)
    spike = fivexx(records)
    assert spike, f"no 5xx transitions in {len(records)} alert records"
    by_fp: dict[str, list[dict[str, Any]]] = {}
    for r in spike:
        by_fp.setdefault(r["fingerprint"], []).append(r)
    start, end = START + SPIKE_AT, START + SPIKE_AT + SPIKE_FOR
    for fp, items in by_fp.items():
        states = [r["to_state"] for r in items]
        assert states == ["pending", "firing", "resolved"], (fp, states)
        pending, firing, resolved = items
        assert start <= pending["event_time"] <= firing["event_time"]
        assert firing["event_time"] <= start + 300 + 60 + 5, "fired later than window+for+5s"
        assert firing["event_time"] - pending["event_time"] >= 60  # `for: 1m`
        assert resolved["event_time"] > end
        assert firing["incident_id"] == resolved["incident_id"]
        assert "5xx" in firing["annotations"]["summary"]
    assert len({r["id"] for r in records}) == len(records), "duplicate transition ids"


async def test_a_graceful_restart_mid_spike_changes_no_transition(
    stack_services: Services, tmp_path: Path
) -> None:
    plain = fivexx(await spike_run(stack_services, tmp_path, restart=False))
    restarted = fivexx(await spike_run(stack_services, tmp_path, restart=True))

    def shape(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(r["labels"]["host"], r["to_state"], r["id"].split(":")[1]) for r in items]

    def by_host(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda r: (r["labels"]["host"], r["event_time"]))

    plain, restarted = by_host(plain), by_host(restarted)
    assert shape(restarted) == shape(plain)
    # A host's log clock is the smallest watermark of its log topics, and a topic quiet for the
    # idle allowance (wall time) leaves it: around a restart the clock can be held back, or let
    # go, by as much as the sparsest log topic's longest gap, plus the evaluation tick in which
    # the clock then lands (alerting/evaluator.py).
    records = spike_records()
    for a, b in zip(plain, restarted, strict=True):
        bound = largest_log_gap(records, a["labels"]["host"]) + EVAL_TICK
        assert abs(a["event_time"] - b["event_time"]) <= bound, (a, b, bound)
    assert len({r["id"] for r in restarted}) == len(restarted)


async def test_host_down_fires_and_resolves_with_duration(
    stack_services: Services, pg_dsn: str, tmp_path: Path
) -> None:
    from sinks.migrations import migrate

    await migrate(pg_dsn, progress=lambda line: None)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: host_down\n"
        "    kind: absence\n"
        "    absent_for: 4s\n"
        "    severity: critical\n"
        "    annotations:\n"
        "      summary: '{labels.host} is down'\n"
    )
    prefix = f"h{int(time.time() * 1000) % 10**8}."
    env = worker_env(
        stack_services,
        prefix,
        rules=str(rules),
        api_token=TOKEN,
        postgres_dsn=pg_dsn,
        sinks="postgres",
        sink_linger="0.2",
    )
    settings = load_settings(env)
    await ensure_topics(settings, stack_services.bootstrap_servers)
    worker = Worker(env, tmp_path, name="absence")
    await asyncio.to_thread(worker.start)
    try:
        timeline = parse_timeline("host_silent@4s+12s:host=host-002", hosts=3)
        opts = SimOptions(
            hosts=3, services=1, seed=3, interval=1.0, duration=None, timeline=timeline
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            simulate(settings, opts, stack_services.bootstrap_servers, stop=stop)
        )
        await asyncio.sleep(26)
        stop.set()
        await task
        records = await alerts(stack_services, TopicNames.from_settings(settings).alerts)
        down = [r for r in records if r.get("rule") == "host_down"]
        assert [r["labels"]["host"] for r in down] == ["host-002", "host-002"], down
        firing, resolved = down
        assert (firing["to_state"], resolved["to_state"]) == ("firing", "resolved")
        assert 10 <= resolved["down_for_s"] <= 16, resolved
        assert resolved["down_at"] == firing["down_at"]

        # the Postgres sink (inside the worker) records the downtime and the incident
        import asyncpg

        row = None
        for _ in range(60):
            conn = await asyncpg.connect(pg_dsn)
            try:
                row = await conn.fetchrow(
                    "SELECT host, duration_seconds FROM downtime_logs WHERE up_at IS NOT NULL"
                )
                incident = await conn.fetchrow("SELECT status, resolved_at FROM incidents")
                history = await conn.fetchval("SELECT count(*) FROM alert_history")
            finally:
                await conn.close()
            if row is not None and incident is not None and incident["status"] == "resolved":
                break
            await asyncio.sleep(0.5)
        assert row is not None, "no downtime row"
        assert row["host"] == "host-002"
        assert abs(row["duration_seconds"] - resolved["down_for_s"]) < 0.01
        assert incident is not None and incident["status"] == "resolved"
        assert history == 2
    finally:
        await asyncio.to_thread(worker.stop)


async def test_ack_and_silences_through_the_api(stack_services: Services, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: hot\n"
        "    measurement: temp\n"
        "    field: c\n"
        "    aggregate: max\n"
        "    window: tumbling\n"
        "    op: '>'\n"
        "    threshold: 50\n"
        "    severity: critical\n"
    )
    prefix = f"k{int(time.time() * 1000) % 10**8}."
    env = worker_env(stack_services, prefix, rules=str(rules), api_token=TOKEN)
    settings = load_settings(env)
    await ensure_topics(settings, stack_services.bootstrap_servers)
    worker = Worker(env, tmp_path, name="ack")
    await asyncio.to_thread(worker.start)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        from tests.integration.test_pipeline import produce

        metric = {
            "name": "temp",
            "tags": {"host": "box"},
            "fields": {"c": 80},
            "timestamp": time.time(),
        }
        await produce(
            stack_services.bootstrap_servers,
            [(TopicNames.from_settings(settings).metrics, b"box", orjson.dumps(metric))],
        )
        firing: list[Any] = []
        for _ in range(100):
            firing = worker.get("/api/alerts?status=firing")["alerts"]
            if firing:
                break
            await asyncio.sleep(0.2)
        (alert,) = firing
        fp = alert["fingerprint"]
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{worker.url}/api/alerts/{fp}/ack", json={"by": "ann"}) as r:
                assert r.status == 401  # no token
            async with s.post(
                f"{worker.url}/api/alerts/{fp}/ack",
                json={"by": "ann", "comment": "on it"},
                headers=auth,
            ) as r:
                assert r.status == 200, await r.text()
            async with s.post(
                f"{worker.url}/api/alerts/nope/ack", json={"by": "x"}, headers=auth
            ) as r:
                assert r.status == 404
            body = {"matchers": {"host": "box"}, "duration": 600, "created_by": "ann"}
            async with s.post(f"{worker.url}/api/silences", json=body, headers=auth) as r:
                assert r.status == 201
                silence = await r.json()
            async with s.post(
                f"{worker.url}/api/silences", json={"matchers": {}}, headers=auth
            ) as r:
                assert r.status == 400
        (after,) = worker.get("/api/alerts?status=firing")["alerts"]
        assert after["acknowledged"] and after["ack_by"] == "ann"
        assert after["silenced_by"] == [silence["id"]]
        incidents = worker.get("/api/incidents")["incidents"]
        assert incidents[0]["acknowledged_by"] == "ann"
        url = f"{worker.url}/api/silences/{silence['id']}"
        async with aiohttp.ClientSession() as s, s.delete(url, headers=auth) as r:
            assert r.status == 200
        (after,) = worker.get("/api/alerts?status=firing")["alerts"]
        assert after["silenced_by"] == []
        records = await alerts(stack_services, TopicNames.from_settings(settings).alerts)
        assert [r["type"] for r in records] == ["transition", "ack"]
    finally:
        await asyncio.to_thread(worker.stop)
