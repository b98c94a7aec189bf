"""The sinks as one service: in a Faust worker (:func:`attach`) or standalone (:func:`run_sinks`).

``LOOKOUT_SINKS`` picks the sinks (``all``, ``none`` or a comma list of ``postgres``,
``elasticsearch``). Each runs as its own consumer group (``{app_id}-sink-{name}``) with its own
:class:`~sinks.runner.SinkRunner`, so one store's outage stalls only that sink, never the window
processing of the worker it may share a process with. Both label what they store with the
host's tenant, from one host->tenant map (:mod:`sinks.host_tenants`). With Postgres enabled, raw
rows older than ``LOOKOUT_RETENTION_DAYS`` are deleted at start and then once an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from app.backoff import Backoff
from app.services import Services
from app.settings import Settings
from app.signals import stop_on_signals
from app.stats import Stats
from app.topics import TopicNames, ensure_topics
from sinks.consumer import consumer_factory, group_id
from sinks.deadletter import DeadLetters
from sinks.elasticsearch import ElasticsearchWriter
from sinks.es_templates import index_prefix
from sinks.host_tenants import HostTenants
from sinks.identity import IdentityStore
from sinks.pattern_feed import PatternFeed
from sinks.postgres import PostgresWriter
from sinks.runner import SinkRunner

log = logging.getLogger(__name__)

SINK_NAMES = ("postgres", "elasticsearch")
RETENTION_EVERY = 3600.0
RETENTION_FIRST = 10.0
RETENTION_RETRY = 300.0  # after a failed run (Postgres away), try again sooner than in an hour

HELP = {
    "lookout_sink_messages_total": "Kafka messages a sink consumed",
    "lookout_sink_rows_written_total": "Rows (Postgres) or documents (Elasticsearch) stored",
    "lookout_sink_batches_total": "Batches stored and committed",
    "lookout_sink_retries_total": "Writes tried again after a failure",
    "lookout_sink_failures_total": "Failed write attempts by kind",
    "lookout_sink_deadletter_total": "Messages or items a store refused (sent to dead letters)",
    "lookout_sink_skipped_total": "Undecodable input parts (the worker dead-letters them)",
    "lookout_sink_rewinds_total": "Partitions rewritten because the store lost them",
    "lookout_sink_commit_skipped_total": "Commits skipped after a rebalance (replayed)",
    "lookout_sink_lag": "Messages not yet stored (approximate on Tansu)",
    "lookout_sink_up": "1 when the last write succeeded",
    "lookout_sink_last_success_seconds": "Unix time of the last successful write",
    "lookout_sink_buffered_bytes": "Bytes of the batch a sink holds",
    "lookout_sink_buffered_messages": "Messages of the batch a sink holds",
    "lookout_sink_buffered_bytes_max": "Largest batch a sink has held, bytes",
    "lookout_retention_deleted_total": "Raw rows deleted by retention",
}


def enabled_sinks(settings: Settings) -> tuple[str, ...]:
    """The sinks ``LOOKOUT_SINKS`` asks for, in a fixed order."""
    if settings.sinks == "all":
        return SINK_NAMES
    if settings.sinks == "none":
        return ()
    chosen = set(settings.sinks.split(","))
    return tuple(name for name in SINK_NAMES if name in chosen)


class SinkService:
    """Starts and stops the configured sinks and the hourly retention."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.services = services
        self.stats = stats
        self.clock = clock
        self.runners: dict[str, SinkRunner[Any]] = {}
        self.dead_letters: DeadLetters | None = None
        self._retention: asyncio.Task[None] | None = None
        # One host->tenant map for both sinks (raw rows and log documents carry the tenant),
        # read from the same PostgreSQL rows as the workers' (sinks.host_tenants).
        self.identity = IdentityStore(services.postgres_dsn)
        self.tenants = HostTenants(
            settings.default_tenant, self.identity.host_map, refresh=settings.tenant_refresh
        )
        stats.help.update(HELP)

    def writer(self, name: str) -> Any:
        """The writer of sink ``name`` (not set up yet)."""
        settings, topics = self.settings, TopicNames.from_settings(self.settings)
        if name == "postgres":
            return PostgresWriter(
                self.services.postgres_dsn,
                topics,
                timestamp_unit=settings.timestamp_unit,
                timeout=settings.sink_timeout,
                tenants=self.tenants,
            )
        if name == "elasticsearch":
            return ElasticsearchWriter(
                self.services.elasticsearch_url,
                topics,
                embedded=self.services.embedded_es,
                group=group_id(settings, name),
                prefix=index_prefix(settings.topic_prefix),
                timeout=settings.sink_timeout,
                local_max_days=settings.es_local_max_days,
                local_max_docs=settings.es_local_max_docs,
                clock=self.clock,
                tenants=self.tenants,
            )
        raise ValueError(f"unknown sink {name!r}; expected one of {', '.join(SINK_NAMES)}")

    def pattern_feed(self, name: str, topics: TopicNames) -> PatternFeed | None:
        """The join with ``lookout.patterns`` for a sink of log lines (None: patterns off, or
        ``LOOKOUT_SINK_PATTERN_WAIT=0``)."""
        settings = self.settings
        if not settings.patterns or settings.sink_pattern_wait <= 0:
            return None
        return PatternFeed(
            self.services.bootstrap_servers,
            topics.patterns,
            (topics.logs_nginx, topics.logs_app),
            sink=name,
            wait=settings.sink_pattern_wait,
            stats=self.stats,
        )

    async def start(self) -> None:
        """Start every configured sink (a store that is down is retried, never fatal)."""
        names = enabled_sinks(self.settings)
        if not names or self.runners:
            return
        # One INFO line per HTTP request drowns the worker log; failures still show as warnings.
        logging.getLogger("elastic_transport.transport").setLevel(logging.WARNING)
        settings = self.settings
        topics = TopicNames.from_settings(settings)
        self.dead_letters = DeadLetters(
            self.services.bootstrap_servers, topics.deadletter, clock=self.clock
        )
        await self.dead_letters.start()
        for name in names:
            writer = self.writer(name)
            self.runners[name] = SinkRunner(
                writer,
                consumer_factory(settings, self.services.bootstrap_servers, name),
                dead_letters=self.dead_letters,
                stats=self.stats,
                batch_max=settings.sink_batch_max,
                batch_bytes=settings.sink_batch_bytes,
                linger=settings.sink_linger,
                backoff=Backoff(cap=settings.sink_retry_max),
                wall=self.clock,
                patterns=self.pattern_feed(name, topics),
            )
        # Group joins take a few seconds each: start the sinks side by side.
        await asyncio.gather(*(runner.start() for runner in self.runners.values()))
        for name in names:
            log.info("sink %s: started (group %s)", name, group_id(settings, name))
        if "postgres" in names:
            self._retention = asyncio.create_task(self._retention_loop(), name="lookout-retention")

    async def stop(self) -> None:
        """Stop the sinks; work not committed yet is written again at the next start."""
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        runners, self.runners = self.runners, {}
        await asyncio.gather(*(runner.stop() for runner in runners.values()))
        if self.dead_letters is not None:
            await self.dead_letters.stop()
            self.dead_letters = None
        await self.identity.close()

    def health(self) -> dict[str, dict[str, Any]]:
        """Each running sink's :meth:`~sinks.runner.SinkRunner.health`."""
        return {name: runner.health() for name, runner in self.runners.items()}

    async def run_retention(self) -> dict[str, int]:
        """Delete raw rows older than ``LOOKOUT_RETENTION_DAYS`` now; rows deleted per table."""
        from datetime import UTC, datetime

        from sinks.migrations import retention

        now = datetime.fromtimestamp(self.clock(), UTC)
        counts = await retention(
            self.services.postgres_dsn, keep_days=self.settings.retention_days, now=now
        )
        for table, count in counts.items():
            if count:
                self.stats.inc("lookout_retention_deleted_total", count, table=table)
        return counts

    async def _retention_loop(self) -> None:
        await asyncio.sleep(RETENTION_FIRST)
        while True:
            wait = RETENTION_EVERY
            try:
                counts = await self.run_retention()
                if any(counts.values()):
                    log.info("retention: deleted %s", counts)
            except Exception as exc:
                wait = RETENTION_RETRY
                log.warning("retention: failed, trying again in %.0f s: %s", wait, exc)
            await asyncio.sleep(wait)


async def run_sinks(
    settings: Settings,
    services: Services,
    *,
    stop: asyncio.Event | None = None,
    stats: Stats | None = None,
) -> None:
    """Run the configured sinks until ``stop`` is set (or SIGINT/SIGTERM when not given)."""
    with contextlib.ExitStack() as stack:
        if stop is None:
            stop = stack.enter_context(stop_on_signals(asyncio.Event()))
        await ensure_topics(settings, services.bootstrap_servers)
        service = SinkService(settings, services, stats or Stats())
        try:
            await service.start()
            await stop.wait()
        finally:
            await service.stop()


def attach(app: Any, settings: Settings, services: Services, stats: Stats) -> SinkService:
    """Run the sinks inside a Faust worker: started after recovery, stopped with the app."""
    from mode import Service

    sinks = SinkService(settings, services, stats)

    class SinksInWorker(Service):  # type: ignore[misc]
        """Ties the sinks' lifetime to the Faust app's."""

        async def on_start(self) -> None:
            await sinks.start()

        async def on_stop(self) -> None:
            await sinks.stop()

    app.service(SinksInWorker())
    return sinks
