"""The Faust app factory: one place that maps settings to the app, its topics and agents."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faust

from agents.alerting import Alerting
from agents.pipeline import Pipeline
from agents.silences import SilenceReader
from agents.state import WindowStore
from app.settings import Settings
from app.stats import Stats
from app.topics import TopicNames
from tables.alert_rules import Rule
from tables.alert_state import Silence
from tables.engine import WindowEngine
from tables.windows import WindowConfig

log = logging.getLogger(__name__)


@dataclass
class Lookout:
    """Everything a worker is made of, built once from the settings."""

    settings: Settings
    app: faust.App
    topics: TopicNames
    stats: Stats
    store: WindowStore
    pipeline: Pipeline
    postgres_dsn: str | None = None
    silence_reader: SilenceReader | None = None


async def mirror_rules_when_possible(lk: Lookout) -> None:
    """Mirror the rules into Postgres ``alert_configuration``; retry while Postgres is away."""
    from app.rules import mirror_rules

    if lk.postgres_dsn is None or lk.store.alerting is None:
        return
    delay = 2.0
    while True:
        try:
            await mirror_rules(lk.postgres_dsn, lk.store.alerting.rules)
            log.info("rules mirrored into alert_configuration")
            return
        except Exception as exc:  # Postgres down or not migrated yet: alerts do not wait for it
            log.warning("could not mirror rules into Postgres (%s); retrying in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


def window_config(settings: Settings) -> WindowConfig:
    """Window sizes from the settings."""
    return WindowConfig(
        tumbling=settings.tumbling_size,
        hopping=settings.hopping_size,
        step=settings.hopping_step,
        grace=float(settings.grace),
        idle=float(settings.idle_timeout),
    )


def load_alert_rules(settings: Settings) -> list[Rule]:
    """The rules named by LOOKOUT_RULES, validated against the window settings."""
    from app.rules import load_rules

    sizes = {"tumbling": float(settings.tumbling_size), "hopping": float(settings.hopping_size)}
    return load_rules(settings.rules, window_sizes=sizes, counter_fields=settings.counter_fields)


def create_app(settings: Settings, broker_url: str, postgres_dsn: str | None = None) -> Lookout:
    """Build the Faust app with its table, agents, timers and web views."""
    topics = TopicNames.from_settings(settings)
    app = faust.App(
        settings.app_id,
        broker=broker_url,
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        datadir=str(Path(settings.data_dir)),
        key_serializer="raw",
        value_serializer="raw",
        producer_linger_ms=5,
        producer_max_batch_size=1_048_576,
        stream_buffer_maxsize=65536,
        broker_commit_every=100_000,
        broker_commit_interval=1.0,
        logging_config=None,
        # Ingest bodies are read as a stream with their own limit (app/ingest.py).
        web_application_options={"client_max_size": settings.ingest_max_bytes + 1},
        # Faust's own /router and /table views are undocumented and dump raw state: off.
        web_router_enabled=False,
        web_tables_enabled=False,
    )
    stats = Stats()
    engine = WindowEngine(
        window_config(settings),
        counter_fields=settings.counter_fields,
        max_series_per_host=settings.max_series_per_host,
    )
    store = WindowStore(app, engine, topics, stats, partitions=settings.partitions)
    store.recent_max = settings.retain_windows
    store.alerting = Alerting(engine, load_alert_rules(settings))
    pipeline = Pipeline(app, settings, topics, store, stats)
    lk = Lookout(settings, app, topics, stats, store, pipeline, postgres_dsn=postgres_dsn)
    _register_agents(lk)
    from app import middleware
    from app.alerts_api import register_alert_views
    from app.ingest import register_ingest
    from app.live import register_live_page
    from app.web import register_views

    register_views(lk)
    register_live_page(lk)
    register_ingest(lk)
    register_alert_views(lk)
    from app.notify_api import register_notify_views

    register_notify_views(lk)
    middleware.install(app.web.web_app, settings.cors_origins)  # type: ignore[attr-defined]
    return lk


def _register_agents(lk: Lookout) -> None:
    app, settings, topics = lk.app, lk.settings, lk.topics
    inputs = app.topic(
        *topics.inputs(),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    pipeline = lk.pipeline

    @app.agent(inputs, name="lookout.ingest")
    async def ingest(stream: faust.StreamT) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_max, within=settings.batch_within
        )
        async for events in batches:
            await pipeline.process(events)

    @app.timer(interval=1.0, name="lookout.idle_close")
    async def idle_close() -> None:
        await lk.store.close_idle()

    bootstrap = ",".join(f"{u.host}:{u.port}" for u in app.conf.broker)
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
        await mirror_rules_when_possible(lk)
