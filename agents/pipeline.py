"""Batch processing shared by the input agents: decode -> engine -> close -> durable flush.

Each consumed batch is reduced in memory by the engine and every touched (host, pane) is
written once per batch. Records whose Kafka key does not route them to their host's partition
(a producer that sends no key, or another key) are re-keyed through ``lookout.rekey`` before any
windowed state is touched: one extra produce and consume per such message.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import faust
from aiokafka.partitioner import DefaultPartitioner

from agents.telemetry import BATCH_DELAY, BATCH_MESSAGES, BATCH_SECONDS
from app.settings import Settings
from app.stats import Stats
from app.topics import TopicNames
from formats.decode import decode_app, decode_metrics, decode_nginx, nginx_access_fast
from formats.points import AccessLog, AppLog, ErrorLog, Metric, Rejected
from tables.engine import HostState
from tables.output import ORIGIN_HEADER
from tables.store import WindowStore

_partitioner = DefaultPartitioner()
log = logging.getLogger(__name__)


class Pipeline:
    """Turns batches of Kafka events into window state, dead letters and re-keyed records."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        topics: TopicNames,
        store: WindowStore,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.settings = settings
        self.topics = topics
        self.store = store
        self.engine = store.engine
        self.stats = stats
        self.clock = clock
        self.partitions = settings.partitions
        self._host_partition: dict[str, int] = {}
        self._in: Counter[str] = Counter()  # records in per topic, counted once per batch

    def partition_of(self, host: str) -> int:
        """Partition a host's records belong to (Kafka's default murmur2 partitioner)."""
        p = self._host_partition.get(host)
        if p is None:
            key = host.encode()
            p = _partitioner(key, list(range(self.partitions)), list(range(self.partitions)))
            self._host_partition[host] = p
        return p

    async def _reject(self, rejected: Sequence[Rejected], msg: Any) -> None:
        if msg.topic == self.topics.rekey:
            return  # already dead-lettered when first consumed
        for r in rejected:
            await self.store.dead_letter(
                r.reason,
                r.detail,
                r.original,
                topic=msg.topic,
                partition=msg.partition,
                offset=msg.offset,
                key=msg.key,
            )

    async def _forward(self, kind: str, payload: bytes, msg: Any, targets: set[int]) -> None:
        """Send a message once to each other partition that owns some of its hosts, with its
        original position (the pattern ids of its lines are published under it)."""
        origin = origin_header(msg.topic, msg.partition, msg.offset, _timestamp(msg))
        for partition in sorted(targets):
            self.stats.inc("lookout_rekeyed_total", topic=msg.topic)
            await self.store.out.rekey(
                msg.key, kind.encode() + b"\n" + payload, partition, origin=origin
            )

    def _unwrap(self, msg: Any, default_kind: str) -> tuple[str, bytes]:
        if msg.topic == self.topics.rekey:
            kind, _, payload = msg.value.partition(b"\n")
            return kind.decode(), payload
        return default_kind, msg.value

    def _forwarded_lines(self, msg: Any) -> tuple[list[Any] | None, int]:
        """Where the mined lines of a forwarded (``lookout.rekey``) message note their pattern
        ids, and the offset they are noted at: the original one (None: the message carries no
        origin, nothing is published). A message read from its own input topic notes its lines
        under its own position (``AssignmentLog.cover``, inlined in :meth:`_message`)."""
        origin = read_origin(msg)
        if origin is None:
            return None, msg.offset
        return self.store.assigned.origin(origin[0], origin[1], origin[3]), origin[2]

    # ---- batches -----------------------------------------------------------------------------
    async def process(self, records: Sequence[Any]) -> None:
        """Apply a batch of records from any input topic (metrics, nginx logs, app logs, rekey).

        A record has ``topic, partition, offset, key, value`` (aiokafka's ConsumerRecord); each
        partition's records come in offset order. ``lookout_records_in_total`` counts the
        records once their batch is durable (after the flush), each record once. The batch
        histograms are observed here, once per batch (never per record).
        """
        engine = self.engine
        defaults = {
            self.topics.metrics: "metrics",
            self.topics.logs_nginx: "nginx",
            self.topics.logs_app: "app",
        }
        async with self.store.lock:
            started = time.perf_counter()
            self.store.rebuild_if_needed()
            now = self.clock()
            self.store.last_batch_at = now
            touched: dict[str, HostState] = {}
            order = self.store.order
            holes = order.opened
            later: list[tuple[Any, ...]] = []  # dead letters and forwards, sent after the loop
            message = self._message
            for msg in records:
                if not order.admit((msg.topic, msg.partition), msg.offset):
                    self.stats.inc("lookout_delivery_held_total", topic=msg.topic)
                    if order.opened != holes:
                        holes = order.opened
                        self.stats.inc("lookout_delivery_holes_total", topic=msg.topic)
                    continue
                try:
                    message(msg, defaults, now, touched, later)
                except Exception as exc:  # a bug must not stop the stream: park the message
                    log.exception(
                        "processing failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset
                    )
                    later.append(("error", msg, exc))
            await self._send_later(later)
            for hs in touched.values():
                engine.close(hs, now)
            alerting = self.store.alerting
            if alerting is not None:
                alerting.on_finals(engine.pending_finals, now)
            await self.store.flush()
            for topic, count in self._in.items():
                self.stats.inc("lookout_records_in_total", count, topic=topic)
            self._in.clear()
            await self.store.seek_holes()
            self._observe(len(records), time.perf_counter() - started, touched, now)

    def _observe(
        self, messages: int, seconds: float, touched: dict[str, HostState], now: float
    ) -> None:
        """The batch histograms: size, processing time, how far behind real time it was."""
        stats = self.stats
        stats.observe(BATCH_MESSAGES, messages)
        stats.observe(BATCH_SECONDS, seconds)
        marks = [hs.max_ts for hs in touched.values() if hs.max_ts > 0]
        if marks:
            stats.observe(BATCH_DELAY, max(0.0, now - min(marks)))

    def _message(
        self,
        msg: Any,
        defaults: dict[str, str],
        now: float,
        touched: dict[str, HostState],
        later: list[tuple[Any, ...]],
    ) -> None:
        """Decode and apply one message; its dead letters and forwards go to ``later``."""
        kind = defaults.get(msg.topic)
        if kind is None:
            kind, payload = self._unwrap(msg, "metrics")
        else:
            payload = msg.value
        raw_key = msg.key
        key = raw_key.decode("utf-8", "replace") if raw_key else None
        foreign: set[int] = set()
        if kind == "metrics":
            metrics, rejected = decode_metrics(
                payload, unit=self.settings.timestamp_unit, default_host=key
            )
            if rejected and msg.topic != self.topics.rekey:
                later.append(("reject", msg, rejected))
            self._in[msg.topic] += len(metrics)
            self._apply_metrics(metrics, msg, key, now, touched, foreign)
        else:
            records: Sequence[AccessLog | ErrorLog | AppLog]
            rejected = []
            if kind == "app":
                records, rejected = decode_app(payload, default_host=key or "unknown")
            else:
                # the usual one access line a message: only what the windows read
                fast = nginx_access_fast(payload, default_host=key or "unknown")
                if fast is not None:
                    records = (fast,)
                else:
                    records, rejected = decode_nginx(payload, default_host=key or "unknown")
            if rejected and msg.topic != self.topics.rekey:
                later.append(("reject", msg, rejected))
            self._in[msg.topic] += len(records)
            if not self.settings.patterns:
                lines, at = None, msg.offset
            elif msg.topic != self.topics.rekey:  # the lines are covered at their own offset
                ts_ms = getattr(msg, "timestamp", 0)
                lines = self.store.assigned.cover(msg.topic, msg.partition, msg.offset, ts_ms)
                at = msg.offset
            else:
                lines, at = self._forwarded_lines(msg)
            self._apply_logs(records, msg, now, touched, foreign, lines, at)
        if foreign:
            later.append(("forward", msg, kind, payload, foreign))

    async def _send_later(self, later: list[tuple[Any, ...]]) -> None:
        """Dead letters and forwards of a batch, in message order (before the batch's flush)."""
        for item in later:
            what, msg = item[0], item[1]
            if what == "reject":
                await self._reject(item[2], msg)
            elif what == "forward":
                await self._forward(item[2], item[3], msg, item[4])
            else:
                exc = item[2]
                await self.store.dead_letter(
                    "processing_error",
                    f"{type(exc).__name__}: {exc}",
                    msg.value,
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                    key=msg.key,
                )

    def _host(
        self, host: str, msg: Any, now: float, touched: dict[str, HostState], foreign: set[int]
    ) -> tuple[HostState | None, bool]:
        """(the host's state if this message applies to it here, whether it is a re-read).

        None when another partition owns the host (noted in ``foreign``) or when the host has
        applied this message already (a re-read: True).
        """
        p = self.partition_of(host)
        if p != msg.partition:
            if msg.topic != self.topics.rekey:
                foreign.add(p)
            return None, False
        hs = touched.get(host)
        if hs is None:
            hs = touched[host] = self.engine.host(host, p, now)
        if self.engine.seen(hs, msg.topic, msg.offset):
            return None, True
        return hs, False

    def _event_time(self, ts: float | None, hs: HostState, topic: str, now: float) -> float:
        if ts is not None:
            return ts
        hs.no_time += 1
        self.stats.inc("lookout_processing_time_fallback_total", topic=topic)
        return now

    def _apply_metrics(
        self,
        metrics: list[Metric],
        msg: Any,
        key: str | None,
        now: float,
        touched: dict[str, HostState],
        foreign: set[int],
    ) -> None:
        engine = self.engine
        topic, offset = msg.topic, msg.offset
        hs: HostState | None = None
        last_host: str | None = None
        alerting = self.store.alerting
        replay = False
        replayed = 0
        for m in metrics:
            host = m.tags.get("host") or key
            if host is None:
                self.stats.inc("lookout_missing_host_total", topic=topic)
                continue
            if host != last_host:
                hs, replay = self._host(host, msg, now, touched, foreign)
                last_host = host
                if alerting is not None and hs is not None:
                    # once per (message, host): the clock only moves between messages
                    alerting.maybe_evaluate(hs, "m", now)
            if hs is not None:
                ts = self._event_time(m.time, hs, topic, now)
                engine.add_metric(hs, topic, offset, m.name, m.tags, m.fields, ts)
            elif replay:
                replayed += 1
        # records_in counts a record once: not again when a re-read hands it out a second time
        self._in[topic] -= replayed

    def _apply_logs(
        self,
        records: Sequence[AccessLog | ErrorLog | AppLog],
        msg: Any,
        now: float,
        touched: dict[str, HostState],
        foreign: set[int],
        lines: list[Any] | None,
        at: int,
    ) -> None:
        """Apply log records; with patterns on, mine the messages of nginx error and app
        records, noting in ``lines`` each line's offset ``at`` (its original one when forwarded),
        item and pattern id, or that it was forwarded, for lookout.patterns."""
        engine = self.engine
        topic, offset = msg.topic, msg.offset
        alerting = self.store.alerting
        patterns = self.store.patterns if self.settings.patterns else None
        tenants = self.store.tenants
        last_host: str | None = None
        tenant: str | None = None
        for item, rec in enumerate(records):
            hs, replay = self._host(rec.host, msg, now, touched, foreign)
            if hs is None:
                self._in[topic] -= replay  # counted once (see _apply_metrics)
                if (
                    lines is not None
                    and not replay
                    and topic != self.topics.rekey
                    and not isinstance(rec, AccessLog)
                    and rec.message
                ):  # minable, mined by the partition that owns its host (via lookout.rekey)
                    self.store.assigned.forward(topic, msg.partition, offset, item)
                continue
            ts = self._event_time(rec.time, hs, topic, now)
            if hs.host != last_host:
                if alerting is not None:
                    alerting.maybe_evaluate(hs, "l", now)
                last_host = hs.host
                tenant = None
            if isinstance(rec, AccessLog):
                engine.add_request(
                    hs, topic, offset, rec.service, ts, rec.status, rec.bytes, rec.request_time
                )
            elif patterns is not None and rec.message:
                # patterns keep counts per tenant (the patterns API shows a caller its own)
                if tenant is None and tenants is not None:
                    tenant = tenants.of(hs.host)
                # only records applied here (never a re-read): a line is mined once
                cluster, since = patterns.mine(hs.partition, rec.service, rec.message, ts, tenant)
                if lines is not None:
                    lines += (at, item, cluster.id)
                engine.add_mined_line(
                    hs, topic, offset, rec.service, ts, rec.level,
                    cluster.id, cluster.first_seen, since,
                )  # fmt: skip
            else:
                engine.add_line(hs, topic, offset, rec.service, ts, rec.level)


def origin_header(topic: str, partition: int, offset: int, ts_ms: int) -> bytes:
    """The header value a forwarded message carries: its original position and timestamp."""
    return f"{topic}\x1f{partition}\x1f{offset}\x1f{ts_ms}".encode()


def read_origin(msg: Any) -> tuple[str, int, int, int] | None:
    """``(topic, partition, offset, timestamp ms)`` of a forwarded message (None: no header)."""
    for name, value in getattr(msg, "headers", None) or ():
        if name == ORIGIN_HEADER and value:
            try:
                topic, partition, offset, ts = value.decode().split("\x1f")
                return topic, int(partition), int(offset), int(ts)
            except (UnicodeDecodeError, ValueError):
                return None
    return None


def _timestamp(msg: Any) -> int:
    """A record's Kafka timestamp in ms (0 when it has none)."""
    ts = getattr(msg, "timestamp", None)
    return ts if isinstance(ts, int) and ts > 0 else 0
