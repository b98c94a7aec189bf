"""Elasticsearch client factory, with the header adapter that the embedded osmem-server needs.

The official ``elasticsearch`` 9.x client sends ``application/vnd.elasticsearch+json;
compatible-with=9``; osmem-server answers HTTP 406 to that. :class:`PlainMimetypeNode` rewrites
those media types to plain ``application/json`` / ``application/x-ndjson``. Real Elasticsearch
needs no adapter, so :func:`make_es_client` applies it only for the embedded server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from elastic_transport import AiohttpHttpNode, HttpHeaders, NodeConfig
from elastic_transport._node import NodeApiResponse
from elastic_transport.client_utils import DEFAULT, DefaultType
from elasticsearch import AsyncElasticsearch

_COMPAT_MIMETYPE = re.compile(
    r"application/vnd\.elasticsearch\+([\w.-]+)(?:\s*;\s*compatible-with=\d+)?", re.IGNORECASE
)
_REWRITTEN = ("accept", "content-type")


def plain_mimetype(value: str) -> str:
    """``application/vnd.elasticsearch+json; compatible-with=9`` -> ``application/json``."""
    return _COMPAT_MIMETYPE.sub(r"application/\1", value)


def _plain_headers(headers: HttpHeaders) -> HttpHeaders:
    plain = headers.copy()
    for name in _REWRITTEN:
        value = plain.get(name)
        if value:
            plain[name] = plain_mimetype(value)
    return plain


class PlainMimetypeNode(AiohttpHttpNode):
    """aiohttp node that sends plain JSON media types (for osmem-server)."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)
        self._headers = _plain_headers(self._headers)

    async def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: DefaultType | float | None = DEFAULT,
    ) -> NodeApiResponse:
        """Send the request with ``Accept``/``Content-Type`` rewritten to plain media types."""
        return await super().perform_request(
            method,
            target,
            body=body,
            headers=_plain_headers(headers) if headers else headers,
            request_timeout=request_timeout,
        )


def make_es_client(
    url: str,
    *,
    embedded: bool,
    api_key: str | None = None,
    request_timeout: float | None = None,
    max_retries: int | None = None,
) -> AsyncElasticsearch:
    """Async client for ``url``; ``embedded`` (osmem-server) adds the media-type adapter.

    ``request_timeout`` and ``max_retries`` default to the client's own (10 s, 3 retries).
    """
    options: dict[str, Any] = {}
    if request_timeout is not None:
        options["request_timeout"] = request_timeout
    if max_retries is not None:
        options["max_retries"] = max_retries
    return AsyncElasticsearch(
        url,
        node_class=PlainMimetypeNode if embedded else AiohttpHttpNode,
        api_key=api_key,
        **options,
    )


def is_osmem(info: Mapping[str, Any]) -> bool:
    """True if a root ``GET /`` answer comes from osmem-server (in-memory, loses data on exit)."""
    version = info.get("version") or {}
    return info.get("cluster_name") == "osmem" or version.get("build_hash") == "osmem"


def flavour(info: Mapping[str, Any]) -> str:
    """``opensearch`` (osmem, OpenSearch) or ``elasticsearch``, from a root ``GET /`` answer."""
    version = info.get("version") or {}
    if is_osmem(info) or version.get("distribution") == "opensearch":
        return "opensearch"
    return "elasticsearch"
