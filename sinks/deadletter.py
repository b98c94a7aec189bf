"""Records a sink could not store, sent to ``lookout.deadletter`` with the reason.

Same shape as the worker's dead letters (tables/store.py): ``reason``, ``detail``, source
``topic``/``partition``/``offset``, ``key``, ``at``, ``original`` (text) and ``original_b64``;
plus ``sink`` and ``item`` (the index of the refused record inside the Kafka message, or null
for the whole message). Reason codes: ``postgres_rejected``, ``elasticsearch_rejected``.
A dead letter is sent before the batch's offsets are committed, so it is never lost; a replay
may send it again (at least once).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from sinks.batch import Rejection


def reason_of(sink: str) -> str:
    """Dead-letter reason code of a sink's refusals."""
    return f"{sink}_rejected"


def dead_letter_record(sink: str, rejection: Rejection, at: float) -> dict[str, Any]:
    """The JSON record for one refused message or item."""
    msg = rejection.msg
    record: dict[str, Any] = {
        "reason": reason_of(sink),
        "detail": rejection.detail,
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": msg.key.decode("utf-8", "replace") if msg.key else None,
        "at": at,
        "sink": sink,
        "item": rejection.item,
    }
    if msg.value is not None:
        record["original_b64"] = base64.b64encode(msg.value).decode()
        with contextlib.suppress(UnicodeDecodeError):
            record["original"] = msg.value.decode("utf-8")
    return record


class DeadLetters:
    """Sends refusals to the dead-letter topic through one producer shared by the sinks."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        clock: Callable[[], float] = time.time,
        producer: Any = None,
    ) -> None:
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._clock = clock
        self._producer = producer
        self._started = False

    async def start(self) -> None:
        """Create and start the producer (it connects lazily: a broker outage is retried)."""
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id="lookout-sinks-deadletter",
                acks="all",
                linger_ms=5,
            )
        if not self._started:
            await self._producer.start()
            self._started = True

    async def stop(self) -> None:
        """Flush and stop the producer."""
        if self._producer is not None and self._started:
            self._started = False
            await self._producer.stop()

    async def send(self, sink: str, rejections: Sequence[Rejection]) -> None:
        """Send every refusal and wait until the broker has them all."""
        if not rejections:
            return
        if not self._started:
            await self.start()
        at = self._clock()
        futures = [
            await self._producer.send(
                self.topic,
                orjson.dumps(dead_letter_record(sink, r, at)),
                key=r.msg.key,
            )
            for r in rejections
        ]
        await asyncio.gather(*futures)
