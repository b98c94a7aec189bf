"""The window state store: the pure engine made durable in a Faust table.

The :class:`~tables.engine.WindowEngine` holds live objects; the Faust table ``windows`` is its
changelog-backed mirror (keys ``h|host`` and ``p|host|pane``, values orjson state). Writes go
straight to the table's store and changelog with an explicit partition, the partition of the
host's source records, so recovery hands a host's state to the worker that consumes that host
(Faust's own ``table[k] = v`` needs a current event and would write one message per update).

A batch is made durable in order: panes, final window records (awaited), host states,
tombstones, and last a one-record *sentinel* per touched changelog partition, sent after the rest
is acknowledged. Faust commits a batch's offsets only after the batch is processed and the producer
flushed, so a crash replays at most the last batches, which the engine skips by offset.

Why the sentinel: Faust recovers a changelog partition up to the broker's end offset. Tansu (the
embedded broker) reports the base offset of the last record *batch* + 1, so without the sentinel
a recovering worker silently missed the last batch of state writes (seen as lost records after a
rebalance). A sentinel alone in the last batch makes the reported end exact. Real Kafka reports
exact end offsets; there the sentinel costs one small record per partition per batch.

The sentinel also carries, per input topic of its partition, the last record admitted in offset
order (``tables/ordering.py``): a restarted worker resumes from there when Faust's committed
offset is past it (Faust marks records it dropped as done).

The table class, its codec and the sentinel records are ``tables/changelog.py``; the last closed
windows kept for the HTTP API, ``tables/recent.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
import orjson

from alerting.evaluator import Alerting, alert_key
from alerting.state import AlertState
from app.stats import Stats
from app.tenancy import TenantMap
from app.topics import TopicNames
from patterns.assignments import AssignmentLog
from patterns.book import PatternBook
from patterns.miner import CLUSTER_PREFIX, SERVICE_PREFIX
from tables.changelog import StateTable, sentinel, sentinel_prefixes
from tables.engine import Changes, HostState, WindowEngine, host_key, pane_key
from tables.ordering import OrderGuard, TPKey
from tables.output import FaustOutput, Output
from tables.panes import Pane
from tables.recent import RecentWindows
from tables.records import Late, final_bodies, window_records

log = logging.getLogger(__name__)
PATTERN_KEYS = (CLUSTER_PREFIX, SERVICE_PREFIX)  # pattern miner entries in the table


class WindowStore:
    """Engine + table + output topics; the one place that makes window state durable."""

    def __init__(
        self,
        app: faust.App,
        engine: WindowEngine,
        topics: TopicNames,
        stats: Stats,
        *,
        partitions: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.engine = engine
        self.stats = stats
        self.clock = clock
        self.partitions = partitions
        self.lock = asyncio.Lock()
        # Input records are applied in offset order per partition, holes re-read (ordering.py).
        self.order = OrderGuard()
        self.last_batch_at = clock()  # when the ingest agent last got a batch
        self.idle_check = 2.0  # seconds without a batch before the tail-hole check
        self.tenants: TenantMap | None = None  # host -> tenant of the final records
        table = StateTable(
            app,
            name="windows",
            beacon=app.tables.beacon,
            partitions=partitions,
            key_type=bytes,
            value_type=bytes,
            help="Lookout window panes and host clocks",
        )
        # Keys are raw bytes (so Faust's router hashes a host like the producers do); values
        # are orjson state, decoded on recovery by the registered codec.
        table.key_serializer = "raw"
        table.value_serializer = "lookout-state"
        self.table: StateTable = app.tables.add(table)  # type: ignore[assignment]
        self.table.on_recovered = self._recovered
        self._rebuild_pending = False
        self.recoveries = 0  # completed recoveries: the input fetcher re-assigns after each
        self.windows_topic = app.topic(
            topics.windows, key_serializer="raw", value_serializer="raw", partitions=partitions
        )
        self.deadletter_topic = app.topic(
            topics.deadletter, key_serializer="raw", value_serializer="raw", partitions=partitions
        )
        self.rekey_topic = app.topic(
            topics.rekey, key_serializer="raw", value_serializer="raw", partitions=partitions
        )
        self.alerts_topic = app.topic(
            topics.alerts, key_serializer="raw", value_serializer="raw", partitions=partitions
        )
        self.patterns_topic = app.topic(
            topics.patterns, key_serializer="raw", value_serializer="raw", partitions=partitions
        )
        self.out: Output = FaustOutput(
            app,
            self.table,
            self.windows_topic,
            self.deadletter_topic,
            self.rekey_topic,
            self.alerts_topic,
            self.patterns_topic,
        )
        self.alerting: Alerting | None = None
        # Log message patterns per partition (patterns/book.py); the pipeline mines into it.
        self.patterns = PatternBook()
        # The pattern id of every line mined in the batch, published to lookout.patterns.
        self.assigned = AssignmentLog()
        self.input_topics = set(topics.inputs())
        self._seq = 0
        self.recent = RecentWindows()

    # ---- recovery ----------------------------------------------------------------------------
    def _recovered(self) -> None:
        # Called by Faust after recovery; the rebuild itself runs under the store lock, before
        # the next batch or timer tick touches the engine.
        self._rebuild_pending = True
        self.recoveries += 1

    def rebuild_if_needed(self) -> None:
        """Rebuild the engine from the table if a recovery completed since the last call."""
        if self._rebuild_pending:
            self._rebuild_pending = False
            self.rebuild()

    def rebuild(self) -> None:
        """Rebuild the engine from the table after recovery: active partitions only.

        The table's store also holds *standby* copies of other workers' partitions (Faust reads
        their changelogs in the background, possibly only part of them: Faust's memory store
        drops standby keys whenever a recovery completes). Those must never become engine state
        or "live" objects: when such a partition is later promoted to active, Faust re-reads its
        whole changelog, and a stale standby copy stored as a live object would win over it and
        lose the state written since (seen as lost final windows after a kill -9 while the dead
        member was still in the group, and after a worker left a two-worker group).
        """
        now = self.clock()
        store = self.table.data
        key_partition: dict[Any, int] = getattr(store, "_key_partition", None) or {}
        active = self._active_or_none()
        items = [
            (k, v)
            for k, v in list(store.items())
            if active is None or key_partition.get(k, -1) in active
        ]
        self.engine.hosts.clear()
        alerts: list[tuple[str, Any]] = []
        if self.alerting is not None:
            self.alerting.clear()
        # Live objects (str keys) belong to active partitions this worker kept through the
        # rebalance and are at least as new as anything in the changelog; Faust may re-apply
        # changelog records of those partitions under bytes keys, possibly short of the true end
        # (Tansu understates end offsets), so a changelog copy never overrides a live object.
        live = {
            k
            for k, v in items
            if isinstance(k, str) and (not isinstance(v, dict) or k.startswith(PATTERN_KEYS))
        }
        mined: list[tuple[str, Any, int]] = []
        prefixes: dict[TPKey, int] = {}
        for raw_key, value in items:
            key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            if value is None or (isinstance(raw_key, bytes) and key in live):
                continue
            if key.startswith("s|"):
                prefixes.update(sentinel_prefixes(key, value))
                continue
            if key.startswith("a|"):
                alerts.append((key, value))
                continue
            if key.startswith(PATTERN_KEYS):
                mined.append((key, value, key_partition.get(raw_key, -1)))
                continue
            state = value.to_state() if isinstance(value, (Pane, HostState)) else value
            self.engine.restore(key, state, now, key_partition.get(raw_key, -1))
        # Store live objects under str keys from now on.
        for raw_key, _ in items:
            del store[raw_key]
            key_partition.pop(raw_key, None)
        self.patterns.miners.clear()
        for key, state, partition in mined:
            self.patterns.restore(partition, key, state)
            self._put(key, state, partition)
        for host, hs in self.engine.hosts.items():
            self._put(host_key(host), hs, hs.partition)
            for start, pane in hs.panes.items():
                self._put(pane_key(host, start), pane, hs.partition)
        for key, value in alerts:
            _, host, fp = key.split("|", 2)
            owner = self.engine.hosts.get(host)
            if self.alerting is None or owner is None:
                continue
            state = value.to_state() if isinstance(value, AlertState) else value
            self.alerting.restore(host, fp, state)
            self._put(key, self.alerting.states[fp], owner.partition)
        self.recent.keep_only(set(self.engine.hosts))
        self.order.reset(prefixes, range(self.partitions) if active is None else active)
        if log.isEnabledFor(logging.DEBUG):  # `lookout worker -l debug`: recovery detail
            for host, hs in sorted(self.engine.hosts.items()):
                log.debug(
                    "restored %s: partition %s, closed to %s, applied %s, panes %s",
                    host,
                    hs.partition,
                    hs.mark,
                    hs.hw,
                    {start: pane.hw for start, pane in sorted(hs.panes.items())},
                )
        self.stats.set("lookout_state_hosts", len(self.engine.hosts))
        log.info(
            "window state rebuilt: %d hosts (active partitions %s)",
            len(self.engine.hosts),
            "all" if active is None else sorted(active),
        )

    def _active_or_none(self) -> set[int] | None:
        """Active partitions, or None where there is no assignment to ask (agent tests)."""
        try:
            return self.active_partitions()
        except (AttributeError, RuntimeError):
            return None

    def _put(self, key: str, value: Any, partition: int) -> None:
        store = self.table.data
        store[key] = value
        kp = getattr(store, "_key_partition", None)
        if kp is not None:
            kp[key] = partition

    def _drop(self, key: str) -> None:
        store = self.table.data
        store.pop(key, None)
        kp = getattr(store, "_key_partition", None)
        if kp is not None:
            kp.pop(key, None)

    # ---- durability --------------------------------------------------------------------------
    async def flush(self) -> Changes:
        """Make everything the engine changed durable, in the order that keeps replays exact."""
        changes = self.engine.collect()
        alerts = self.alerting.collect() if self.alerting is not None else None
        await self._send_late(self.engine.take_late())
        # Which pattern each line went to, stored before the host states that mark the lines
        # applied: a line marked applied always has its pattern id on lookout.patterns.
        assigned = await self._send_assignments()
        if not changes and not alerts:  # a mined line always changes a pattern pane too
            await assigned
            return changes
        # State writes go out as two ordered lists (one producer batch per partition each):
        # the pattern entries and panes now, the host and alert states after the finals are
        # stored (a host state marks its records applied).
        writes: list[tuple[int, bytes, bytes | None]] = []
        dumps = orjson.dumps
        mined = self.patterns.collect()
        for partition, pkey, entry in mined:  # before the panes that count their lines
            if entry is None:
                self._drop(pkey)
                writes.append((partition, pkey.encode(), None))
            else:
                self._put(pkey, entry, partition)
                writes.append((partition, pkey.encode(), dumps(entry)))
        for host, start, pane in changes.panes:
            hs = self.engine.hosts.get(host)
            if hs is None:
                continue
            key = pane_key(host, start)
            self._put(key, pane, hs.partition)
            writes.append((hs.partition, key.encode(), dumps(pane.to_state())))
        panes_stored = await self.out.changelog_many(writes)
        if changes.finals:
            now = self.clock()
            finals = changes.finals
            bodies = final_bodies(finals, dumps(now), self.tenants)
            records, kinds = window_records(finals, bodies)
            self.recent.remember_finals(finals, bodies)
            for kind, count in kinds.items():
                self.stats.inc("lookout_window_finals_total", count, kind=kind)
            await (await self.out.send_windows(records))
            self.stats.inc("lookout_windows_closed_total", len(changes.finals))
        await assigned
        partitions = {hs.partition for hs in changes.hosts} | {p for p, _, _ in mined}
        if alerts:
            futs = [
                await self.out.alert(host.encode(), orjson.dumps(record), partition)
                for host, partition, record in alerts.records
            ]
            await asyncio.gather(*futs)
            for record in (r for _h, _p, r in alerts.records):
                self.stats.inc(
                    "lookout_alert_records_total", kind=str(record.get("to_state", "ack"))
                )
        writes = []
        for hs in changes.hosts:
            key = host_key(hs.host)
            self._put(key, hs, hs.partition)
            writes.append((hs.partition, key.encode(), dumps(hs.to_state())))
        if alerts:
            for host, partition, state in alerts.states:
                key = alert_key(host, state.fingerprint)
                self._put(key, state, partition)
                writes.append((partition, key.encode(), dumps(state.to_state())))
                partitions.add(partition)
            for host, partition, fp in alerts.deleted:
                key = alert_key(host, fp)
                self._drop(key)
                writes.append((partition, key.encode(), None))
                partitions.add(partition)
        for host, partition, start in changes.tombstones:
            key = pane_key(host, start)
            self._drop(key)
            writes.append((partition, key.encode(), None))
            partitions.add(partition)
        hosts_stored = await self.out.changelog_many(writes)
        await panes_stored
        await hosts_stored
        await self._sentinels(partitions)
        self.engine.mark_flushed(changes)
        return changes

    async def _send_assignments(self) -> Awaitable[Any]:
        """Queue the batch's ``lookout.patterns`` records (patterns/assignments.py)."""
        if not self.assigned:
            return _nothing()
        records = self.assigned.take()
        self.stats.inc("lookout_pattern_assignment_records_total", len(records))
        return await self.out.send_patterns(records)

    async def _sentinels(self, partitions: set[int]) -> None:
        """Close each touched changelog partition with a record alone in its batch."""
        if not partitions:
            return
        await self.out.barrier()
        self._seq += 1
        futs = [
            self.out.changelog(p, *sentinel(p, self._seq, self.order.prefixes(p)))
            for p in sorted(partitions)
        ]
        await self.out.barrier()
        await asyncio.gather(*futs)

    def check_tail_holes(self, partitions: set[int]) -> None:
        """With the agent idle, records the consumer handed out but the agent never got are a
        dropped tail (tables/ordering.py): open a hole so they are re-read."""
        delivered = {
            tp: off
            for tp, off in self.out.read_offsets().items()
            if tp[1] in partitions and tp[0] in self.input_topics
        }
        for tp in self.order.check_delivered(delivered):
            self.stats.inc("lookout_delivery_holes_total", topic=tp[0])

    async def seek_holes(self) -> None:
        """Seek partitions with a hole in their delivery back to it (see tables/ordering.py)."""
        for (topic, partition), offset, first in self.order.seeks_due(self.clock()):
            self.stats.inc("lookout_delivery_seeks_total", topic=topic)
            log.log(
                logging.WARNING if first else logging.INFO,
                "%s[%d]: hole in the consumer's delivery after offset %d; holding later "
                "records and re-reading from offset %d%s",
                topic,
                partition,
                offset - 1,
                offset,
                "" if first else " (again: nothing came back yet)",
            )
            try:
                await self.out.seek(topic, partition, offset)
            except Exception as exc:  # not assigned any more: the rebalance resets the guard
                log.warning("%s[%d]: seek to %d failed: %r", topic, partition, offset, exc)
                self.order.forget((topic, partition))

    # ---- dead letters --------------------------------------------------------------------------
    async def dead_letter(
        self,
        reason: str,
        detail: str,
        original: bytes | None,
        *,
        topic: str,
        partition: int | None,
        offset: int | None,
        key: bytes | None,
    ) -> None:
        """Send an input that could not be used to the dead-letter topic, with the reason."""
        record: dict[str, Any] = {
            "reason": reason,
            "detail": detail,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": key.decode("utf-8", "replace") if key else None,
            "at": self.clock(),
        }
        if original is not None:
            record["original_b64"] = base64.b64encode(original).decode()
            with contextlib.suppress(UnicodeDecodeError):
                record["original"] = original.decode("utf-8")
        self.stats.inc("lookout_deadletter_total", reason=reason, topic=topic)
        await self.out.dead_letter(key, orjson.dumps(record))

    async def _send_late(self, late: Iterable[Late]) -> None:
        for item in late:
            self.stats.inc("lookout_late_records_total", host=item.host)
            detail = f"event time {item.ts} is before the host's closed mark {item.mark}"
            original = orjson.dumps({"host": item.host, "series": item.series, "time": item.ts})
            await self.dead_letter(
                "late",
                detail,
                original,
                topic="(window)",
                partition=item.partition,
                offset=None,
                key=item.host.encode(),
            )

    # ---- partitions --------------------------------------------------------------------------
    def active_partitions(self) -> set[int]:
        """Partitions of the window table this worker currently owns."""
        name = self.table.changelog_topic.get_topic_name()
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == name}

    async def close_idle(self) -> int:
        """Close windows of hosts that went quiet (wall-clock idle); returns finals emitted."""
        if self.app.rebalancing:
            return 0
        async with self.lock:
            self.rebuild_if_needed()
            now = self.clock()
            mine = self.active_partitions()
            finals = 0
            for hs in list(self.engine.idle_hosts(now, mine)):
                finals += self.engine.close(hs, now)
            if self.alerting is not None:
                self.alerting.on_finals(self.engine.pending_finals, now)
                owned = [hs for hs in self.engine.hosts.values() if hs.partition in mine]
                self.alerting.tick(owned, now)
                self.alerting.evaluate_quiet(owned, now)
            await self.flush()
            if now - self.last_batch_at >= self.idle_check:
                self.check_tail_holes(mine)
            await self.seek_holes()
            return finals


async def _nothing() -> None:
    """An awaitable that is done at once."""
