"""Catch-up end to end: a backlog with an incident inside, processed at full speed.

The Alerting issue's error spike (simulator, default rules) is produced to the input topics
*before* the worker starts, so the worker processes each 5xx episode (pending, firing, resolved)
within a second of wall time, inside one ``group_wait``. With ``catch_up: notify`` (the
default) each shop host's episode gives exactly one ``resolved_episode`` Slack post and one
email ("fired .., resolved .., lasted .."); with ``catch_up: skip`` (a historical backfill)
none, and one ``suppressed`` outbox row per group with the reason. "Nothing more comes" is the
notifier's own state: every transition the pipeline emitted is applied, no 5xx group is left
and no outbox row is pending.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.simulator.generator import TrafficGenerator
from devtools.simulator.options import SimOptions
from devtools.simulator.scenarios import parse_timeline
from notifications.payload import format_duration, format_time
from sinks.notify.notifier import DECISIONS
from tests.integration import notify_db as dbs
from tests.integration import notify_servers
from tests.integration.notify_servers import SmtpServer, WebhookServer
from tests.integration.test_alerting import (
    DEFAULT_RULES,
    SPIKE_AT,
    SPIKE_FOR,
    START,
    fivexx,
    produce_records,
)
from tests.integration.test_notify_e2e import EMITTED, FIVE_XX, kinds, notify_file, until
from tests.integration.workers import Worker, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

webhook = notify_servers.webhook
smtp_server = notify_servers.smtp_server
notify_db = dbs.notify_db


async def read_alerts(services: Services, topic: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` records of ``topic`` (the pipeline says how many it wrote)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=services.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while len(out) < count:
            assert time.monotonic() < deadline, f"{len(out)} of {count} alert records"
            batch = await consumer.getmany(timeout_ms=300)
            out.extend(orjson.loads(m.value) for msgs in batch.values() for m in msgs)
    finally:
        await consumer.stop()
    return out


@pytest.mark.parametrize("catch_up", ["notify", "skip"])
async def test_a_replayed_backlog_with_an_incident_inside_is_notified_once_unless_skipped(
    stack_services: Services,
    notify_db: str,
    webhook: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
    catch_up: str,
) -> None:
    path = notify_file(
        tmp_path,
        smtp_server,
        catch_up=catch_up,
        rate=5,
        burst=5,
        group_by="[rule, host]",
        group_wait="1s",
        group_interval="2s",
    )
    prefix = f"nc{int(time.time() * 1000) % 10**8}."
    env = worker_env(
        stack_services,
        prefix,
        rules=str(DEFAULT_RULES),
        notify_file=str(path),
        postgres_dsn=notify_db,
    )
    env["E2E_SLACK_HOOK"] = webhook.url
    settings = load_settings(env)
    await ensure_topics(settings, stack_services.bootstrap_servers)
    timeline = parse_timeline(f"error_spike@{SPIKE_AT}s+{SPIKE_FOR}s:svc=shop", hosts=3)
    opts = SimOptions(hosts=3, services=2, seed=7, duration=900.0, timeline=timeline)
    traffic = TrafficGenerator(opts, START)
    records = list(traffic.records(START + 900))
    entries = traffic.tally.metrics + traffic.tally.logs  # what records_in counts
    # the backlog is there before the worker: it is processed at full speed
    await produce_records(stack_services, settings, records)
    worker = Worker(env, tmp_path, name=f"notify-catchup-{catch_up}")
    await asyncio.to_thread(worker.start)
    try:

        async def processed() -> bool:
            # counted after the batch's flush: its transitions are on lookout.alerts by then
            return worker.get("/api/health")["records_in"] >= entries

        await until(processed, f"the {entries} metrics and log entries to be processed")
        topic = TopicNames.from_settings(settings).alerts
        spike = fivexx(await read_alerts(stack_services, topic, int(worker.metric(EMITTED))))
        fired = {r["fingerprint"] for r in spike if r["to_state"] == "firing"}
        assert fired, "the spike fired no 5xx alert"
        assert fired == {r["fingerprint"] for r in spike if r["to_state"] == "resolved"}

        async def settled() -> bool:
            applied = worker.metric(DECISIONS, stage="ingest")
            return applied >= worker.metric(EMITTED) and await dbs.notifier_settled(
                notify_db, f"%|rule={FIVE_XX},%"
            )

        await until(settled, "the notifier to apply every transition and settle every group")

        resolved = {r["labels"]["host"]: r for r in spike if r["to_state"] == "resolved"}
        hosts = sorted(resolved)
        assert all(resolved[h]["event_time"] - resolved[h]["fired_at"] >= 60 for h in hosts)
        rows = [r for r in await dbs.outbox_rows(notify_db) if f"rule={FIVE_XX}," in r["group_key"]]
        groups = {
            (receiver, f"{receiver}|rule={FIVE_XX},host={h}"): ["resolved_episode"]
            for receiver in ("ops-slack", "ops-email")
            for h in hosts
        }
        assert kinds(rows) == groups
        keys = {r["idempotency_key"]: r for r in rows}
        posted = [q for q in webhook.requests if q.key in keys]
        mailed = [m for m in smtp_server.messages if m.message["X-Lookout-Idempotency-Key"] in keys]

        if catch_up == "skip":
            assert {(r["status"], r["reason"]) for r in rows} == {
                ("suppressed", "catch_up is skip: 1 episode fired and resolved unseen")
            }
            assert posted == [] and mailed == []
            return

        assert {(r["status"], r["reason"]) for r in rows} == {
            ("sent", "1 episode fired and resolved within group_wait")
        }
        assert len(posted) == len(hosts) and len(mailed) == len(hosts)
        now = time.time()  # the event times are in 2026: the messages show the date
        for host in hosts:
            record = resolved[host]
            fired, ended = record["fired_at"], record["event_time"]
            span = (
                f"fired {format_time(fired, now)}", f"resolved {format_time(ended, now)}",
                f"lasted {format_duration(ended - fired)}",
            )  # fmt: skip
            [post] = [q for q in posted if keys[q.key]["group_key"].endswith(f"host={host}")]
            header = post.json["attachments"][0]["blocks"][0]["text"]["text"]
            assert header.startswith(f"⚠️ FIRED AND RESOLVED {FIVE_XX} — {host}: fired "), header
            assert all(part in header for part in span) and header.endswith(span[2]), (header, span)
            [mail] = [
                m.message
                for m in mailed
                if keys[m.message["X-Lookout-Idempotency-Key"]]["group_key"].endswith(
                    f"host={host}"
                )
            ]
            subject = str(mail["Subject"])
            assert subject.startswith(f"[FIRED AND RESOLVED] {FIVE_XX} on {host} — fired "), subject
            assert all(part in subject for part in span) and subject.endswith(span[2]), subject
            assert mail["X-Lookout-Status"] == "resolved"
        # each message went out once
        assert len({q.key for q in posted}) == len(posted)
        assert len({m.message["Message-ID"] for m in mailed}) == len(mailed)
    finally:
        await asyncio.to_thread(worker.stop)
