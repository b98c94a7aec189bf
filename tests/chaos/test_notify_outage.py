"""Notifications through receiver outages: an alert storm while Slack answers 429 with
Retry-After for a minute, then 500 for another minute, and the SMTP server is down for the
first 75 s.

A real worker (its notifier and dispatcher) reads a storm of alert transitions from
``lookout.alerts``: 120 hosts fire one critical rule in 4 zones, 40 more fire 20 s later, half
resolve at 40 s and the rest at 80 s; ``group_by: [rule, zone]`` with a short group_interval
gives every group a firing message, updates and a resolved message, to Slack and (critical) to
email. The notify file keeps the shipped retry policy (``retry:`` left out: 1 s doubling to
5 min, 8 attempts, 1 h). Pass: every outbox row is ``sent``; each was accepted by its receiver
exactly once (the webhook's 2xx answers and the SMTP server's messages, by idempotency key);
within each group the receiver got the messages in outbox order; each group ends resolved.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.stack import LocalStack
from notifications.delivery import RetryPolicy
from sinks.migrations import migrate
from sinks.notify.notifier import DECISIONS
from tests.chaos.rows import PeakRss, Row, recorded
from tests.integration import notify_db as dbs
from tests.integration.notify_servers import Reply, SmtpServer, WebhookServer
from tests.integration.test_sinks_support import wait_for
from tests.integration.workers import Worker, worker_env
from tests.unit.notify.grouping import transition

RULE = "nginx_5xx"
ZONES = 4
RETRY_AFTER = "5"
NOTIFY = """
defaults: {{live_url: "http://127.0.0.1:6066/"}}
receivers:
  - name: ops-slack
    slack: {{webhook_url: "${{CHAOS_SLACK_HOOK}}", rate: 1.0, burst: 3}}
  - name: ops-email
    email: {{host: 127.0.0.1, port: {smtp_port}, security: none,
             from: lookout@example.com, to: [oncall@example.com], timeout: 5s}}
route:
  receiver: ops-slack
  group_by: [rule, zone]
  group_wait: 2s
  group_interval: 10s
  repeat_interval: 1h
  routes:
    - match: {{severity: critical}}
      receiver: ops-email
      continue: true
    - receiver: ops-slack
"""
# (seconds after the start, hosts, new state): the storm and its end
STORM = (
    (0.0, range(0, 120), "firing"),
    (20.0, range(120, 160), "firing"),
    (40.0, range(0, 160, 2), "resolved"),
    (80.0, range(1, 160, 2), "resolved"),
)
SLACK_429_UNTIL, SLACK_500_UNTIL, SMTP_DOWN_UNTIL = 60.0, 120.0, 75.0


async def outbox_rows(dsn: str) -> list[asyncpg.Record]:
    """Every outbox row, oldest first (payload as text, with the last error)."""
    conn = await asyncpg.connect(dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT id, idempotency_key, group_key, receiver, status, attempts, last_error,"
                " payload::text AS payload FROM notifications ORDER BY id"
            )
        )
    finally:
        await conn.close()


def records(hosts: range, state: str) -> list[dict[str, Any]]:
    """Transitions of ``hosts`` to ``state`` (one episode per host)."""
    return [
        transition(
            RULE, f"web-{i:03d}", state, episode=float(i), severity="critical", zone=f"z{i % ZONES}"
        )
        for i in hosts
    ]


async def test_notify_outage(chaos_stack: tuple[LocalStack, Services], tmp_path: Path) -> None:
    _, services = chaos_stack
    await migrate(services.postgres_dsn, progress=lambda line: None)
    dsn = services.postgres_dsn
    smtp = SmtpServer()
    path = tmp_path / "notify.yaml"
    path.write_text(NOTIFY.format(smtp_port=smtp.port))
    env = worker_env(services, "n.", notify_file=str(path))
    webhook = WebhookServer()
    await webhook.start()
    env["CHAOS_SLACK_HOOK"] = webhook.url
    settings = load_settings(env)
    await ensure_topics(settings, services.bootstrap_servers)
    worker = Worker(env, tmp_path, "w-notify")
    row = Row(
        "notifications",
        f"alert storm: {len(records(range(160), 'firing'))} alerts of one rule fire in 4 zones "
        "(2 steps), resolve in 2 steps; group_by [rule, zone], group_interval 10 s; Slack and "
        f"email (critical); shipped retry policy ({RetryPolicy().max_attempts} attempts, 1 h)",
        f"Slack webhook answers 429 Retry-After {RETRY_AFTER} s for {SLACK_429_UNTIL:.0f} s, "
        f"then 500 for {SLACK_500_UNTIL - SLACK_429_UNTIL:.0f} s; SMTP server down for the "
        f"first {SMTP_DOWN_UNTIL:.0f} s",
    )
    with recorded(row):
        await asyncio.to_thread(worker.start)
        producer = AIOKafkaProducer(bootstrap_servers=services.bootstrap_servers)
        await producer.start()
        topic = TopicNames.from_settings(settings).alerts
        try:
            with PeakRss(lambda: [worker.proc.pid if worker.proc else None]) as peak:
                webhook.default = Reply(429, "rate limited", retry_after=RETRY_AFTER)

                def answer(status: int) -> Callable[[], Awaitable[None]]:
                    async def switch() -> None:
                        webhook.default = Reply(status, "ok" if status == 200 else "oops")

                    return switch

                def storm(hosts: range, state: str) -> Callable[[], Awaitable[None]]:
                    async def send() -> None:
                        for rec in records(hosts, state):
                            await producer.send(topic, orjson.dumps(rec), key=rec["host"].encode())
                        await producer.flush()

                    return send

                async def smtp_up() -> None:
                    await asyncio.to_thread(smtp.start)

                timeline = [(at, storm(hosts, state)) for at, hosts, state in STORM]
                timeline += [
                    (SLACK_429_UNTIL, answer(500)),
                    (SMTP_DOWN_UNTIL, smtp_up),
                    (SLACK_500_UNTIL, answer(200)),
                ]
                started = time.monotonic()
                for at, action in sorted(timeline, key=lambda e: e[0]):
                    await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
                    await action()
                healthy = time.monotonic()
                produced = sum(len(hosts) for _, hosts, _ in STORM)

                async def settled() -> bool:
                    applied = worker.metric(DECISIONS, stage="ingest")
                    return applied >= produced and await dbs.notifier_settled(dsn)

                await wait_for(settled, 600, "every transition applied, every group ended")
                drained = time.monotonic() - healthy
                row.peak_mb = peak.peak
        finally:
            await producer.stop()
            await asyncio.to_thread(worker.stop)
            await webhook.stop()
            smtp.stop()

        outbox = await outbox_rows(dsn)
        by_key = {r["idempotency_key"]: r for r in outbox}
        accepted = [q for q in webhook.requests if 200 <= q.status < 300]
        mailed = [m.message["X-Lookout-Idempotency-Key"] for m in smtp.messages]
        got = Counter([q.key for q in accepted] + mailed)
        statuses = Counter(r["status"] for r in outbox)
        answers = Counter(q.status for q in webhook.requests)
        row.sent = len(outbox)
        row.recover_s = drained
        row.lost = sum(1 for k in by_key if got[k] == 0)
        row.duplicated = sum(n - 1 for n in got.values() if n > 1)
        # order within each group: receiver arrival order against outbox order
        arrival = [q.key for q in accepted] + mailed
        out_of_order = []
        for group in {r["group_key"] for r in outbox}:
            ids = [r["id"] for r in outbox if r["group_key"] == group]
            seen = [by_key[k]["id"] for k in arrival if k in by_key]
            first_seen = [i for i in dict.fromkeys(seen) if i in ids]
            if first_seen != ids[: len(first_seen)]:
                out_of_order.append(group)
        last_kind = {
            g: orjson.loads([r for r in outbox if r["group_key"] == g][-1]["payload"])["kind"]
            for g in {r["group_key"] for r in outbox}
        }
        attempts = sorted(r["attempts"] for r in outbox)
        row.user_saw = (
            f"{len(outbox)} messages in {len(last_kind)} groups "
            f"({dict(Counter(orjson.loads(r['payload'])['kind'] for r in outbox))}); outbox "
            f"{dict(statuses)}; webhook answered {dict(answers)}; SMTP accepted "
            f"{len(smtp.messages)}; attempts per message up to {attempts[-1] if attempts else 0}; "
            f"all delivered {drained:.0f} s after the last fault ended"
        )
        failed = [(r["group_key"], r["last_error"]) for r in outbox if r["status"] != "sent"]
        row.check(not failed, f"{len(failed)} not sent, e.g. {failed[:1]}")
        row.check(row.lost == 0, f"{row.lost} messages never accepted by their receiver")
        row.check(row.duplicated == 0, f"{row.duplicated} messages accepted twice")
        row.check(not out_of_order, f"out of order in {len(out_of_order)} groups")
        row.check(set(last_kind.values()) == {"resolved"}, f"groups ending otherwise: {last_kind}")
        row.check(answers[429] > 0 and answers[500] > 0, "the webhook faults were not met")
        row.check(len(last_kind) == 2 * ZONES, f"{len(last_kind)} groups, expected {2 * ZONES}")
    assert row.passed, row
