"""The Elasticsearch sink: templates, ``_bulk`` with deterministic ids, per-item outcomes.

* The official async client (sinks.es_client); the osmem header adapter is used for the embedded
  server, also when it is reached through ``LOOKOUT_ELASTICSEARCH_URL`` (detected from ``GET /``).
* Templates are (re)installed before the first write and after every failure, so an index created
  after the server came back always gets the right mappings.
* Per bulk item: 2xx stored; 429/5xx (and 409) retried with backoff, only those items; other
  4xx (a mapping error: bad IP, bad number) refused -> dead-letter topic with the server's reason.
* Lost writes: osmem keeps everything in memory, so a restart empties it while the sink's
  committed offsets say "written". For each partition the sink keeps a marker document in
  ``{prefix}lookout-sink-markers``; a missing marker means the store lost what the sink wrote
  there, and the runner rewinds that partition to its start and writes it again (ids make this
  an overwrite, never a copy). The same holds on real Elasticsearch if the indices are wiped.
* Embedded osmem only: it holds every document in memory (measured: ~560 MB after 10k nginx
  docs, ~880 MB after 40k, and deleting indices does not give memory back, though it is reused).
  So it keeps the ``LOOKOUT_ES_LOCAL_MAX_DAYS`` newest daily indices per log kind and, across
  them, the ``LOOKOUT_ES_LOCAL_MAX_DOCS`` newest documents (older ones deleted by query, checked
  every minute and after each ``max_docs / 2`` documents written, so a burst or a rewrite stays
  bounded too); with a 10k cap its memory stayed at 650-710 MB over 60k documents written.
  Real Elasticsearch: use ILM for retention; nothing is deleted here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import elasticsearch
from aiokafka.structs import TopicPartition
from elasticsearch import AsyncElasticsearch

from app.topics import TopicNames
from sinks.batch import Batch, Entry, Mapped, Message, Rejection, WriteResult
from sinks.errors import Failure, classify_status
from sinks.es_client import flavour, is_osmem, make_es_client
from sinks.es_docs import Doc, EsMapper, Patterns, bulk_body
from sinks.es_templates import FAMILIES, MARKERS, family_pattern, indices_to_drop, templates
from sinks.host_tenants import HostTenants, keyed_hosts

log = logging.getLogger(__name__)

BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"
BULK_DOCS = 5000  # documents per _bulk request
# Bytes per _bulk request: under aiohttp's 1 MiB mark, past which it warns that sending raw bytes
# may block the event loop (the worker's loop, when the sinks run inside it).
BULK_BYTES = 1_000_000
_STORED: dict[str, Any] = {"index": {"status": 201}}
MAX_RESULT_WINDOW = 10_000


def marker_id(group: str, tp: TopicPartition) -> str:
    """``_id`` of the marker of one partition of a sink group."""
    return f"{group}|{tp.topic}|{tp.partition}"


def bulk_outcome(
    batch: Batch[list[Doc]], items: list[dict[str, Any]], prefix: str
) -> WriteResult[list[Doc]]:
    """Sort the items of a ``_bulk`` answer into stored, refused and to-retry (pure)."""
    written: dict[str, int] = {}
    rejected: list[Rejection] = []
    retry: dict[int, list[Doc]] = {}
    reasons: set[str] = set()
    docs = [(n, doc) for n, entry in enumerate(batch.entries) for doc in entry.payload]
    for (n, doc), item in zip(docs, items, strict=True):
        result = next(iter(item.values()))
        status = int(result.get("status", 500))
        if status < 300:
            family = _family(doc.index, prefix)
            written[family] = written.get(family, 0) + 1
            continue
        error = result.get("error") or {}
        reason = f"HTTP {status} {error.get('type', '')}: {error.get('reason', '')}".strip()
        if classify_status(status) is Failure.BAD_DATA:
            rejected.append(Rejection(batch.entries[n].msg, doc.item, f"{doc.index}: {reason}"))
        else:
            retry.setdefault(n, []).append(doc)
            reasons.add(f"HTTP {status}")
    again = None
    if retry:
        again = batch.replace([Entry(batch.entries[n].msg, kept) for n, kept in retry.items()])
    return WriteResult(written, rejected, again, ", ".join(sorted(reasons)))


def chunks(docs: list[Doc], max_docs: int, max_bytes: int) -> list[list[Doc]]:
    """Consecutive runs of ``docs`` of at most ``max_docs`` documents and about ``max_bytes``."""
    out: list[list[Doc]] = []
    current: list[Doc] = []
    size = 0
    for doc in docs:
        cost = len(doc.source) + len(doc.index) + len(doc.id) + 40
        if current and (len(current) >= max_docs or size + cost > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(doc)
        size += cost
    if current:
        out.append(current)
    return out


def _family(index: str, prefix: str) -> str:
    name = index[len(prefix) :]
    return next((f for f in FAMILIES if name.startswith(f + "-")), name)


class ElasticsearchWriter:
    """Writes nginx and app log documents to daily indices."""

    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        topics: TopicNames,
        *,
        embedded: bool,
        group: str,
        prefix: str = "",
        timeout: float = 30.0,
        local_max_days: int = 3,
        local_max_docs: int = 20_000,
        clock: Callable[[], float] = time.time,
        bulk_docs: int = BULK_DOCS,
        bulk_bytes: int = BULK_BYTES,
        tenants: HostTenants | None = None,
    ) -> None:
        self._url = url
        self.bulk_docs = bulk_docs
        self.bulk_bytes = bulk_bytes
        self._embedded = embedded
        self.group = group
        self.prefix = prefix
        self.timeout = timeout
        self.local_max_days = local_max_days
        self.local_max_docs = local_max_docs
        self._since_prune = 0
        self._clock = clock
        self.tenants = tenants if tenants is not None else HostTenants()
        self._mapper = EsMapper(topics, prefix=prefix, tenants=self.tenants.map)
        self.topics: tuple[str, ...] = self._mapper.topics
        self.markers = f"{prefix}{MARKERS}"
        self.client: AsyncElasticsearch | None = None
        self.osmem = False
        self.flavour = "elasticsearch"
        self._ready = False

    async def setup(self) -> None:
        """Create the client (it connects on first use)."""
        if self.client is None:
            self.client = make_es_client(
                self._url, embedded=self._embedded, request_timeout=self.timeout, max_retries=0
            )

    async def prepare(self, messages: Sequence[Message]) -> None:
        """Make the host->tenant map current for the hosts of the batch (sinks.host_tenants)."""
        await self.tenants.ensure(keyed_hosts(messages, self.topics))

    def map(self, msg: Message, patterns: Patterns = None) -> Mapped[list[Doc]]:
        """Documents of one message (see sinks.es_docs)."""
        return self._mapper(msg, patterns)

    async def ensure_ready(self) -> None:
        """Learn what the server is and install the templates (again after a failure)."""
        if self._ready:
            return
        client = self._client()
        info = (await client.info()).body
        self.osmem, self.flavour = is_osmem(info), flavour(info)
        if self.osmem and not self._embedded:
            await client.close()
            self._embedded = True
            self.client = client = make_es_client(
                self._url, embedded=True, request_timeout=self.timeout, max_retries=0
            )
        for name, body in templates(self.prefix, self.flavour).items():
            await client.indices.put_index_template(
                name=name,
                index_patterns=body["index_patterns"],
                template=body["template"],
                priority=body["priority"],
            )
        self._ready = True

    async def write(self, batch: Batch[list[Doc]]) -> WriteResult[list[Doc]]:
        """``_bulk`` requests of at most ``bulk_docs`` documents; see :func:`bulk_outcome`."""
        docs = [doc for payload in batch.payloads() for doc in payload]
        if not docs:
            return WriteResult()
        items: list[dict[str, Any]] = []
        errors = False
        try:
            await self.ensure_ready()
            for chunk in chunks(docs, self.bulk_docs, self.bulk_bytes):
                resp = await self._client().bulk(
                    operations=bulk_body(chunk),  # type: ignore[arg-type]
                    filter_path=BULK_FILTER,
                )
                if resp.body.get("errors"):
                    errors = True
                    items.extend(resp.body["items"])
                else:
                    items.extend(_STORED for _ in chunk)
        except Exception:
            self._ready = False
            raise
        await self._prune_if_due(len(docs))
        if errors:
            return bulk_outcome(batch, items, self.prefix)
        written: dict[str, int] = {}
        for doc in docs:
            family = _family(doc.index, self.prefix)
            written[family] = written.get(family, 0) + 1
        return WriteResult(written)

    async def _prune_if_due(self, added: int) -> None:
        """osmem: keep the doc cap between the minutely upkeep runs (never fails the write)."""
        if not self.osmem:
            return
        self._since_prune += added
        if self._since_prune < self.local_max_docs // 2:
            return
        try:
            await self.prune_docs()
        except Exception as exc:
            log.warning("elasticsearch: could not trim osmem to its doc cap: %s", exc)

    async def lost(self, tps: Collection[TopicPartition]) -> set[TopicPartition]:
        """Partitions whose marker is gone: the store lost what the sink wrote for them."""
        ordered = sorted(tps)
        try:
            await self.ensure_ready()
            resp = await self._client().mget(
                index=self.markers,
                ids=[marker_id(self.group, tp) for tp in ordered],
                realtime=True,
            )
        except elasticsearch.NotFoundError:
            return set(ordered)  # no marker index at all
        except Exception:
            self._ready = False
            raise
        docs = resp.body.get("docs", [])
        return {tp for tp, doc in zip(ordered, docs, strict=True) if not doc.get("found")}

    async def mark(self, tps: Collection[TopicPartition]) -> None:
        """Write the markers of ``tps`` (``mget`` is real-time: no refresh needed)."""
        now = self._clock()
        operations: list[dict[str, Any]] = []
        for tp in sorted(tps):
            operations.append({"index": {"_index": self.markers, "_id": marker_id(self.group, tp)}})
            operations.append(
                {"@timestamp": int(now * 1000), "group": self.group, "topic": tp.topic,
                 "partition": tp.partition}
            )  # fmt: skip
        try:
            resp = await self._client().bulk(operations=operations)
        except Exception:
            self._ready = False
            raise
        if resp.body.get("errors"):
            raise RuntimeError(f"elasticsearch: could not write sink markers: {resp.body}")

    async def maintain(self) -> None:
        """osmem only: drop daily indices beyond ``local_max_days``, then cap the documents."""
        if not self._ready:
            await self.ensure_ready()
        if not self.osmem:
            return
        client = self._client()
        for family in FAMILIES:
            found = await client.indices.get(
                index=family_pattern(self.prefix, family),
                allow_no_indices=True,
                ignore_unavailable=True,
            )
            old = indices_to_drop(found.body, self.prefix, family, self.local_max_days)
            if old:
                await client.indices.delete(index=",".join(old))
                log.info("elasticsearch: osmem holds every doc in memory; deleted %s", old)
        await self.prune_docs()

    async def prune_docs(self) -> int:
        """Delete the oldest log documents beyond ``local_max_docs``; returns how many."""
        client = self._client()
        pattern = f"{self.prefix}logs-*"
        self._since_prune = 0
        await client.indices.refresh(index=pattern, allow_no_indices=True, ignore_unavailable=True)
        count = (await client.count(index=pattern, allow_no_indices=True)).body["count"]
        deleted = 0
        while count > self.local_max_docs:
            # The search window is at most 10,000 deep: trim in steps of at most that.
            step = min(count - self.local_max_docs, MAX_RESULT_WINDOW)
            hit = await client.search(
                index=pattern,
                sort=[{"@timestamp": "asc"}],
                from_=step - 1,
                size=1,
                source_includes=["@timestamp"],
            )
            hits = hit.body["hits"]["hits"]
            if not hits:
                break
            cut = hits[0]["_source"]["@timestamp"]
            resp = await client.delete_by_query(
                index=pattern, query={"range": {"@timestamp": {"lte": cut}}}, refresh=True
            )
            gone = int(resp.body.get("deleted", 0))
            if gone == 0:
                break
            deleted += gone
            count -= gone
        if deleted:
            log.info(
                "elasticsearch: osmem doc cap %d: deleted the %d oldest",
                self.local_max_docs,
                deleted,
            )
        return deleted

    async def close(self) -> None:
        """Close the client."""
        client, self.client = self.client, None
        if client is not None:
            await client.close()

    def _client(self) -> AsyncElasticsearch:
        if self.client is None:
            raise RuntimeError("elasticsearch writer: setup() was not called")
        return self.client
