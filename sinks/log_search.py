"""Reads the log indices for the logs API: search pages and statistics (the I/O shell).

The bodies come from :mod:`logsearch.query`; this module only picks the indices, sends the
request and turns the answer into the API's. One client per process, created on first use
(:func:`~sinks.es_client.make_es_client`; the osmem adapter when the server turns out to be the
embedded one). A server that cannot be reached raises :class:`LogStoreUnavailable` (the view
answers 503); a request the server refuses (4xx) raises ``BadParam`` naming ``q``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import elasticsearch
from elasticsearch import AsyncElasticsearch

from logsearch.cursor import Cursor, decode_cursor, encode_cursor
from logsearch.params import BadParam, SearchRequest, StatsRequest
from logsearch.query import entry, last_sort, search_body, stats_answer, stats_body, total
from sinks.es_client import is_osmem, make_es_client
from sinks.es_templates import family_pattern

log = logging.getLogger(__name__)

FAMILY = {"nginx": "logs-nginx", "app": "logs-app"}


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

    def indices(self, sources: tuple[str, ...]) -> str:
        """Comma list of the index wildcards of ``sources``."""
        return ",".join(family_pattern(self.prefix, FAMILY[s]) for s in sources)

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
        answer = (
            await self._call(
                es.search(
                    index=self.indices(flt.sources),
                    body=search_body(req, start, end, after),
                    ignore_unavailable=True,
                    allow_no_indices=True,
                )
            )
        ).body
        hits = (answer.get("hits") or {}).get("hits") or []
        last = last_sort(hits)
        following = None
        if last is not None and len(hits) == req.limit:
            following = encode_cursor(Cursor(last, start, end, flt.fingerprint), self._key)
        return {
            "entries": [entry(h) for h in hits],
            "total": total(answer) if after is None else None,
            "cursor": following,
            "took_ms": round((time.perf_counter() - began) * 1000, 1),
        }

    async def stats(self, req: StatsRequest) -> dict[str, Any]:
        """Counts per histogram bucket, split by a field's top N values."""
        es = await self._es()
        answer = (
            await self._call(
                es.search(
                    index=self.indices(req.filter.sources),
                    body=stats_body(req),
                    ignore_unavailable=True,
                    allow_no_indices=True,
                )
            )
        ).body
        return stats_answer(req, answer)


def _reason(exc: elasticsearch.ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    reason = error.get("reason") if isinstance(error, dict) else None
    return str(reason or exc.message)[:200]
