"""The worker's own health for Prometheus: input lag, event-time delay, recovery, alert counts.

Nothing here runs per record. The pipeline observes its histograms once per batch
(:meth:`agents.pipeline.Pipeline.process`); everything else is read when ``/metrics`` is scraped
(:meth:`Telemetry.collect`) or by a timer.

Input lag per (topic, partition) is the high watermark minus the next offset to apply, clamped at
0. The applied offsets are the store's own (the offset-order guard's last admitted record per
partition, kept with the window state), so they cost nothing. The high watermarks are read by a
timer every ``LAG_EVERY`` seconds, off the hot path, with one ListOffsets request for the owned
input partitions (Faust's ``Consumer.highwaters``, aiokafka ``end_offsets``). Tansu (the embedded
broker) understates end offsets (the last record batch's base offset + 1), so there a caught-up
partition computes slightly negative (shown as 0) and a lagging one reads a little low; real
Kafka reports exact end offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from math import inf
from typing import Any, Protocol

import faust
from faust.types import TP

from alerting.state import Status
from app.stats import DELAY_BUCKETS, SIZE_BUCKETS, TIME_BUCKETS, Stats
from app.topics import TopicNames
from tables.store import WindowStore
from tables.windows import KINDS

log = logging.getLogger(__name__)

LAG_EVERY = 5.0  # seconds between high-watermark reads

BATCH_MESSAGES = "lookout_batch_messages"
BATCH_SECONDS = "lookout_batch_seconds"
BATCH_DELAY = "lookout_batch_event_delay_seconds"
WINDOW_FINALS = "lookout_window_finals_total"

# Counters with a topic label, present at 0 for every input topic from the start.
TOPIC_COUNTERS = {
    "lookout_records_in_total": "Input records applied to window state",
    "lookout_rekeyed_total": "Messages forwarded to the partition that owns their host",
    "lookout_delivery_held_total": "Records held back after a hole in the consumer's delivery",
    "lookout_delivery_holes_total": "Holes detected in the consumer's delivery",
    "lookout_input_stalls_total": "Input partitions re-seeked after holding unread records "
    "without progress for LOOKOUT_INPUT_STALL_AFTER seconds",
    "lookout_log_tails_open": "Live log tails open now (GET /api/logs/tail), all callers",
    "lookout_delivery_seeks_total": "Seeks back to a hole in the consumer's delivery",
    "lookout_processing_time_fallback_total": "Records without an event time (wall clock used)",
    "lookout_missing_host_total": "Metrics with neither a host tag nor a message key (skipped)",
}

HELP = {
    "lookout_windows_closed_total": "Final window records emitted (all kinds)",
    WINDOW_FINALS: "Final window records emitted, by window kind",
    "lookout_deadletter_total": "Input sent to the dead-letter topic, by reason and topic",
    "lookout_late_records_total": "Records later than the grace period, by host",
    "lookout_alert_records_total": "Alert records emitted to lookout.alerts, by target state",
    "lookout_alert_evaluations_total": "Alert rule evaluations, by rule",
    "lookout_alert_transitions_total": "Alert state transitions, by rule and target state",
    "lookout_input_lag": "Input records not yet applied: high watermark minus next offset",
    "lookout_input_lag_updated_seconds": "Unix time the input high watermarks were last read",
    "lookout_input_held_records": "Input records fetched and held back to keep a host's "
    "topics in event-time step (LOOKOUT_INPUT_ALIGN_WAIT)",
    "lookout_input_align_timeouts_total": "Waits for a lagging input partition given up after "
    "LOOKOUT_INPUT_ALIGN_WAIT seconds",
    "lookout_event_time_delay_seconds": "Wall clock minus the slowest live host's watermark",
    "lookout_recovery_active": "1 while the worker recovers its tables from the changelog",
    "lookout_recovery_remaining_records": "Changelog records still to recover (active tables)",
    "lookout_state_hosts": "Hosts in this worker's window state",
    "lookout_state_panes": "Panes in this worker's window state",
    "lookout_series_overflow": "Series dropped for a host over the series cap",
    "lookout_records_without_time": "Records of a host without an event time",
    "lookout_pattern_assignment_records_total": "Records of mined lines' pattern ids sent to "
    "lookout.patterns (one per input partition and batch)",
}


class InputReader(Protocol):
    """Who reads the input partitions and can tell their high watermarks."""

    async def highwaters(self) -> dict[tuple[str, int], int]:
        """High watermark per (topic, partition) read."""
        ...

    def known_highwaters(self) -> dict[tuple[str, int], int]:
        """High watermarks the last fetches carried (no request)."""
        ...


class Telemetry:
    """Declares the worker's metric families and fills the ones read at scrape time."""

    def __init__(
        self,
        app: faust.App,
        store: WindowStore,
        stats: Stats,
        topics: TopicNames,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.store = store
        self.stats = stats
        self.topics = topics
        self.clock = clock
        self.fetcher: InputReader | None = None  # the batch fetcher (agents/fetcher.py)
        self.highwaters: dict[tuple[str, int], int] = {}
        self.declare()

    def declare(self) -> None:
        """Every family with its known label values, at 0 from the start."""
        stats, inputs = self.stats, self.topics.inputs()
        stats.help.update(HELP)
        for name, text in TOPIC_COUNTERS.items():
            stats.declare(name, text, [{"topic": t} for t in inputs])
        stats.declare("lookout_windows_closed_total", HELP["lookout_windows_closed_total"])
        assignments = "lookout_pattern_assignment_records_total"
        stats.declare(assignments, HELP[assignments])
        stats.declare(WINDOW_FINALS, HELP[WINDOW_FINALS], [{"kind": k} for k in KINDS])
        stats.declare(
            "lookout_deadletter_total",
            HELP["lookout_deadletter_total"],
            [{"reason": "late", "topic": "(window)"}]
            + [{"reason": "processing_error", "topic": t} for t in inputs],
        )
        states = [s.value for s in Status]
        stats.declare(
            "lookout_alert_records_total",
            HELP["lookout_alert_records_total"],
            [{"kind": k} for k in [*states, "ack"]],
        )
        alerting = self.store.alerting
        rules = [r.name for r in alerting.rules] if alerting is not None else []
        stats.declare("lookout_alert_evaluations_total", "", [{"rule": r} for r in rules])
        stats.declare(
            "lookout_alert_transitions_total",
            "",
            [{"rule": r, "to": s} for r in rules for s in states],
        )
        stats.histogram(BATCH_MESSAGES, SIZE_BUCKETS, "Messages per ingest batch", [{}])
        stats.histogram(BATCH_SECONDS, TIME_BUCKETS, "Seconds to process an ingest batch", [{}])
        stats.histogram(
            BATCH_DELAY,
            DELAY_BUCKETS,
            "Per batch: wall clock minus the slowest touched host's watermark, seconds",
            [{}],
        )
        stats.set("lookout_recovery_active", 0.0)
        stats.set("lookout_recovery_remaining_records", 0.0)
        stats.set("lookout_event_time_delay_seconds", 0.0)
        stats.set("lookout_input_lag_updated_seconds", 0.0)
        stats.set("lookout_input_held_records", 0.0)
        timeouts = "lookout_input_align_timeouts_total"
        stats.declare(timeouts, HELP[timeouts])

    # ---- timer: input lag ------------------------------------------------------------------
    async def refresh_lag(self) -> None:
        """Read the owned input partitions' high watermarks and set the lag gauges."""
        if self.app.rebalancing:
            log.debug("input lag: rebalancing")
            return
        try:
            mine = self.store.active_partitions()
        except (AttributeError, RuntimeError) as exc:
            log.debug("input lag: no partitions (%r)", exc)
            return
        tps = [TP(t, p) for t in self.topics.inputs() for p in sorted(mine)]
        if not tps:
            log.debug("input lag: no partitions owned")
            return
        fetcher = self.fetcher
        try:
            if fetcher is not None:  # it reads the inputs; Faust's consumer never fetches them
                self.highwaters = await fetcher.highwaters()
            else:
                ends = await self.app.consumer.highwaters(*tps)
                self.highwaters = {(tp.topic, tp.partition): int(e) for tp, e in ends.items()}
        except Exception as exc:  # a broker hiccup: keep the last figures, try again later
            log.warning("input high watermarks not read: %r", exc)
            return
        if not self.highwaters:
            log.debug("input lag: no high watermarks yet (fetcher %s)", "on" if fetcher else "off")
        self._set_lag(mine)
        self.stats.set("lookout_input_lag_updated_seconds", self.clock())

    def batch_lag(self) -> None:
        """After each batch: the lag from the high watermarks its fetch carried (no request), so
        a scrape during a catch-up sees it (the timer alone reads every LAG_EVERY seconds)."""
        fetcher = self.fetcher
        known = getattr(fetcher, "known_highwaters", None)
        if known is None:
            return
        fresh = known()
        if not fresh:
            return
        self.highwaters.update(fresh)
        try:
            mine = self.store.active_partitions()
        except (AttributeError, RuntimeError):
            return
        self._set_lag(mine)

    def _set_lag(self, mine: set[int]) -> None:
        for (topic, partition), end in self.highwaters.items():
            if partition not in mine:
                continue
            applied = self.store.order.prefix((topic, partition))
            lag = max(0, end - (applied + 1 if applied is not None else 0))
            self.stats.set("lookout_input_lag", lag, topic=topic, partition=str(partition))
        for key in [k for k in self.stats.gauges if k[0] == "lookout_input_lag"]:
            if int(dict(key[1])["partition"]) not in mine:
                del self.stats.gauges[key]  # a partition that moved to another worker

    # ---- scrape ------------------------------------------------------------------------------
    def collect(self) -> None:
        """Gauges read at scrape time: state size, event-time delay, recovery, alert counts."""
        stats, engine, now = self.stats, self.store.engine, self.clock()
        stats.set("lookout_state_hosts", len(engine.hosts))
        stats.set("lookout_state_panes", sum(len(h.panes) for h in engine.hosts.values()))
        # Hosts that went quiet are the absence rules' business, not a delay of the pipeline.
        idle = engine.config.idle
        live = [
            hs.max_ts
            for hs in list(engine.hosts.values())
            if now - hs.last_recv <= idle and hs.max_ts != -inf
        ]
        stats.set("lookout_event_time_delay_seconds", max(0.0, now - min(live)) if live else 0.0)
        for hs in list(engine.hosts.values()):
            if hs.overflow:
                stats.set("lookout_series_overflow", hs.overflow, host=hs.host)
            if hs.no_time:
                stats.set("lookout_records_without_time", hs.no_time, host=hs.host)
        aligner = getattr(self.fetcher, "aligner", None)
        if aligner is not None:
            stats.set("lookout_input_held_records", aligner.held)
            stats.counters[("lookout_input_align_timeouts_total", ())] = aligner.timeouts
        recovery = self._recovery()
        if recovery is not None:
            stats.set("lookout_recovery_active", float(bool(recovery.in_recovery)))
            stats.set(
                "lookout_recovery_remaining_records", float(recovery.active_remaining_total())
            )
        alerting = self.store.alerting
        if alerting is not None:
            for rule, count in list(alerting.evaluations.items()):
                stats.counters[("lookout_alert_evaluations_total", (("rule", rule),))] = count
            for (rule, to), count in list(alerting.transitions.items()):
                key = ("lookout_alert_transitions_total", (("rule", rule), ("to", to)))
                stats.counters[key] = count

    def _recovery(self) -> Any:
        return getattr(getattr(self.app, "tables", None), "recovery", None)
