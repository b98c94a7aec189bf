"""The live tail's source: a Kafka consumer of the log topics with no group (the I/O shell).

Each tail has its own consumer: no group (nothing committed, no rebalance between tails), every
partition of ``logs.nginx`` and ``logs.app`` assigned, starting at the end or at the positions a
client resumes from. Records are decoded into documents by the ES sink's own mapper
(:class:`~sinks.es_docs.EsMapper`, the pipeline's parsers), so a tailed line looks exactly as the
search will show it once stored; its ``tenant`` comes from the host->tenant map it is given (the
worker's, the one its other views answer by).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from app.tenancy import TenantMap
from app.topics import TopicNames
from logsearch.positions import Positions
from sinks.es_docs import EsMapper


@dataclass(frozen=True)
class TailMessage:
    """The documents of one Kafka message, its family (nginx/app) and the positions after it."""

    family: str
    docs: list[tuple[str, dict[str, Any]]]
    positions: Positions


class LogTail:
    """Reads the log topics from the end (or from given positions) for one live tail."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: TopicNames,
        *,
        prefix: str = "",
        tenants: TenantMap | None = None,
    ) -> None:
        self._servers = bootstrap_servers
        self._mapper = EsMapper(topics, prefix=prefix, tenants=tenants)
        self._families = {topics.logs_nginx: "nginx", topics.logs_app: "app"}
        self.topics = tuple(self._families)
        self.positions: Positions = {}
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, resume: Mapping[tuple[str, int], int] | None = None) -> None:
        """Connect, assign every partition and seek to the end or to ``resume``."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        self._consumer = consumer
        await consumer.start()
        await consumer.topics()
        parts = [
            TopicPartition(t, p)
            for t in self.topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(parts)
        resume = resume or {}
        fresh = [tp for tp in parts if (tp.topic, tp.partition) not in resume]
        ends = await consumer.end_offsets(fresh) if fresh else {}
        for tp in parts:
            offset = resume.get((tp.topic, tp.partition), ends.get(tp, 0))
            consumer.seek(tp, offset)
            self.positions[(tp.topic, tp.partition)] = offset

    async def stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def batches(self, wait: float) -> AsyncIterator[list[TailMessage]]:
        """Messages as they come, a batch at a time (an empty batch after ``wait`` seconds)."""
        assert self._consumer is not None, "start() first"
        while True:
            got = await self._consumer.getmany(timeout_ms=int(wait * 1000), max_records=500)
            out: list[TailMessage] = []
            records = sorted(
                (r for rs in got.values() for r in rs), key=lambda r: (r.timestamp, r.offset)
            )
            for rec in records:
                self.positions[(rec.topic, rec.partition)] = rec.offset + 1
                payload = self._mapper(rec).payload or []
                docs = [(d.id, orjson.loads(d.source)) for d in payload]
                out.append(TailMessage(self._families[rec.topic], docs, dict(self.positions)))
            yield out
