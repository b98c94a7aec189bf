"""Fan-out to the other workers of the app: list endpoints ask every worker, writes find the owner.

A request forwarded to a peer carries ``?local=1``, so the peer answers for itself only and never
fans out again. Peers are the workers that own partitions of the window table (Faust's
assignment metadata); requests go through the app's one HTTP client session. A peer that does
not answer in time is counted (``lookout_web_fanout_errors_total``) and left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import faust

from app.stats import Stats

GET_TIMEOUT = aiohttp.ClientTimeout(total=3)
POST_TIMEOUT = aiohttp.ClientTimeout(total=5)


class Peers:
    """The other workers, and GET/POST helpers that ask them with ``?local=1``."""

    def __init__(self, app: faust.App, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    def urls(self) -> list[str]:
        """Base URLs of every other worker that owns partitions (none before assignment)."""
        me = str(self.app.conf.canonical_url).rstrip("/")
        try:
            urls = {str(u).rstrip("/") for u in self.app.router.tables_metadata()}
        except Exception:  # no assignment yet
            return []
        return sorted(u for u in urls if u != me)

    @property
    def _session(self) -> aiohttp.ClientSession:
        return self.app.http_client

    async def get_all(
        self, path: str, params: Mapping[str, str] | None = None, *, request: Any = None
    ) -> list[Any]:
        """GET ``path`` on every peer at once; the JSON documents of those that answered 200.

        The caller's ``Authorization`` (of ``request``) goes along: a peer answers only what
        the caller may see.
        """
        query = {**(params or {}), "local": "1"}
        auth = request.headers.get("Authorization") if request is not None else None
        headers = {"Authorization": auth} if auth else {}

        async def one(url: str) -> Any:
            try:
                async with self._session.get(
                    url + path, params=query, headers=headers, timeout=GET_TIMEOUT
                ) as r:
                    return await r.json() if r.status == 200 else None
            except (TimeoutError, aiohttp.ClientError, ValueError):
                self.stats.inc("lookout_web_fanout_errors_total")
                return None

        answers = await asyncio.gather(*(one(u) for u in self.urls()))
        return [a for a in answers if a is not None]

    async def post(
        self,
        path: str,
        *,
        body: bytes | None = None,
        authorization: str = "",
        until: Callable[[int], bool] | None = None,
    ) -> tuple[int, Any] | None:
        """POST ``path`` to the peers one by one.

        With ``until``, stop at the first answer whose status satisfies it and return
        ``(status, document)``; without, post to every peer and return None.
        """
        headers = {"Authorization": authorization} if authorization else {}
        for url in self.urls():
            try:
                async with self._session.post(
                    url + path,
                    params={"local": "1"},
                    data=body,
                    headers=headers,
                    timeout=POST_TIMEOUT,
                ) as resp:
                    if until is not None and until(resp.status):
                        return resp.status, await resp.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError, ValueError):
                self.stats.inc("lookout_web_fanout_errors_total")
        return None
