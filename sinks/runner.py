"""The generic sink loop: fetch a batch, write it (retrying), dead-letter refusals, commit.

One runner per sink, each with its own consumer group (``{app_id}-sink-{name}``), so a store
that is down stalls only its own sink. The loop is strictly sequential::

    fetch (<= batch_max messages, <= batch_bytes, <= linger s)
      -> prepare (the writer's host->tenant map; retry with backoff until current)
      -> map (pure, Buffer.add) -> write (retry with backoff until stored)
      -> dead letters (awaited) -> commit the batch's offsets -> fetch ...

* **Backpressure.** The next batch is fetched only after the current one is stored, and the
  consumer's prefetch is capped by ``fetch_max_bytes`` (see sinks.consumer), so memory stays at
  about one batch plus one prefetch however long a store is down.
* **Commit after write.** Offsets are committed only once the batch is stored and its dead
  letters acknowledged (manual commit, ``enable_auto_commit=False``). A crash or a rebalance
  replays at most the batches not committed; writes are idempotent, so a replay duplicates
  nothing. A commit refused after a rebalance is skipped for the same reason.
* **Failures.** Transient and configuration failures retry the same batch with exponential
  backoff and jitter (capped); a batch the store refuses as bad data is split in halves down to
  the one message, which goes to the dead-letter topic (``{sink}_rejected``) and the loop goes on.
* **Lost writes.** After a failure, on assignment and every ``check_interval`` the writer is
  asked which partitions' earlier writes its store no longer holds (an in-memory server that
  restarted); those partitions are rewound to their start and written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRebalanceListener
from aiokafka import errors as kafka_errors
from aiokafka.structs import TopicPartition

from app.backoff import Backoff
from app.stats import TIME_BUCKETS, Stats
from sinks.batch import Batch, Buffer, Rejection
from sinks.errors import Failure, classify, describe, hint
from sinks.offsets import GroupOffsets
from sinks.pattern_feed import PatternFeed
from sinks.writer import Writer

log = logging.getLogger(__name__)

T = TypeVar("T")

LOG_EVERY = 30.0  # seconds between repeated "still failing" log lines
WRITE_SECONDS = "lookout_sink_write_seconds"
# Counters of every sink, present at 0 from the start (a rule on them never sees "no data").
SINK_COUNTERS = (
    "lookout_sink_messages_total",
    "lookout_sink_batches_total",
    "lookout_sink_retries_total",
    "lookout_sink_deadletter_total",
    "lookout_sink_skipped_total",
    "lookout_sink_rewinds_total",
    "lookout_sink_commit_skipped_total",
)


class Stopped(Exception):
    """The runner was asked to stop while waiting to retry."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: SinkRunner[Any]) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to do: uncommitted work is replayed by the next owner (idempotent)."""

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """New partitions are checked against the store before they are written."""
        self._runner.unverified.update(assigned)


class SinkRunner(Generic[T]):
    """Runs one sink: its consumer, the writer, retries, dead letters and commits."""

    def __init__(
        self,
        writer: Writer[T],
        consumer_factory: Callable[[], Any],
        *,
        dead_letters: Any,
        stats: Stats,
        batch_max: int = 2000,
        batch_bytes: int = 4 * 1024 * 1024,
        linger: float = 0.5,
        backoff: Backoff | None = None,
        check_interval: float = 10.0,
        maintain_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        patterns: PatternFeed | None = None,
    ) -> None:
        self.writer = writer
        self.patterns = patterns  # the pattern ids of log lines (None: stored without)
        self.name = writer.name
        self._consumer_factory = consumer_factory
        self._dead_letters = dead_letters
        self.stats = stats
        for counter in SINK_COUNTERS:
            stats.declare(counter, "", [{"sink": self.name}])
        stats.declare(
            "lookout_sink_failures_total",
            "",
            [{"sink": self.name, "kind": k} for k in [*(f.value for f in Failure), "unexpected"]],
        )
        stats.histogram(
            WRITE_SECONDS, TIME_BUCKETS, "Seconds per store write attempt", [{"sink": self.name}]
        )
        self.batch_max = batch_max
        self.batch_bytes = batch_bytes
        self.linger = linger
        self.backoff = backoff or Backoff()
        self.check_interval = check_interval
        self.maintain_interval = maintain_interval
        self._clock = clock
        self._wall = wall
        self.consumer: Any = None
        self.offsets = GroupOffsets(None)
        self.unverified: set[TopicPartition] = set()
        self.max_buffered_bytes = 0
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_check = 0.0
        self._next_maintain = 0.0
        self._failing_since: float | None = None
        self.failing_since_wall: float | None = None
        self.last_error: str | None = None
        self._last_log = -LOG_EVERY
        self._reset = False
        self._buffer: Buffer[T] = Buffer(writer.map)

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Set up the writer, subscribe the consumer and start the loop."""
        await self.writer.setup()
        if self.patterns is not None:
            await self.patterns.start()
        await self.connect()
        self._next_maintain = self._clock() + self.maintain_interval
        self._task = asyncio.create_task(self._run(), name=f"lookout-sink-{self.name}")

    async def connect(self) -> None:
        """Create the consumer, subscribe it to the writer's topics and start it."""
        self.consumer = self._consumer_factory()
        self.offsets = GroupOffsets(self.consumer)
        self.consumer.subscribe(list(self.writer.topics), listener=_Listener(self))
        await self.consumer.start()

    async def stop(self, grace: float = 15.0) -> None:
        """Stop after the current write attempt (uncommitted work is replayed next time)."""
        self._stopping.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None
        if self.patterns is not None:
            with contextlib.suppress(Exception):
                await self.patterns.stop()
        await self.writer.close()

    @property
    def running(self) -> bool:
        """True while the loop task is alive."""
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self.step()
                attempt = 0
            except Stopped:
                break
            except Exception as exc:  # a bug or an unexpected client error: never go silent
                log.exception(
                    "sink %s: unexpected error; re-reading from the last commit", self.name
                )
                self.stats.inc("lookout_sink_failures_total", sink=self.name, kind="unexpected")
                self._buffer.flush()
                self._reset = True  # read again from the last commit before going on
                try:
                    await self._pause(attempt, Failure.TRANSIENT, exc)
                except Stopped:
                    break
                attempt += 1

    # ---- one batch ---------------------------------------------------------------------------
    async def step(self) -> bool:
        """Fetch, write and commit one batch; False when there was nothing to do."""
        if self._reset:
            await self.offsets.reset()
            self._reset = False
        await self._tick()
        messages = await self._fetch()
        if not messages:
            return False
        await self._prepare(messages)
        if self.patterns is not None:
            # hold the log lines until the worker published their pattern ids (bounded)
            ids = await self.patterns.settle(messages, self._assigned())
            for msg in messages:
                self._buffer.add(msg, ids.get((msg.topic, msg.partition, msg.offset)))
        else:
            for msg in messages:
                self._buffer.add(msg)
        batch = self._buffer.flush()
        self.stats.inc("lookout_sink_messages_total", batch.messages, sink=self.name)
        if batch.skipped:
            self.stats.inc("lookout_sink_skipped_total", batch.skipped, sink=self.name)
        batch = await self._deliver(batch)
        await self._commit(batch.offsets)
        self.stats.inc("lookout_sink_batches_total", sink=self.name)
        self.stats.set("lookout_sink_buffered_bytes", 0, sink=self.name)
        self.stats.set("lookout_sink_buffered_messages", 0, sink=self.name)
        return True

    async def _tick(self) -> None:
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self.check_interval
            self.unverified.update(self._assigned())
            lag = await self.offsets.lag()
            if lag is not None:
                self.stats.set("lookout_sink_lag", lag, sink=self.name)
        if now >= self._next_maintain:
            self._next_maintain = now + self.maintain_interval
            try:
                await self.writer.maintain()
            except Exception as exc:
                log.warning("sink %s: upkeep failed: %s", self.name, describe(exc))

    async def _fetch(self) -> list[Any]:
        out: list[Any] = []
        size = 0
        deadline = self._clock() + self.linger
        while len(out) < self.batch_max and size < self.batch_bytes:
            if self._stopping.is_set():
                break
            wait = deadline - self._clock()
            if wait <= 0 and out:
                break
            data = await self.consumer.getmany(
                timeout_ms=max(0, int(wait * 1000)), max_records=self.batch_max - len(out)
            )
            for msgs in data.values():
                for msg in msgs:
                    out.append(msg)
                    size += len(msg.value or b"") + len(msg.key or b"")
            if not data and wait <= 0:
                break
        if size > self.max_buffered_bytes:
            self.max_buffered_bytes = size
            self.stats.set("lookout_sink_buffered_bytes_max", size, sink=self.name)
        self.stats.set("lookout_sink_buffered_bytes", size, sink=self.name)
        self.stats.set("lookout_sink_buffered_messages", len(out), sink=self.name)
        return out

    async def _prepare(self, messages: list[Any]) -> None:
        """Let the writer make its mapper's inputs current (retrying until it can)."""
        attempt = 0
        while True:
            try:
                await self.writer.prepare(messages)
                return
            except Exception as exc:
                await self._failed(attempt, exc)
                attempt += 1

    async def _deliver(self, batch: Batch[T]) -> Batch[T]:
        """Store ``batch`` (retrying); returns it minus partitions rewound meanwhile."""
        queue: list[Batch[T]] = [batch] if batch.entries else []
        refused: list[Rejection] = []
        attempt = 0
        while True:
            try:
                lost = await self._verify()
            except Exception as exc:
                await self._failed(attempt, exc)
                attempt += 1
                continue
            if lost:
                batch = batch.without(lost)
                queue = [b.without(lost) for b in queue]
                refused = [r for r in refused if _tp(r.msg) not in lost]
            if not queue:
                break
            part = queue[0]
            started = time.perf_counter()
            try:
                result = await self.writer.write(part)
            except Exception as exc:
                self.stats.observe(WRITE_SECONDS, time.perf_counter() - started, sink=self.name)
                if classify(exc) is Failure.BAD_DATA:
                    queue.pop(0)
                    if len(part) <= 1:
                        refused.extend(Rejection(e.msg, None, describe(exc)) for e in part.entries)
                    else:
                        queue[0:0] = [half for half in part.split() if len(half)]
                    continue
                await self._failed(attempt, exc)
                attempt += 1
                continue
            self.stats.observe(WRITE_SECONDS, time.perf_counter() - started, sink=self.name)
            queue.pop(0)
            self._succeeded(result.written)
            refused.extend(result.rejected)
            if result.retry is not None and len(result.retry):
                queue.insert(0, result.retry)
                self.stats.inc("lookout_sink_retries_total", sink=self.name)
                await self._pause(attempt, Failure.TRANSIENT, None, result.retry_reason)
                attempt += 1
            else:
                attempt = 0
        self._succeeded({})
        await self._send_dead_letters(batch.rejected + refused)
        return batch

    async def _verify(self) -> set[TopicPartition]:
        """Check unverified partitions with the store; returns the ones rewound."""
        tps = self.unverified & self._assigned()
        if not tps:
            self.unverified.clear()
            return set()
        lost = await self.writer.lost(tps)
        rewound = await self._rewind(lost) if lost else set()
        self.unverified.difference_update(tps)
        return rewound

    async def _rewind(self, lost: set[TopicPartition]) -> set[TopicPartition]:
        """Rewind what the store lost (see GroupOffsets.rewind), then mark all ``lost``."""
        rewind = await self.offsets.rewind(lost)
        await self.writer.mark(lost)
        if rewind:
            self.stats.inc("lookout_sink_rewinds_total", len(rewind), sink=self.name)
            log.warning(
                "sink %s: the store lost earlier writes of %s; rewriting them from the start",
                self.name,
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(rewind)),
            )
        return rewind

    async def _send_dead_letters(self, rejected: list[Rejection]) -> None:
        if not rejected:
            return
        attempt = 0
        while True:
            try:
                await self._dead_letters.send(self.name, rejected)
                break
            except Exception as exc:
                log.warning("sink %s: dead letters not sent: %s", self.name, describe(exc))
                await self._pause(attempt, Failure.TRANSIENT, exc)
                attempt += 1
        self.stats.inc("lookout_sink_deadletter_total", len(rejected), sink=self.name)
        for r in rejected[:5]:
            log.warning(
                "sink %s: %s[%d]@%d item %s refused: %s",
                self.name,
                r.msg.topic,
                r.msg.partition,
                r.msg.offset,
                r.item,
                r.detail,
            )

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        attempt = 0
        while True:
            try:
                if not await self.offsets.commit(offsets):
                    self.stats.inc("lookout_sink_commit_skipped_total", sink=self.name)
                    log.info("sink %s: commit skipped after a rebalance (replayed)", self.name)
                return
            except kafka_errors.KafkaError as exc:
                log.warning("sink %s: commit failed: %s", self.name, describe(exc))
                await self._pause(attempt, Failure.TRANSIENT, exc)
                attempt += 1

    # ---- bookkeeping -------------------------------------------------------------------------
    def _assigned(self) -> set[TopicPartition]:
        return self.offsets.assigned() if self.consumer is not None else set()

    async def _failed(self, attempt: int, exc: BaseException) -> None:
        failure = classify(exc)
        self.stats.inc("lookout_sink_failures_total", sink=self.name, kind=failure.value)
        self.stats.inc("lookout_sink_retries_total", sink=self.name)
        self.stats.set("lookout_sink_up", 0, sink=self.name)
        self.unverified.update(self._assigned())
        await self._pause(attempt, failure, exc)

    def _succeeded(self, written: dict[str, int]) -> None:
        for table, count in written.items():
            if count:
                self.stats.inc(
                    "lookout_sink_rows_written_total", count, sink=self.name, table=table
                )
        self.stats.set("lookout_sink_up", 1, sink=self.name)
        self.stats.set("lookout_sink_last_success_seconds", self._wall(), sink=self.name)
        if self._failing_since is not None:
            log.info(
                "sink %s: writing again after %.1f s of failures",
                self.name,
                self._clock() - self._failing_since,
            )
            self._failing_since = None
            self.failing_since_wall = None
            self.last_error = None

    def health(self) -> dict[str, Any]:
        """``up`` (the last write succeeded), since when it fails and why (for /api/health)."""
        return {
            "up": self._failing_since is None,
            "failing_since": self.failing_since_wall,
            "error": self.last_error,
        }

    async def _pause(
        self, attempt: int, failure: Failure, exc: BaseException | None, why: str = ""
    ) -> None:
        """Wait before retry ``attempt``; raise :class:`Stopped` if asked to stop meanwhile."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
            self.failing_since_wall = self._wall()
        text = describe(exc) if exc is not None else why
        advice = hint(exc, self.name) if exc is not None else ""
        self.last_error = f"{failure.value}: {text}" + (f"; {advice}" if advice else "")
        if failure is Failure.MISCONFIGURED:
            delay = self.backoff.cap
        else:
            delay = self.backoff.delay(attempt)
        if now - self._last_log >= LOG_EVERY or attempt == 0:
            self._last_log = now
            log.warning(
                "sink %s: write failed (%s: %s)%s; retrying in %.1f s, nothing is committed "
                "meanwhile",
                self.name,
                failure.value,
                text,
                f"; {advice}" if advice else "",
                delay,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)
        if self._stopping.is_set():
            raise Stopped


def _tp(msg: Any) -> TopicPartition:
    return TopicPartition(msg.topic, msg.partition)
