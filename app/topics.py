"""Topic names (stable contract) and explicit topic creation."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from app.settings import Settings

METRICS = "telegraf.metrics"
LOGS_NGINX = "logs.nginx"
LOGS_APP = "logs.app"
WINDOWS = "lookout.windows"
ALERTS = "lookout.alerts"
DEADLETTER = "lookout.deadletter"
REKEY = "lookout.rekey"
SILENCES = "lookout.silences"
PATTERNS = "lookout.patterns"

INPUT_TOPICS = (METRICS, LOGS_NGINX, LOGS_APP)
OUTPUT_TOPICS = (WINDOWS, ALERTS, DEADLETTER, REKEY, SILENCES, PATTERNS)
ALL_TOPICS = INPUT_TOPICS + OUTPUT_TOPICS


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full topic names after the configured prefix."""

    metrics: str
    logs_nginx: str
    logs_app: str
    windows: str
    alerts: str
    deadletter: str
    rekey: str
    silences: str
    patterns: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        """Apply ``LOOKOUT_TOPIC_PREFIX`` to every name."""
        t = settings.topic
        return cls(
            metrics=t(METRICS),
            logs_nginx=t(LOGS_NGINX),
            logs_app=t(LOGS_APP),
            windows=t(WINDOWS),
            alerts=t(ALERTS),
            deadletter=t(DEADLETTER),
            rekey=t(REKEY),
            silences=t(SILENCES),
            patterns=t(PATTERNS),
        )

    def inputs(self) -> tuple[str, ...]:
        """The topics the ingest agent consumes (window state is built from these)."""
        return (self.metrics, self.logs_nginx, self.logs_app, self.rekey)

    def all(self) -> tuple[str, ...]:
        """Every topic Lookout reads or writes."""
        return (
            self.metrics,
            self.logs_nginx,
            self.logs_app,
            self.windows,
            self.alerts,
            self.deadletter,
            self.rekey,
            self.silences,
            self.patterns,
        )


class TopicError(RuntimeError):
    """A topic exists with the wrong shape, or the broker refused to create it."""


async def ensure_topics(
    settings: Settings, bootstrap_servers: str, *, log: Callable[[str], None] | None = None
) -> list[str]:
    """Create every Lookout topic with the configured partitions; return the ones created.

    Input topics must all have the same partition count (records of a host are co-partitioned
    across topics and with the window table's changelog); a mismatch is an error naming the fix.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    names = TopicNames.from_settings(settings).all()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            new = [
                NewTopic(
                    name=n,
                    num_partitions=settings.partitions,
                    replication_factor=settings.replication_factor,
                    topic_configs=(
                        {"cleanup.policy": "compact"}
                        if n.endswith(SILENCES)
                        else {"retention.ms": str(7 * 24 * 3600 * 1000)}
                    ),
                )
                for n in missing
            ]
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            if log:
                log(f"topics: created {', '.join(missing)} ({settings.partitions} partitions)")
        present = [n for n in names if n in existing]
        if present:
            described = await admin.describe_topics(present)
            for topic in described:
                count = len(topic.get("partitions", []))
                if count and count != settings.partitions:
                    raise TopicError(
                        f"topic {topic['topic']} has {count} partitions but LOOKOUT_PARTITIONS="
                        f"{settings.partitions}; set LOOKOUT_PARTITIONS={count} or recreate it"
                    )
        return missing
    finally:
        await admin.close()
