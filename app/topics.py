"""Topic names (stable contract) and explicit topic creation."""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings

METRICS = "telegraf.metrics"
LOGS_NGINX = "logs.nginx"
LOGS_APP = "logs.app"
WINDOWS = "lookout.windows"
ALERTS = "lookout.alerts"
DEADLETTER = "lookout.deadletter"
REKEY = "lookout.rekey"

INPUT_TOPICS = (METRICS, LOGS_NGINX, LOGS_APP)
OUTPUT_TOPICS = (WINDOWS, ALERTS, DEADLETTER, REKEY)
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
        )

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
        )
