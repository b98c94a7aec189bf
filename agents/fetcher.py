"""Batch ingest of the input topics: the partitions Faust assigned to this worker, fetched with
aiokafka ``getmany`` and applied a batch at a time, positions kept with the window state.

Why not a Faust agent. Faust hands a stream one event at a time: per message it takes a lock,
checks flow control, builds an Event, queues it and tracks its ack, about 77 us per message on
the 2-core machine (a bare agent that only iterates did 13k msg/s) against about 5 us for a raw
aiokafka drain. No per-event design passes ~13k messages/s per worker, and Telegraf's kafka
output and every log shipper write one record per message. So the input topics are read here,
in batches, while Faust stays the application: the worker process, the consumer group and its
rebalances (it still subscribes to the input topics, so its assignor co-partitions them with
the window table), the window table with its changelog and recovery, the web server and the
agents off the hot path.

How it fits Faust.
- Faust's consumer never fetches the input partitions (:class:`agents.faust_app.LookoutApp`
  keeps them out of its fetch set), so nothing is delivered twice and nothing waits on acks.
- After every rebalance, once Faust's recovery has rebuilt the window table
  (``WindowStore.recoveries`` moves), the fetcher assigns itself the input partitions Faust
  assigned this worker and seeks each to the state's own position: the last offset applied and
  made durable (the changelog sentinel, ``tables/ordering.py``) plus one, or the beginning.
  Faust's committed offsets play no part for these topics.
- When Faust revokes partitions it waits for :meth:`InputFetcher.on_revoked`, which takes the
  store lock (the batch in flight finishes and is flushed) and drops the assignment.
- A batch is whatever ``getmany`` has within ``LOOKOUT_BATCH_WITHIN`` seconds, at most
  ``LOOKOUT_BATCH_MAX`` records; records of a partition are applied in offset order
  (``OrderGuard`` still checks it, and re-reads through :meth:`seek` if a hole ever shows).
  What a fetch returns passes through :class:`agents.align.InputAligner`, which keeps the
  partitions of one number (a host's topics) in timestamp order across batches, holding back
  records fetched ahead of a lagging partition (``LOOKOUT_INPUT_ALIGN_WAIT``).
- A watchdog (:meth:`InputFetcher.check_stalls`) asks the broker for each owned partition's end
  every few seconds. A partition with records past the applied position that has not moved for
  ``LOOKOUT_INPUT_STALL_AFTER`` seconds is logged (WARNING, with position and end), counted in
  ``lookout_input_stalls_total`` and re-seeked, which restarts its fetch. A client that silently
  stops fetching one partition after broker trouble is a known failure of Kafka consumers
  (quix-streams#1124 reports it for confluent-kafka); here it must not stall windows forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from agents.align import InputAligner, merge
from agents.pipeline import Pipeline
from tables.store import WindowStore

log = logging.getLogger(__name__)

TPKey = tuple[str, int]


class Source(Protocol):
    """Where input records come from: an aiokafka consumer, or a list in tests."""

    async def start(self) -> None:
        """Connect."""

    async def stop(self) -> None:
        """Disconnect."""

    def assign(self, tps: set[TPKey]) -> None:
        """Read exactly these partitions from now on."""

    def seek(self, tp: TPKey, offset: int) -> None:
        """Next read of ``tp`` starts at ``offset`` (None-like -1: the beginning)."""

    async def getmany(self, wait: float, max_records: int) -> Mapping[TPKey, Sequence[Any]]:
        """Records (``topic, partition, offset, timestamp, key, value``) within ``wait`` s, per
        partition in offset order."""

    async def latest_offsets(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """The next offset to be written in each partition, asked of the broker now."""

    def known_highwaters(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """The high watermarks the source last learnt, without a request (may be partial)."""

    def pause(self, tps: Iterable[TPKey]) -> None:
        """Stop fetching these partitions (what was fetched and not handed out is dropped)."""

    def resume(self, tps: Iterable[TPKey]) -> None:
        """Fetch these partitions again, from their position."""


class KafkaSource:
    """A group-less aiokafka consumer with manual assignment (Faust's group assigns)."""

    def __init__(self, bootstrap: str, client_id: str, *, fetch_max_bytes: int = 16 << 20):
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client_id,
            "group_id": None,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_bytes": fetch_max_bytes,
            "max_partition_fetch_bytes": 4 << 20,
            "fetch_max_wait_ms": 100,
        }
        self._consumer_or_none: AIOKafkaConsumer | None = None
        self._assigned: set[TopicPartition] = set()

    @property
    def _consumer(self) -> AIOKafkaConsumer:
        if self._consumer_or_none is None:
            raise RuntimeError("KafkaSource used before start()")
        return self._consumer_or_none

    async def start(self) -> None:
        """Create the consumer (in the running loop) and connect to the brokers."""
        self._consumer_or_none = AIOKafkaConsumer(**self._options)
        await self._consumer_or_none.start()

    async def stop(self) -> None:
        """Close the connections."""
        if self._consumer_or_none is not None:
            await self._consumer_or_none.stop()

    def assign(self, tps: set[TPKey]) -> None:
        """Read exactly ``tps`` (an empty set pauses everything)."""
        self._assigned = {TopicPartition(t, p) for t, p in tps}
        self._consumer.assign(sorted(self._assigned))

    def seek(self, tp: TPKey, offset: int) -> None:
        """Move the fetch position of ``tp``; ``-1`` is the beginning of the log."""
        # seek_to_beginning is a coroutine; offset 0 is the same: below the log start, the
        # consumer's auto_offset_reset ("earliest") moves it to the first record there is
        self._consumer.seek(TopicPartition(*tp), max(offset, 0))

    def known_highwaters(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """High watermarks from the last fetch responses (no request)."""
        out = {}
        for t, p in tps:
            known = self._consumer.highwater(TopicPartition(t, p))
            if known is not None:
                out[(t, p)] = int(known)
        return out

    async def end_offsets(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """The next offset to be written in each partition (the high watermark): from the last
        fetch response where there is one (no request), else asked of the broker."""
        out: dict[TPKey, int] = {}
        missing = []
        for t, p in tps:
            known = self._consumer.highwater(TopicPartition(t, p))
            if known is None:
                missing.append(TopicPartition(t, p))
            else:
                out[(t, p)] = int(known)
        if missing:
            out.update(await self.latest_offsets([(tp.topic, tp.partition) for tp in missing]))
        return out

    async def latest_offsets(self, tps: Sequence[TPKey]) -> dict[TPKey, int]:
        """The next offset to be written in each partition, asked of the broker (never the
        fetch responses' figure: a partition that is not being fetched has a stale one)."""
        ends = await self._consumer.end_offsets([TopicPartition(t, p) for t, p in tps])
        return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}

    async def getmany(self, wait: float, max_records: int) -> Mapping[TPKey, Sequence[Any]]:
        """What the consumer has within ``wait`` seconds, per partition."""
        if not self._assigned:
            await asyncio.sleep(wait)
            return {}
        got = await self._consumer.getmany(timeout_ms=int(wait * 1000), max_records=max_records)
        return {(tp.topic, tp.partition): records for tp, records in got.items()}

    def pause(self, tps: Iterable[TPKey]) -> None:
        """Stop fetching ``tps`` (the consumer drops what it prefetched of them)."""
        self._consumer.pause(*(TopicPartition(t, p) for t, p in tps))

    def resume(self, tps: Iterable[TPKey]) -> None:
        """Fetch ``tps`` again from their positions."""
        self._consumer.resume(*(TopicPartition(t, p) for t, p in tps))


class InputFetcher(Service):
    """Feeds the pipeline with batches of the input partitions this worker owns."""

    def __init__(
        self,
        app: Any,
        store: WindowStore,
        pipeline: Pipeline,
        topics: Iterable[str],
        source: Source,
        *,
        batch_max: int,
        within: float,
        owned: Callable[[], set[TPKey]] | None = None,
        clock: Callable[[], float] = time.time,
        stall_after: float = 30.0,
        align_wait: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.store = store
        self.pipeline = pipeline
        self.topics = frozenset(topics)
        self.source = source
        self.batch_max = batch_max
        self.within = within
        self.clock = clock
        self._owned = owned or self._faust_owned
        self.assigned: set[TPKey] = set()
        # The store's recovery count the assignment was made for: nothing is read before the
        # first recovery (Faust's, after the first assignment) has completed.
        self._recoveries = 0
        self._delivered: dict[TPKey, int] = {}
        self.batches = 0
        self.stall_after = stall_after
        self._progress: dict[TPKey, tuple[int, float]] = {}  # tp -> (next offset, since when)
        self.on_batch: Callable[[], None] | None = None  # after each applied batch (telemetry)
        # event-time alignment of the partitions across fetches (agents/align.py); 0: off
        self.aligner = InputAligner(align_wait, batch_max) if align_wait > 0 else None

    # ---- the assignment ---------------------------------------------------------------------
    def _faust_owned(self) -> set[TPKey]:
        """Input partitions Faust assigned this worker whose window state it owns."""
        active = self.store.active_partitions()
        return {
            (tp.topic, tp.partition)
            for tp in self.app.consumer.assignment()
            if tp.topic in self.topics and tp.partition in active
        }

    async def follow_assignment(self) -> None:
        """After a recovery completed, read the owned input partitions from the state's position."""
        if self.store.recoveries == self._recoveries:
            return
        async with self.store.lock:
            recoveries = self.store.recoveries
            self.store.rebuild_if_needed()
            owned = self._owned()
            self.source.assign(owned)
            if self.aligner is not None:
                self.aligner.reset(owned)
            for tp in sorted(owned):
                last = self.store.order.prefix(tp)
                self._seek(tp, -1 if last is None else last + 1)
            self._delivered = {tp: off for tp, off in self._delivered.items() if tp in owned}
            self.assigned = owned
            self._recoveries = recoveries
        log.info("reading input partitions %s", sorted(owned) or "(none)")

    async def on_revoked(self, *_args: Any, **_kwargs: Any) -> None:
        """Faust is taking partitions away: finish the batch in flight, then stop reading."""
        async with self.store.lock:
            self.source.assign(set())
            if self.aligner is not None:
                self.aligner.reset(())
            self.assigned = set()

    def _seek(self, tp: TPKey, offset: int) -> None:
        self.source.seek(tp, offset)
        if self.aligner is not None:
            self.aligner.seeked(tp, offset)

    # ---- what the store asks ------------------------------------------------------------------
    async def seek(self, topic: str, partition: int, offset: int) -> None:
        """Re-read a partition from ``offset`` (a hole in delivery: tables/ordering.py)."""
        if (topic, partition) in self.assigned:
            self._seek((topic, partition), offset)

    def read_offsets(self) -> dict[TPKey, int]:
        """Per partition, the last offset handed to the pipeline."""
        return dict(self._delivered)

    def known_highwaters(self) -> dict[TPKey, int]:
        """High watermarks the last fetch responses carried (no request; may be partial)."""
        return self.source.known_highwaters(sorted(self.assigned)) if self.assigned else {}

    async def highwaters(self) -> dict[TPKey, int]:
        """High watermarks of the partitions this fetcher reads (for the input lag metric)."""
        ends = getattr(self.source, "end_offsets", None)
        if ends is None or not self.assigned:
            return {}
        found: dict[TPKey, int] = await ends(sorted(self.assigned))
        return found

    # ---- the watchdog --------------------------------------------------------------------------
    def _next_offset(self, tp: TPKey) -> int:
        last = self.store.order.prefix(tp)
        return 0 if last is None else last + 1

    async def check_stalls(self) -> list[TPKey]:
        """Re-seek every owned partition that has records past its applied position (its end
        asked of the broker) and has not moved for ``stall_after`` seconds; returns them."""
        if not self.assigned:
            self._progress.clear()
            return []
        ends = await self.source.latest_offsets(sorted(self.assigned))
        now = self.clock()
        stalled: list[TPKey] = []
        progress = self._progress
        for tp in sorted(self.assigned):
            nxt = self._next_offset(tp)
            seen = progress.get(tp)
            if seen is None or seen[0] != nxt or ends.get(tp, 0) <= nxt:
                progress[tp] = (nxt, now)  # moved, or nothing to read: not stalled
            elif now - seen[1] >= self.stall_after:
                stalled.append(tp)
        for tp in [t for t in progress if t not in self.assigned]:
            del progress[tp]
        if not stalled:
            return []
        async with self.store.lock:
            for tp in stalled:
                if tp not in self.assigned:
                    continue  # revoked meanwhile
                nxt = self._next_offset(tp)
                log.warning(
                    "input partition %s[%d] stalled: nothing read past offset %d for %.0f s "
                    "while the broker holds up to %d; re-seeking it (restarts its fetch)",
                    tp[0], tp[1], nxt, now - progress[tp][1], ends.get(tp, 0),
                )  # fmt: skip
                self._seek(tp, nxt)
                progress[tp] = (nxt, now)
                self.pipeline.stats.inc(
                    "lookout_input_stalls_total", topic=tp[0], partition=str(tp[1])
                )
        return stalled

    @Service.task
    async def _watch(self) -> None:
        every = max(0.5, min(5.0, self.stall_after / 4))
        while not self.should_stop:
            await self.sleep(every)
            if self.app.rebalancing:
                continue
            try:
                await self.check_stalls()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: the fetch loop reports it
                log.debug("input stall check skipped: %r", exc)

    # ---- the loop -----------------------------------------------------------------------------
    async def fetch_once(self) -> int:
        """Fetch one batch and apply what may be applied of it; returns the number of records
        fetched plus those applied (0: nothing moved)."""
        await self.follow_assignment()
        parts = await self.source.getmany(self.within, self.batch_max)
        fetched = sum(len(recs) for recs in parts.values())
        aligner = self.aligner
        if aligner is None:
            records = merge([parts[tp] for tp in sorted(parts)]) if fetched else []
        elif fetched or aligner.held:
            records = aligner.push(parts, self.known_highwaters(), self.clock())
            pause, resume = aligner.pauses()
            if resume:
                self.source.resume(resume)
            if pause:
                self.source.pause(pause)
        else:
            records = []
        if not records:
            return fetched
        await self.pipeline.process(records)
        if self.on_batch is not None:
            self.on_batch()
        delivered = self._delivered
        for r in records:
            delivered[(r.topic, r.partition)] = r.offset
        self.batches += 1
        return fetched + len(records)

    async def on_start(self) -> None:
        """Connect the source and listen for revocations."""
        await self.source.start()
        self.app.on_partitions_revoked.connect(self.on_revoked)

    async def on_stop(self) -> None:
        """Let the batch in flight finish, then disconnect."""
        async with self.store.lock:
            self.assigned = set()
        await self.source.stop()

    @Service.task
    async def _run(self) -> None:
        while not self.should_stop:
            if self.app.rebalancing:
                await self.sleep(0.05)
                continue
            try:
                await self.fetch_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker hiccup must not end ingest: log, wait, go on
                log.exception("input fetch failed; retrying in 1 s")
                await self.sleep(1.0)
