"""Reads the log indices for the logs API: search pages and statistics (the I/O shell).

The bodies come from :mod:`logsearch.query`; this module only picks the indices, sends the
request and turns the answer into the API's. One client per process, created on first use
(:func:`~sinks.es_client.make_es_client`; the osmem adapter when the server turns out to be the
embedded one). A server that cannot be reached raises :class:`LogStoreUnavailable` (the view
answers 503); a request the server refuses (4xx) raises ``BadParam`` naming ``q``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import elasticsearch
from elasticsearch import AsyncElasticsearch

from logsearch.cursor import Cursor, decode_cursor, encode_cursor
from logsearch.params import BadParam, SearchRequest, StatsRequest
from logsearch.query import (
    count_body,
    entry,
    last_sort,
    page_span,
    search_body,
    stats_answer,
    stats_body,
    time_slices,
    total,
)
from sinks.es_client import is_osmem, make_es_client
from sinks.es_templates import daily_index, family_pattern

log = logging.getLogger(__name__)

FAMILY = {"nginx": "logs-nginx", "app": "logs-app"}
DAY_MS = 86_400_000
FEW_MATCHES = 2_000  # a first page whose range matches at most this many lines: two requests
MAX_DAYS_NAMED = 31  # a longer range asks for the family wildcard


class LogStoreUnavailable(RuntimeError):
    """Elasticsearch cannot be reached or failed (HTTP 5xx)."""


class LogSearch:
    """Search and statistics over the daily log indices."""

    def __init__(
        self,
        url: str,
        *,
        embedded: bool,
        prefix: str,
        cursor_key: bytes,
        timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._embedded = embedded
        self.prefix = prefix
        self._key = cursor_key
        self._timeout = timeout
        self._client: AsyncElasticsearch | None = None
        self._checked = False

    async def _es(self) -> AsyncElasticsearch:
        if self._client is None:
            self._client = make_es_client(
                self._url, embedded=self._embedded, request_timeout=self._timeout, max_retries=1
            )
        if not self._checked and not self._embedded:
            info = (await self._call(self._client.info())).body
            if is_osmem(info):
                await self._client.close()
                self._embedded = True
                self._client = make_es_client(
                    self._url, embedded=True, request_timeout=self._timeout, max_retries=1
                )
        self._checked = True
        return self._client

    async def close(self) -> None:
        """Close the client (if one was made)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def indices(self, sources: tuple[str, ...], start_ms: int, end_ms: int) -> str:
        """Comma list of the daily indices of ``sources`` that can hold ``[start_ms, end_ms)``."""
        return ",".join(daily_indices(self.prefix, FAMILY[s], start_ms, end_ms) for s in sources)

    async def _search(self, es: AsyncElasticsearch, index: str, body: dict[str, Any]) -> Any:
        request = es.search(index=index, body=body, ignore_unavailable=True, allow_no_indices=True)
        return (await self._call(request)).body

    async def _call(self, request: Any) -> Any:
        try:
            return await request
        except elasticsearch.BadRequestError as exc:
            raise BadParam("q", f"Elasticsearch refused the query: {_reason(exc)}") from None
        except (elasticsearch.ApiError, elasticsearch.TransportError) as exc:
            log.warning("log search failed: %s", exc)
            raise LogStoreUnavailable(f"Elasticsearch failed: {type(exc).__name__}") from None

    async def search(self, req: SearchRequest) -> dict[str, Any]:
        """One page, newest first, with the cursor of the next page (None on the last page)."""
        flt = req.filter
        start, end, after = flt.start, flt.end, None
        if req.cursor is not None:
            cursor = decode_cursor(req.cursor, self._key, flt.fingerprint)
            start, end, after = cursor.start, cursor.end, cursor.after
        es = await self._es()
        began = time.perf_counter()
        counting = None
        if after is None:  # the first page's total, counted while the page is read
            index = self.indices(flt.sources, int(start * 1000), int(end * 1000))
            counting = asyncio.ensure_future(self._search(es, index, count_body(flt, start, end)))
        try:
            hits = await self._page(es, req, page_span(start, end, after), after, counting)
            counted = total(await counting) if counting is not None else None
        finally:
            if counting is not None and not counting.done():
                counting.cancel()
        last = last_sort(hits)
        following = None
        if last is not None and len(hits) == req.limit:
            following = encode_cursor(Cursor(last, start, end, flt.fingerprint), self._key)
        return {
            "entries": [entry(h) for h in hits],
            "total": counted,
            "cursor": following,
            "took_ms": round((time.perf_counter() - began) * 1000, 1),
        }

    async def _page(
        self,
        es: AsyncElasticsearch,
        req: SearchRequest,
        span: tuple[int, int],
        after: tuple[int, str] | None,
        counting: asyncio.Future[Any] | None,
    ) -> list[dict[str, Any]]:
        """The page's hits, read slice by slice (newest first) until it is full.

        Once the first page's count shows that few lines match at all, the rest of the range is
        read in one request (sorting a few lines costs less than another round trip).
        """
        hits: list[dict[str, Any]] = []
        for n, (lo, hi) in enumerate(time_slices(*span)):
            if n == 1 and counting is not None:
                counted = total(await counting)
                if counted is not None and counted["value"] <= FEW_MATCHES:
                    lo = span[0]
            body = search_body(req, lo, hi, after if n == 0 else None, req.limit - len(hits))
            answer = await self._search(es, self.indices(req.filter.sources, lo, hi), body)
            hits.extend((answer.get("hits") or {}).get("hits") or [])
            if len(hits) >= req.limit or lo <= span[0]:
                break
        return hits

    async def stats(self, req: StatsRequest) -> dict[str, Any]:
        """Counts per histogram bucket, split by a field's top N values."""
        es = await self._es()
        flt = req.filter
        index = self.indices(flt.sources, int(flt.start * 1000), int(flt.end * 1000))
        return stats_answer(req, await self._search(es, index, stats_body(req)))


def daily_indices(prefix: str, family: str, start_ms: int, end_ms: int) -> str:
    """The daily indices of ``family`` whose UTC day meets ``[start_ms, end_ms)`` (comma list).

    The sink puts a line in the index of its ``@timestamp``'s UTC day (sinks.es_docs), so no
    other index can match the range; over :data:`MAX_DAYS_NAMED` days, the family wildcard.
    """
    first, last = start_ms // DAY_MS, (max(start_ms, end_ms - 1)) // DAY_MS
    if last - first >= MAX_DAYS_NAMED:
        return family_pattern(prefix, family)
    days = (
        datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y.%m.%d")
        for day in range(first, last + 1)
    )
    return ",".join(daily_index(prefix, family, day) for day in days)


def _reason(exc: elasticsearch.ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    reason = error.get("reason") if isinstance(error, dict) else None
    return str(reason or exc.message)[:200]
