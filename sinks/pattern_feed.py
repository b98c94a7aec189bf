"""A sink's reader of ``lookout.patterns``: the ids of the log lines it is about to store.

The stream-table join of :mod:`patterns.join` with its I/O: a group-less aiokafka consumer on
every partition of ``lookout.patterns``, read on demand. :meth:`PatternFeed.settle` holds the
log messages of a fetched batch, reads the records of the partitions whose ids are still
unknown (the others stay paused, so the feed never reads far ahead of the sink), and returns
the ids once known, or after ``LOOKOUT_SINK_PATTERN_WAIT`` seconds without them.

Where it reads from: for a message of an input partition it does not track yet (at start, after
a rebalance, or below what it pruned: a rewind), it seeks that ``lookout.patterns`` partition
to the first record not older than the message (``offsets_for_times``: each record's timestamp
is the newest of the input messages it describes), or keeps its position when that is earlier.
Tansu answers every such lookup with offset 0, so on the embedded broker a seek reads the
partition from its start: slower, still exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from app.stats import TIME_BUCKETS, Stats
from patterns.assignments import AssignmentError, decode
from patterns.join import PatternJoin
from sinks.batch import Message

log = logging.getLogger(__name__)

WAIT_SECONDS = "lookout_sink_pattern_wait_seconds"
UNRESOLVED = "lookout_sink_pattern_unresolved_total"
BAD_RECORDS = "lookout_sink_pattern_bad_records_total"
HELP = {
    WAIT_SECONDS: "Seconds a sink batch waited for the pattern ids of its log lines",
    UNRESOLVED: "Log messages stored without (all) their pattern ids: none came within "
    "LOOKOUT_SINK_PATTERN_WAIT",
    BAD_RECORDS: "lookout.patterns records that did not decode (skipped)",
}
POLL = 0.2  # longest single fetch while waiting, seconds
MAX_RECORDS = 200  # lookout.patterns records per fetch (each describes one worker batch)

Ids = dict[tuple[str, int, int], dict[int, str]]


class PatternFeed:
    """Joins a sink's log messages with the pattern ids the worker published."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        inputs: Sequence[str],
        *,
        sink: str,
        wait: float,
        stats: Stats,
        clock: Callable[[], float] = time.monotonic,
        consumer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.topic = topic
        self.inputs = frozenset(inputs)
        self.sink = sink
        self.join = PatternJoin(wait)
        self.stats = stats
        self.clock = clock
        self._make = consumer_factory or (
            lambda: AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id=f"lookout-sink-{sink}-patterns",
            )
        )
        self.consumer: Any = None
        self._positioned: set[int] = set()
        stats.help.update(HELP)
        stats.declare(UNRESOLVED, HELP[UNRESOLVED], [{"sink": sink}])
        stats.declare(BAD_RECORDS, HELP[BAD_RECORDS], [{"sink": sink}])
        stats.histogram(WAIT_SECONDS, TIME_BUCKETS, HELP[WAIT_SECONDS], [{"sink": sink}])

    async def start(self) -> None:
        """Create the consumer; the partitions are assigned on first use."""
        self.consumer = self._make()
        await self.consumer.start()

    async def stop(self) -> None:
        """Close the consumer."""
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()

    async def settle(
        self, messages: Sequence[Message], assigned: set[TopicPartition] | None = None
    ) -> Ids:
        """Pattern ids by item of each log message of ``messages`` (keyed by position), once
        known or after the wait; messages of other topics pass at once."""
        join = self.join
        join.held.clear()  # one batch at a time: left over only from a batch that failed
        started = now = self.clock()
        for msg in messages:
            if msg.topic in self.inputs:
                ts = msg.timestamp if isinstance(msg.timestamp, int) else 0
                join.hold(msg.topic, msg.partition, msg.offset, ts, now)
        if not join.held:
            return {}
        out: Ids = {}
        while True:
            for partition, ts in join.seeks().items():
                await self._seek(partition, ts)
            need = join.needed()
            if need:
                deadline = join.next_deadline() or now
                await self._read(need, max(0.0, min(POLL, deadline - now)))
            now = self.clock()
            for released in join.release(now):
                out[released.key] = released.ids
                if not released.complete:
                    self.stats.inc(UNRESOLVED, sink=self.sink)
            if not join.held:
                break
        if assigned is not None:
            join.forget({(tp.topic, tp.partition) for tp in assigned})
        self.stats.observe(WAIT_SECONDS, now - started, sink=self.sink)
        return out

    async def _assign(self) -> None:
        if self.consumer.assignment():
            return
        await self.consumer.topics()  # metadata of every topic
        parts = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        if not tps:
            raise RuntimeError(f"topic {self.topic} does not exist; run `lookout topics`")
        self.consumer.assign(tps)
        self.consumer.pause(*tps)

    async def _seek(self, partition: int, ts: int) -> None:
        """Read ``partition`` again from the first record not older than ``ts`` (or from where
        it is, when that is earlier)."""
        await self._assign()
        tp = TopicPartition(self.topic, partition)
        found = (await self.consumer.offsets_for_times({tp: max(ts, 0)})).get(tp)
        # none that new yet: the records about the message are still to come (from the end)
        target = found.offset if found is not None else (await self.consumer.end_offsets([tp]))[tp]
        if partition in self._positioned:
            target = min(target, await self.consumer.position(tp))
        self.consumer.seek(tp, target)
        self._positioned.add(partition)

    async def _read(self, partitions: set[int], wait: float) -> None:
        """One fetch from ``partitions`` (the others paused); records go to the join."""
        await self._assign()
        consumer = self.consumer
        want = {TopicPartition(self.topic, p) for p in partitions}
        assigned = consumer.assignment()
        consumer.pause(*(assigned - want))
        consumer.resume(*(want & assigned))
        data = await consumer.getmany(*want, timeout_ms=int(wait * 1000), max_records=MAX_RECORDS)
        for tp, records in data.items():
            for record in records:
                try:
                    self.join.add(decode(tp.partition, record.value or b""))
                except AssignmentError as exc:
                    self.stats.inc(BAD_RECORDS, sink=self.sink)
                    log.warning(
                        "sink %s: %s[%d]@%d skipped: %s",
                        self.sink,
                        tp.topic,
                        tp.partition,
                        record.offset,
                        exc,
                    )
