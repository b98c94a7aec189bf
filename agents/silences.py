"""Silences: a compacted topic every worker reads in full, so each knows every silence.

Writes come from the HTTP API (any worker); each worker's reader applies them to the alerts it
owns. A deleted silence is a tombstone. Expiry needs no message: silences are re-judged on the
wall-clock tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
from aiokafka import AIOKafkaConsumer

from alerting.silences import Silence

log = logging.getLogger(__name__)


class SilenceReader:
    """Follows the silences topic from the beginning; calls ``on_change`` with all silences."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        on_change: Callable[[dict[str, Silence]], object],
    ) -> None:
        self.bootstrap = bootstrap_servers
        self.topic = topic
        self.on_change = on_change
        self.silences: dict[str, Silence] = {}
        self.ready = asyncio.Event()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record (a silence, or a tombstone that deletes it)."""
        if key is None:
            return
        sid = key.decode()
        if value is None:
            self.silences.pop(sid, None)
            return
        try:
            self.silences[sid] = Silence.from_state(orjson.loads(value))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a bad silence record %s: %s", sid, exc)

    async def run(self) -> None:
        """Read forever (until cancelled), reconnecting after broker errors."""
        while True:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            try:
                await consumer.start()
                while True:
                    batch = await consumer.getmany(timeout_ms=1000)
                    if batch:
                        for records in batch.values():
                            for rec in records:
                                self.apply(rec.key, rec.value)
                        result = self.on_change(dict(self.silences))
                        if asyncio.iscoroutine(result):
                            await result
                    self.ready.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker gone for a while: retry
                log.warning("silence reader: %s; retrying in 2 s", exc)
                await asyncio.sleep(2)
            finally:
                await consumer.stop()
