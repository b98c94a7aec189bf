"""A worker's run-time parts (:class:`Lookout`), and the settings they are built from.

Built once by the composition root (app/worker.py) and handed to the agents and the HTTP API, so
neither imports the other or the root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import faust

from agents.fetcher import InputFetcher
from agents.pipeline import Pipeline
from agents.silences import SilenceReader
from agents.telemetry import Telemetry
from alerting.config import load_rules
from alerting.rules import Rule
from app.settings import Settings
from app.stats import Stats
from app.tenancy import TenantMap
from app.topics import TopicNames
from sinks.identity import IdentityStore
from tables.store import WindowStore
from tables.windows import WindowConfig

if TYPE_CHECKING:
    from sinks.service import SinkService


@dataclass
class Lookout:
    """Everything a worker is made of, built once from the settings."""

    settings: Settings
    app: faust.App
    topics: TopicNames
    stats: Stats
    store: WindowStore
    pipeline: Pipeline
    telemetry: Telemetry
    postgres_dsn: str | None = None
    elasticsearch_url: str | None = None
    embedded_es: bool = False
    silence_reader: SilenceReader | None = None
    fetcher: InputFetcher | None = None
    tenants: TenantMap = field(default_factory=lambda: TenantMap("default"))
    identity: IdentityStore | None = None
    # users disabled since their access tokens were signed: refused before the tokens expire
    disabled_users: set[int] = field(default_factory=set)
    # the sinks running inside this worker (`lookout worker` attaches them; /api/health shows them)
    sinks: SinkService | None = None


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
    sizes = {"tumbling": float(settings.tumbling_size), "hopping": float(settings.hopping_size)}
    return load_rules(settings.rules, window_sizes=sizes, counter_fields=settings.counter_fields)
