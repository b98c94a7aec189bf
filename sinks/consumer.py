"""The Kafka consumer of a sink: its own group, manual commits, a bounded prefetch."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from app.settings import Settings

MAX_PARTITION_FETCH = 1_048_576


def group_id(settings: Settings, sink: str) -> str:
    """Consumer group of a sink: ``{app_id}-sink-{name}``."""
    return f"{settings.app_id}-sink-{sink}"


def consumer_factory(
    settings: Settings, bootstrap_servers: str, sink: str
) -> Callable[[], AIOKafkaConsumer]:
    """A factory of the sink's consumer (created inside the running event loop).

    ``enable_auto_commit=False``: the runner commits after the write. ``auto_offset_reset=
    earliest``: a new group reads the topics from their start. ``fetch_max_bytes`` is the batch
    byte budget, so what aiokafka prefetches while a write is retried stays bounded.
    """
    budget = settings.sink_batch_bytes

    def make() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id(settings, sink),
            client_id=f"{settings.app_id}-sink-{sink}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=budget,
            max_partition_fetch_bytes=min(MAX_PARTITION_FETCH, budget),
            max_poll_records=settings.sink_batch_max,
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(min(3.0, settings.session_timeout / 3) * 1000),
            # Outages are ridden out by retrying in place; rejoining after a long one is fine
            # (the group replays from the last commit), so keep the default poll interval.
            isolation_level="read_uncommitted",
        )

    return make
