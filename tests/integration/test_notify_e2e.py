"""Notifications end to end: a real worker, its notifier and dispatcher, a webhook and SMTP server.

- The Alerting issue's error spike (simulator, default rules, fast replay as in
  test_alerting.py): the 5xx alert of each shop host gives exactly one firing and one resolved
  Slack post and email per group (``group_by: [rule, host]``), each sent once, and
  ``GET /api/notifications`` lists them.
- A storm of 200 alerts (200 hosts, one rule, 8 zones; ``group_by: [rule, zone]``) gives 8
  grouped Slack posts, no faster than the receiver's rate limit.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.services import Services
from app.settings import load_settings
from app.topics import TopicNames, ensure_topics
from devtools.simulator.generator import generate
from devtools.simulator.options import SimOptions
from devtools.simulator.scenarios import parse_timeline
from sinks.notify.notifier import DECISIONS
from tests.integration import notify_db as dbs
from tests.integration import notify_servers
from tests.integration.notify_servers import SmtpServer, WebhookServer
from tests.integration.test_alerting import (
    DEFAULT_RULES,
    SPIKE_AT,
    SPIKE_FOR,
    START,
    alerts,
    fivexx,
    produce_records,
    wait_quiet,
)
from tests.integration.workers import Worker, worker_env
from tests.unit.notify.grouping import transition

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

webhook = notify_servers.webhook
smtp_server = notify_servers.smtp_server
notify_db = dbs.notify_db

FIVE_XX = "nginx_5xx_error_rate"
EMITTED = "lookout_alert_records_total"  # records the pipeline wrote to lookout.alerts
NOTIFY = """
defaults: {{live_url: "http://127.0.0.1:6066/"}}
receivers:
  - name: ops-slack
    slack: {{webhook_url: "${{E2E_SLACK_HOOK}}", rate: {rate}, burst: {burst}}}
  - name: ops-email
    email: {{host: 127.0.0.1, port: {smtp_port}, security: none,
             from: lookout@example.com, to: [oncall@example.com]}}
route:
  receiver: ops-slack
  group_by: {group_by}
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: 1h
  catch_up: {catch_up}
  routes:
    - match: {{severity: critical}}
      receiver: ops-email
      continue: true
    - receiver: ops-slack
"""


def notify_file(tmp: Path, smtp: SmtpServer, catch_up: str = "notify", **values: Any) -> Path:
    path = tmp / "notify.yaml"
    path.write_text(NOTIFY.format(smtp_port=smtp.port, catch_up=catch_up, **values))
    return path


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def kinds(rows: list[Any]) -> dict[tuple[str, str], list[str]]:
    """Message kinds per (receiver, group), in outbox order."""
    out: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        out.setdefault((r["receiver"], r["group_key"]), []).append(
            orjson.loads(r["payload"])["kind"]
        )
    return out


async def test_error_spike_sends_one_firing_and_one_resolved_message_per_group(
    stack_services: Services,
    notify_db: str,
    webhook: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    path = notify_file(
        tmp_path,
        smtp_server,
        rate=5,
        burst=5,
        group_by="[rule, host]",
        group_wait="1s",
        group_interval="2s",
    )
    prefix = f"ne{int(time.time() * 1000) % 10**8}."
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
    records = list(generate(opts, START, START + 900))
    end = START + SPIKE_AT + SPIKE_FOR
    during = [r for r in records if r.time < end]
    after = [r for r in records if r.time >= end]
    worker = Worker(env, tmp_path, name="notify-e2e")
    await asyncio.to_thread(worker.start)
    try:
        # the spike: each shop host's 5xx alert fires -> one Slack post and one email per host
        await produce_records(stack_services, settings, during)

        async def sent(kind: str, count: int) -> bool:
            rows = await dbs.outbox_rows(
                notify_db, "status = 'sent' AND group_key LIKE $1", f"%rule={FIVE_XX},%"
            )
            return sum(orjson.loads(r["payload"])["kind"] == kind for r in rows) >= count

        await wait_quiet(worker)
        topic = TopicNames.from_settings(settings).alerts
        spike_records = fivexx(await alerts(stack_services, topic))
        fired = {r["labels"]["host"] for r in spike_records if r["to_state"] == "firing"}
        assert fired, "the spike fired no 5xx alert"
        n = len(fired)
        await until(lambda: sent("firing", 2 * n), f"{n} firing Slack posts and {n} emails")
        # the spike is over: each resolves -> one more post and email per host
        await produce_records(stack_services, settings, after)
        await until(lambda: sent("resolved", 2 * n), f"{n} resolved Slack posts and {n} emails")

        async def settled() -> bool:
            # nothing else may come: every transition the pipeline wrote is applied, every 5xx
            # group has ended (no state left to write a message from), nothing is pending
            applied = worker.metric(DECISIONS, stage="ingest")
            return applied >= worker.metric(EMITTED) and await dbs.notifier_settled(
                notify_db, f"%|rule={FIVE_XX},%"
            )

        await until(settled, "the notifier to apply every transition and end every 5xx group")

        rows = await dbs.outbox_rows(notify_db)
        spike = {k: v for k, v in kinds(rows).items() if f"rule={FIVE_XX}," in k[1]}
        hosts = sorted(fired)
        assert spike == {
            (receiver, f"{receiver}|rule={FIVE_XX},host={h}"): ["firing", "resolved"]
            for receiver in ("ops-slack", "ops-email")
            for h in hosts
        }, spike
        assert all(r["status"] == "sent" for r in rows if f"rule={FIVE_XX}," in r["group_key"])
        # no group of any rule got the same kind of message twice
        for group, seen in kinds(rows).items():
            assert max(Counter(seen).values()) == 1, (group, seen)
        # every post and every email went out once, and each is an outbox row
        keys = {r["idempotency_key"]: r for r in rows}
        posted = webhook.keys()
        assert len(posted) == len(set(posted)) and set(posted) <= set(keys)
        mailed = [m.message["X-Lookout-Idempotency-Key"] for m in smtp_server.messages]
        assert len(mailed) == len(set(mailed)) and set(mailed) <= set(keys)
        assert {keys[k]["receiver"] for k in posted} == {"ops-slack"}
        assert {keys[k]["receiver"] for k in mailed} == {"ops-email"}
        assert len([k for k in mailed if f"rule={FIVE_XX}," in keys[k]["group_key"]]) == 2 * n
        firing = next(
            orjson.loads(keys[k]["payload"]) for k in mailed if FIVE_XX in keys[k]["group_key"]
        )
        assert firing["alerts"][0]["labels"]["service"] == "shop"

        # the API reads the same outbox
        listed = worker.get("/api/notifications?receiver=ops-email&status=sent&limit=100")
        listed_keys = {n["idempotency_key"] for n in listed["notifications"]}
        assert set(mailed) == listed_keys
        assert {n["kind"] for n in listed["notifications"]} >= {"firing", "resolved"}
    finally:
        await asyncio.to_thread(worker.stop)


async def test_a_storm_is_grouped_and_posted_no_faster_than_the_rate_limit(
    stack_services: Services,
    notify_db: str,
    webhook: WebhookServer,
    smtp_server: SmtpServer,
    tmp_path: Path,
) -> None:
    rate, burst = 2.0, 2
    path = notify_file(
        tmp_path,
        smtp_server,
        rate=rate,
        burst=burst,
        group_by="[rule, zone]",
        group_wait="2s",
        group_interval="1m",
    )
    prefix = f"ns{int(time.time() * 1000) % 10**8}."
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
    worker = Worker(env, tmp_path, name="notify-storm")
    await asyncio.to_thread(worker.start)
    try:
        # 200 hosts, one rule, within a second: 8 zones of 25 hosts
        records = [
            transition("nginx_5xx", f"web-{i:03d}", "firing", episode=i * 0.2, zone=f"z{i % 8}")
            for i in range(200)
        ]
        producer = AIOKafkaProducer(bootstrap_servers=stack_services.bootstrap_servers)
        await producer.start()
        try:
            topic = TopicNames.from_settings(settings).alerts
            for rec in records:
                await producer.send(topic, orjson.dumps(rec), key=rec["host"].encode())
            await producer.flush()
        finally:
            await producer.stop()
        await webhook.wait_for(8, timeout=60)

        async def settled() -> bool:
            # nothing more comes: all 200 applied, every group has sent its first message (the
            # next one could come group_interval = 1m later at the earliest), nothing pending
            applied = worker.metric(DECISIONS, stage="ingest", decision="new")
            return applied >= len(records) and await dbs.groups_flushed(notify_db)

        await until(settled, "the notifier to apply all 200 alerts and flush every group")
        assert len(webhook.requests) == 8
        rows = await dbs.outbox_rows(notify_db)
        assert len(rows) == 8 and {r["status"] for r in rows} == {"sent"}
        for r in rows:
            payload = orjson.loads(r["payload"])
            assert payload["kind"] == "firing"
            assert len(payload["alerts"]) + payload["truncated"] == 25
        assert sorted(r["group_key"] for r in rows) == [
            f"ops-slack|rule=nginx_5xx,zone=z{z}" for z in range(8)
        ]
        # token bucket: `burst` at once, then one every 1/rate seconds
        times = sorted(req.at for req in webhook.requests)
        for k in range(burst, len(times)):
            assert times[k] - times[0] >= (k - burst + 1) / rate - 0.1, (k, times)
        assert len(webhook.keys()) == len(set(webhook.keys()))
    finally:
        await asyncio.to_thread(worker.stop)


def test_a_bad_notify_file_stops_the_worker_naming_the_setting_and_the_fix(
    stack_services: Services, tmp_path: Path
) -> None:
    import subprocess
    import sys

    bad = tmp_path / "notify.yaml"
    bad.write_text(
        "receivers:\n  - name: ops-slack\n    slack: {webhook_url: '${E2E_SLACK_HOOK}'}\n"
        "route: {receiver: ops-slak}\n"
    )
    prefix = f"nb{int(time.time() * 1000) % 10**8}."
    env = {**os.environ, **worker_env(stack_services, prefix, notify_file=str(bad))}
    env["E2E_SLACK_HOOK"] = "http://127.0.0.1:9/hook"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(
        f"lookout: LOOKOUT_NOTIFY_FILE={bad}: route.receiver: unknown receiver 'ops-slak'"
    ), done.stderr
    assert "did you mean 'ops-slack'?" in done.stderr and "LOOKOUT_NOTIFY=off" in done.stderr
