"""The composition root: builds a worker (the Faust app, its table, agents and HTTP API) from
the settings. The one module that knows every part; no part imports it."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from agents.faust_app import LookoutApp
from agents.ingest import register_agents
from agents.pipeline import Pipeline
from agents.runtime import Lookout, load_alert_rules, window_config
from agents.telemetry import Telemetry
from agents.tenants import register_tenant_refresh
from alerting.evaluator import Alerting
from app import native
from app.api import middleware
from app.api.access import Access
from app.api.accounts import register_account_views
from app.api.alerts import register_alert_views
from app.api.ingest import register_ingest
from app.api.live import register_live_page
from app.api.logs import register_log_views
from app.api.notifications import register_notify_views
from app.api.patterns import register_pattern_views
from app.api.peers import Peers
from app.api.windows import register_views
from app.settings import Settings
from app.stats import Stats
from app.tenancy import TenantMap
from app.tokens import Signer
from app.topics import TopicNames
from patterns.book import PatternBook
from sinks.identity import IdentityStore
from tables.engine import WindowEngine
from tables.store import WindowStore

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    broker_url: str,
    postgres_dsn: str | None = None,
    *,
    elasticsearch_url: str | None = None,
    embedded_es: bool = False,
) -> Lookout:
    """Build the Faust app with its table, agents, timers and web views."""
    topics = TopicNames.from_settings(settings)
    app = LookoutApp(
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
        # Ingest bodies are read as a stream with their own limit (app/api/ingest.py).
        # A URL of up to 128 KiB reaches the views, so an over-long log query answers 400
        # naming its parameter instead of aiohttp's plain-text "line too long".
        web_application_options={
            "client_max_size": settings.ingest_max_bytes + 1,
            "handler_args": {"max_line_size": 131_072},
        },
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
    store.recent.size = settings.retain_windows
    store.patterns = PatternBook(
        max_clusters=settings.pattern_max_clusters, max_line=settings.pattern_max_line
    )
    store.alerting = Alerting(engine, load_alert_rules(settings))
    tenants = store.tenants = TenantMap(settings.default_tenant)
    store.alerting.tenant_of = tenants.of
    identity = IdentityStore(postgres_dsn) if postgres_dsn else None
    pipeline = Pipeline(app, settings, topics, store, stats)
    telemetry = Telemetry(app, store, stats, topics)
    lk = Lookout(
        settings,
        app,
        topics,
        stats,
        store,
        pipeline,
        telemetry,
        postgres_dsn=postgres_dsn,
        elasticsearch_url=elasticsearch_url,
        embedded_es=embedded_es,
        tenants=tenants,
        identity=identity,
    )
    signer = Signer.from_settings(settings)
    access = Access(settings, stats, tenants, signer, identity, lk.disabled_users)
    register_agents(lk)
    register_tenant_refresh(lk)
    register_views(lk, access)
    register_live_page(lk, access)
    register_ingest(lk, access)
    register_alert_views(lk, access)
    register_notify_views(lk, access)
    register_account_views(lk, access)
    register_log_views(lk, broker_url)
    register_pattern_views(app, store.patterns, Peers(app, stats))

    @app.task
    async def report_window_core() -> None:
        core = native.STATE
        log.log(
            logging.INFO if core == "native" else logging.WARNING,
            "window core: %s%s",
            core,
            "" if core == "native" else " - about a third slower on one-metric messages",
        )

    web_app = app.web.web_app  # type: ignore[attr-defined]
    middleware.install(web_app, settings.cors_origins, access.middleware)
    if identity is not None:
        web_app.on_cleanup.append(lambda _app: identity.close())
    return lk


#: Allocations between two young-generation collections in a worker (CPython's default: 700).
GC_GEN0 = 50_000


def tune_gc() -> None:
    """Fewer cyclic-GC passes in a worker: measured at about a fifth of its CPU on W1f.

    The window state is millions of long-lived objects (aggregates, panes, recent records) and a
    batch allocates hundreds of thousands more, so with CPython's default thresholds the
    collector ran ~2,000 young and ~10 full passes per 70,000 messages, each full pass walking
    the whole state. Objects that exist at start-up are frozen (never scanned again); young
    collections run every ``GC_GEN0`` allocations. Garbage cycles live a little longer; the
    state itself holds none.
    """
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0, gen1, gen2)
