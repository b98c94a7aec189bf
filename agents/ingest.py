"""The worker's agents: batch ingest of the input topics (agents/fetcher.py), idle close,
silences, rule mirror."""

from __future__ import annotations

import time

from agents.fetcher import InputFetcher, KafkaSource
from agents.runtime import Lookout
from agents.silences import SilenceReader
from agents.telemetry import LAG_EVERY
from alerting.silences import Silence
from app.services import bootstrap_servers
from sinks.rules_mirror import mirror_rules_when_possible


def register_agents(lk: Lookout) -> None:
    """Add the ingest agent, the idle-close timer and the silence/rule tasks to ``lk.app``."""
    app, settings, topics = lk.app, lk.settings, lk.topics
    inputs = app.topic(
        *topics.inputs(),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    pipeline = lk.pipeline

    # Subscribed, so Faust's assignor co-partitions them with the window table; fetched only by
    # the batch fetcher (agents/faust_app.py keeps them out of Faust's own fetches).
    app.topics.add(inputs)
    app.external_topics = frozenset(topics.inputs())  # type: ignore[attr-defined]
    bootstrap = bootstrap_servers(",".join(f"{u.host}:{u.port}" for u in app.conf.broker))
    fetcher = InputFetcher(
        app,
        lk.store,
        pipeline,
        topics.inputs(),
        KafkaSource(bootstrap, client_id=f"{settings.app_id}-inputs"),
        batch_max=settings.batch_max,
        within=settings.batch_within,
        stall_after=settings.input_stall_after,
        align_wait=settings.input_align_wait,
    )
    lk.store.out.inputs = fetcher  # type: ignore[attr-defined]
    lk.fetcher = fetcher
    lk.telemetry.fetcher = fetcher
    fetcher.on_batch = lk.telemetry.batch_lag
    app.service(fetcher)  # type: ignore[arg-type]

    @app.timer(interval=1.0, name="lookout.idle_close")
    async def idle_close() -> None:
        await lk.store.close_idle()

    @app.timer(interval=LAG_EVERY, name="lookout.input_lag")
    async def input_lag() -> None:
        await lk.telemetry.refresh_lag()

    store = lk.store

    async def silences_changed(silences: dict[str, Silence]) -> None:
        if store.alerting is None:
            return
        async with store.lock:
            store.alerting.set_silences(silences.values(), time.time())
            await store.flush()

    reader = SilenceReader(bootstrap, topics.silences, silences_changed)
    lk.silence_reader = reader

    @app.task
    async def follow_silences() -> None:
        await reader.run()

    @app.task
    async def mirror_rules_to_postgres() -> None:
        if lk.postgres_dsn is not None and store.alerting is not None:
            await mirror_rules_when_possible(lk.postgres_dsn, store.alerting.rules)
