"""The notifier's two loops: the ``lookout.alerts`` writer and the flush loop.

* :class:`NotifyWriter` is a sink writer (sinks/writer.py) run by the generic
  :class:`~sinks.runner.SinkRunner`: its own consumer group, a batch of records mapped purely
  (:func:`notifications.alerts.decode`), written in one Postgres transaction
  (:meth:`~sinks.notify.store.NotifyStore.ingest`), offsets committed only after that; retries,
  backoff and dead letters (``notify_rejected``) are the runner's.
* :class:`Flusher` wakes when a batch was written, when the next group is due, and every
  ``poll`` seconds (other workers' batches), and flushes due groups until none is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import orjson
from aiokafka.structs import TopicPartition

from alerting.silences import Silence
from app.backoff import Backoff
from app.stats import Stats
from notifications.alerts import Update, decode
from sinks.batch import Batch, Mapped, Message, WriteResult
from sinks.errors import describe, hint
from sinks.notify.store import NotifyStore, Written

log = logging.getLogger(__name__)

DECISIONS = "lookout_notify_decisions_total"
HELP = {
    DECISIONS: "Notifier decisions by stage (ingest, route, flush), decision and reason",
    "lookout_notify_outbox_rows_total": "Outbox rows the notifier inserted, by status",
    "lookout_notify_flush_failures_total": "Flush attempts that failed (retried)",
    "lookout_notify_flush_seconds": "Unix time of the last successful flush pass",
}
PRUNE_EVERY = 3600.0


class NotifyWriter:
    """Applies ``lookout.alerts`` records to the notifier's Postgres state."""

    name = "notify"

    def __init__(
        self,
        store: NotifyStore,
        topic: str,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
        on_written: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.topics: tuple[str, ...] = (topic,)
        self.stats = stats
        self.clock = clock
        self.on_written = on_written
        self._next_prune = 0.0

    async def setup(self) -> None:
        """Create the Postgres pool."""
        await self.store.setup()

    async def prepare(self, messages: Sequence[Message]) -> None:
        """Nothing to load: alert records carry what the notifier needs."""

    def map(self, msg: Message) -> Mapped[Update]:
        """One record -> one update; a malformed record is dead-lettered."""
        try:
            return Mapped(decode(orjson.loads(msg.value or b"")))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            return Mapped(None, rejected=[(None, f"alert record: {type(exc).__name__}: {exc}")])

    async def write(self, batch: Batch[Update]) -> WriteResult[Update]:
        """Apply the batch in one transaction (the runner commits offsets afterwards)."""
        updates = batch.payloads()
        if not updates:
            return WriteResult()
        results = await self.store.ingest(updates, self.clock())
        touched = 0
        for result in results:
            self.stats.inc(DECISIONS, stage="ingest", decision=result.applied.value, reason="")
            if result.routing is not None:
                self.stats.inc(
                    DECISIONS, stage="route", decision="routed", reason=result.routing.reason.value
                )
            touched += bool(result.groups)
        if touched and self.on_written is not None:
            self.on_written()
        return WriteResult(written={"notify_alerts": len(updates)})

    async def lost(self, tps: Collection[TopicPartition]) -> set[TopicPartition]:
        """Postgres keeps what it committed."""
        return set()

    async def mark(self, tps: Collection[TopicPartition]) -> None:
        """Nothing to remember."""

    async def maintain(self) -> None:
        """Once an hour: forget resolved alerts that no group holds (older than 8 days)."""
        now = self.clock()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        deleted = await self.store.prune(now)
        if deleted:
            log.info("notify: pruned %d resolved alerts", deleted)

    async def close(self) -> None:
        """Close the pool."""
        await self.store.close()


class Flusher:
    """Flushes due groups into the outbox, one transaction per pass of up to ``limit`` groups."""

    def __init__(
        self,
        store: NotifyStore,
        stats: Stats,
        *,
        silences: Callable[[], Sequence[Silence] | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        poll: float = 1.0,
        limit: int = 100,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.stats = stats
        self.silences = silences
        self.clock = clock
        self.poll = poll
        self.limit = limit
        self.backoff = backoff or Backoff(base=0.5, cap=30.0)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.on_pending: Callable[[], None] | None = None  # new pending rows (wake the sender)

    def wake(self) -> None:
        """Look for due groups now (a batch was written)."""
        self._wake.set()

    def start(self) -> None:
        """Start the loop task."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="lookout-notify-flush")

    async def stop(self) -> None:
        """Stop after the current pass (a pass is one transaction: all or nothing)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=10.0)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def flush_now(self) -> list[Written]:
        """Flush every due group (several passes if needed); the rows written."""
        out: list[Written] = []
        while True:
            written = await self.store.flush(
                self.clock(), silences=self.silences(), limit=self.limit
            )
            out.extend(written)
            self._count(written)
            if self.on_pending is not None and any(
                w.inserted and w.row is not None and w.row.status == "pending" for w in written
            ):
                self.on_pending()
            if len(written) < self.limit:
                return out

    def _count(self, written: list[Written]) -> None:
        for w in written:
            d = w.outcome.flush.decision
            if w.row is None or w.inserted:
                self.stats.inc(
                    DECISIONS, stage="flush", decision=d.action.value, reason=d.reason.value
                )
            if w.row is not None and w.inserted:
                self.stats.inc("lookout_notify_outbox_rows_total", status=w.row.status)
                log.info(
                    "notify: %s %s for %s (%s)",
                    "queued" if w.row.status == "pending" else "held back",
                    w.row.payload["kind"],
                    w.row.group_key,
                    w.row.reason,
                )

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self.flush_now()
                due = await self.store.next_due()
                attempt = 0
                self.passes += 1
                self.stats.set("lookout_notify_flush_seconds", time.time())
                wait = self.poll if due is None else min(self.poll, due - self.clock())
                wait = max(0.05, wait)
            except Exception as exc:
                wait = self.backoff.delay(attempt)
                attempt += 1
                self.stats.inc("lookout_notify_flush_failures_total")
                advice = hint(exc)
                log.warning(
                    "notify: flush failed (%s)%s; retrying in %.1f s",
                    describe(exc),
                    f"; {advice}" if advice else "",
                    wait,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


def silences_of(reader: Any) -> Callable[[], Sequence[Silence] | None]:
    """The reader's silences once it has read the topic (None before: trust the records)."""

    def get() -> Sequence[Silence] | None:
        if reader is None or not reader.ready.is_set():
            return None
        return list(reader.silences.values())

    return get
