"""Deleting a run's topics from a broker the bench did not start (best effort)."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient


async def delete_run_topics(bootstrap: str, marker: str) -> list[str]:
    """Delete every topic whose name contains ``marker``; returns the names deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if marker in name]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()
