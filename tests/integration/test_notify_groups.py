"""The notifier on the real broker and Postgres: lookout.alerts -> grouped outbox rows.

The notifier runs in-process with a hand-moved wall clock (group_wait, group_interval and
repeat_interval pass in an instant) and without the dispatcher, so the outbox holds exactly what
the grouping side wrote. Each test gets its own database and topics.

- grouping, silences (from lookout.silences), inhibition and acks give the expected pending and
  suppressed rows; a notifier cancelled after writing but before committing any offset, then
  restarted, replays the whole topic and creates no row twice;
- a storm of 200 alerts (200 hosts, one rule) within a minute makes a handful of messages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from agents.notifier import Notifier
from alerting.labels import Matcher, MatchOp, fingerprint
from alerting.silences import Silence
from app.settings import Settings, load_settings
from app.topics import TopicNames, ensure_topics
from notifications.config import NotifyConfig, parse_notify_config
from sinks.notify.notifier import DECISIONS
from sinks.offsets import GroupOffsets
from tests.integration import notify_db as dbs
from tests.unit.notify.grouping import T0, labels_of, transition

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

notify_db = dbs.notify_db  # a fresh, migrated database per test

H = 3600.0
FIRST = "first notification of the group"
CONFIG = """
receivers:
  - name: ops-slack
    slack: {webhook_url: "${HOOK}"}
route:
  receiver: ops-slack
  group_by: [rule]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
inhibit_rules:
  - source_match: {rule: host_down}
    equal: [host]
"""


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def settings(bootstrap_servers: str, topic_prefix: str) -> Settings:
    s = load_settings(
        {
            "LOOKOUT_TOPIC_PREFIX": topic_prefix,
            "LOOKOUT_APP_ID": f"nt-{topic_prefix.strip('.')}",
            "LOOKOUT_PARTITIONS": "2",
            "LOOKOUT_SESSION_TIMEOUT": "6",
            "LOOKOUT_SINK_LINGER": "0.1",
        }
    )
    await ensure_topics(s, bootstrap_servers)
    return s


def config(text: str = CONFIG) -> NotifyConfig:
    return parse_notify_config(text, "test.yaml", {"HOOK": "http://127.0.0.1:9/hook"})


def ack_record(rule: str, host: str) -> dict[str, Any]:
    fp = fingerprint(labels_of(rule, host))
    return {
        "type": "ack",
        "id": f"{fp}:ack:1",
        "fingerprint": fp,
        "rule": rule,
        "labels": labels_of(rule, host),
        "host": host,
        "by": "ann",
        "comment": "on it",
        "at": T0 + 60,
        "incident_id": f"{fp}:{round(T0 * 1000)}",
    }


async def produce(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for rec in records:
            key = str(rec.get("host") or rec.get("labels", {}).get("host", "")).encode()
            await producer.send(topic, orjson.dumps(rec), key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def outbox(dsn: str) -> list[asyncpg.Record]:
    return await dbs.outbox_rows(dsn)


def ingested(n: Notifier, decision: str = "new") -> float:
    return n.stats.get(DECISIONS, stage="ingest", decision=decision, reason="")


async def flush_to(n: Notifier, dsn: str, count: int) -> list[asyncpg.Record]:
    """Wake the flusher until the outbox holds ``count`` rows; return them."""
    rows: list[asyncpg.Record] = []

    async def enough() -> bool:
        nonlocal rows
        n.flusher.wake()
        rows = await outbox(dsn)
        return len(rows) >= count

    await until(enough, f"{count} outbox rows")
    await passes(n, 2)  # nothing more comes
    return await outbox(dsn)


async def passes(n: Notifier, more: int) -> None:
    """Wait for ``more`` flush passes: the last began after this call, so with the clock held
    still every group due now has been flushed and nothing more is written."""
    want = n.flusher.passes + more

    async def done() -> bool:
        n.flusher.wake()
        return n.flusher.passes >= want

    await until(done, f"{more} flush passes")


def summary(rows: list[asyncpg.Record]) -> list[tuple[str, str, str, str]]:
    return [
        (r["group_key"], r["status"], orjson.loads(r["payload"])["kind"], r["reason"]) for r in rows
    ]


async def test_groups_mutes_acks_and_no_duplicate_after_a_restart_before_commit(
    bootstrap_servers: str, settings: Settings, notify_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = TopicNames.from_settings(settings)
    now = time.time()
    quiet = Silence("s-1", (Matcher("host", MatchOp.EQ, "h9"),), now - 60, now + 86400)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topics.silences, orjson.dumps(quiet.to_state()), key=b"s-1")
    finally:
        await producer.stop()

    # first notifier: it writes to Postgres, but never commits an offset (a crash before commit)
    async def no_commit(self: GroupOffsets, offsets: Any) -> bool:
        return True

    monkeypatch.setattr(GroupOffsets, "commit", no_commit)
    clock = Clock()
    first = Notifier(
        settings,
        config(),
        bootstrap_servers=bootstrap_servers,
        dsn=notify_db,
        clock=clock,
        dispatch=False,
    )
    await first.start()
    try:
        firing = [transition("cpu", h, "firing") for h in ("h1", "h2", "h3")]
        firing += [
            transition("disk", "h9", "firing"),  # silenced by s-1
            transition("host_down", "h5", "firing", severity="critical"),
            transition("mem", "h5", "firing"),  # inhibited by host_down on h5
        ]
        await produce(bootstrap_servers, topics.alerts, firing)
        await until(lambda: _at_least(ingested(first), 6), "6 alerts ingested")
        clock.advance(31)
        rows = await flush_to(first, notify_db, 4)
        assert sorted(summary(rows)) == [
            ("ops-slack|rule=cpu", "pending", "firing", f"{FIRST} (3 firing)"),
            ("ops-slack|rule=disk", "suppressed", "firing", "silenced by s-1"),
            ("ops-slack|rule=host_down", "pending", "firing", f"{FIRST} (1 firing)"),
            ("ops-slack|rule=mem", "suppressed", "firing", "inhibited by host_down{host=h5}"),
        ]  # fmt: skip
        assert all(r["next_attempt_at"] is not None for r in rows if r["status"] == "pending")
        assert all(r["next_attempt_at"] is None for r in rows if r["status"] == "suppressed")
        cpu = next(r for r in rows if r["group_key"] == "ops-slack|rule=cpu")
        payload = orjson.loads(cpu["payload"])
        assert sorted(a["labels"]["host"] for a in payload["alerts"]) == ["h1", "h2", "h3"]
        assert payload["group_labels"] == {"rule": "cpu"} and payload["status"] == "firing"

        # acks: the cpu group's repeat is held back, host_down repeats
        await produce(
            bootstrap_servers, topics.alerts, [ack_record("cpu", h) for h in ("h1", "h2", "h3")]
        )
        await until(lambda: _at_least(ingested(first, "acked"), 3), "3 acks")
        clock.advance(4 * H)
        rows = await flush_to(first, notify_db, 6)
        assert sorted(summary(rows[4:])) == [
            ("ops-slack|rule=cpu", "suppressed", "repeat", "acknowledged"),
            ("ops-slack|rule=host_down", "pending", "repeat", "repeat_interval 4h elapsed"),
        ]

        # resolved: sent although acknowledged
        resolved = [transition("cpu", h, "resolved", at=600) for h in ("h1", "h2", "h3")]
        await produce(bootstrap_servers, topics.alerts, resolved)
        await until(lambda: _at_least(ingested(first, "changed"), 3), "3 resolutions")
        clock.advance(301)
        rows = await flush_to(first, notify_db, 7)
        assert summary(rows[6:]) == [("ops-slack|rule=cpu", "pending", "resolved", "all resolved")]
        done = orjson.loads(rows[6]["payload"])
        assert [a["acknowledged"] for a in done["alerts"]] == [True, True, True]
        before = [(r["id"], r["idempotency_key"]) for r in rows]
    finally:
        assert first.runner is not None and first.runner._task is not None
        first.runner._task.cancel()  # killed: whatever was not committed is read again
        await first.stop()
    monkeypatch.undo()

    # second notifier, same consumer group: reads everything again (nothing was committed)
    clock.advance(10 * 60)
    second = Notifier(
        settings,
        config(),
        bootstrap_servers=bootstrap_servers,
        dsn=notify_db,
        clock=clock,
        dispatch=False,
    )
    await second.start()
    try:
        total = len(firing) + 3 + len(resolved)
        await until(
            lambda: _at_least(ingested(second, "stale") + ingested(second, "ack_stale"), total),
            "the replay",
        )
        await passes(second, 2)  # the flusher looked at every replayed group
        after = [(r["id"], r["idempotency_key"]) for r in await outbox(notify_db)]
        assert after == before, "the replay created rows"
        assert ingested(second, "new") == ingested(second, "changed") == 0
    finally:
        await second.stop()


async def _at_least(value: float, want: float) -> bool:
    return value >= want


async def test_a_storm_of_200_alerts_makes_a_handful_of_messages(
    bootstrap_servers: str, settings: Settings, notify_db: str
) -> None:
    clock = Clock()
    notifier = Notifier(
        settings,
        config(),
        bootstrap_servers=bootstrap_servers,
        dsn=notify_db,
        clock=clock,
        dispatch=False,
    )
    topic = TopicNames.from_settings(settings).alerts
    await notifier.start()
    try:
        # 200 hosts, one rule, within a minute: bursts of 50 at 0, 10, 20 and 45 s
        async def burst(n: int, at: float) -> None:
            clock.now = start + at
            hosts = [f"web-{i:03d}" for i in range(n * 50, n * 50 + 50)]
            records = [transition("nginx_5xx", h, "firing", episode=at) for h in hosts]
            await produce(bootstrap_servers, topic, records)
            want = (n + 1) * 50
            await until(lambda: _at_least(ingested(notifier), want), f"{want} alerts")

        start = clock.now
        for n, at in enumerate((0, 10, 20)):
            await burst(n, at)
        clock.now = start + 31  # group_wait is over
        rows = await flush_to(notifier, notify_db, 1)
        await burst(3, 45)
        clock.now = start + 31 + 300  # group_interval after the first message
        rows = await flush_to(notifier, notify_db, 2)
        clock.now = start + 3600  # an hour later nothing more was sent
        await flush_to(notifier, notify_db, 2)
        got = summary(await outbox(notify_db))
        assert [(g, s, k) for g, s, k, _ in got] == [
            ("ops-slack|rule=nginx_5xx", "pending", "firing"),
            ("ops-slack|rule=nginx_5xx", "pending", "update"),
        ], got
        first, update = (orjson.loads(r["payload"]) for r in rows)
        assert len(first["alerts"]) == 20  # the oldest first: all of the first burst
        assert all(int(a["labels"]["host"][4:]) < 50 for a in first["alerts"])
        assert len(first["alerts"]) + first["truncated"] == 150  # what had come by group_wait
        assert len(update["alerts"]) + update["truncated"] == 200
        assert got[1][3] == "50 new firing"
    finally:
        await notifier.stop()
