"""Log search, statistics and live tail: ``/api/logs/search``, ``/stats``, ``/tail``.

Search and statistics read Elasticsearch (:mod:`sinks.log_search`); the tail reads the Kafka log
topics (:mod:`sinks.log_tail`), never Elasticsearch, and streams Server-Sent Events. Parameters
are checked by :mod:`logsearch.params`: a wrong one answers 400 ``{"error", "param"}`` naming it.
No Elasticsearch configured or reachable: 503. A caller (its bearer token, else its address) may
keep ``LOOKOUT_LOGS_TAIL_PER_CALLER`` tails open; one more answers 429.

Every operation answers only the caller's tenants: the views add the tenants of the caller's
token to the filter (:func:`logsearch.params.scoped`; a ``tenant`` parameter narrows within
them, another tenant's answers empty). Documents carry their host's tenant (the sink writes it);
the tail labels each line with the worker's host->tenant map before it filters.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web as aioweb
from faust import web

from app.api.access import caller
from app.ratelimit import ConcurrencyLimit
from app.services import bootstrap_servers
from logsearch.match import TextQuery, matches, text_query
from logsearch.params import BadParam, LogFilter, parse_search, parse_stats, parse_tail, scoped
from logsearch.positions import HEADER, event_id, parse_event_id
from logsearch.query import entry
from sinks.es_templates import index_prefix
from sinks.log_search import LogSearch, LogStoreUnavailable
from sinks.log_tail import LogTail, TailMessage

if TYPE_CHECKING:
    from agents.runtime import Lookout

log = logging.getLogger(__name__)

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
RETRY_MS = 2000


TAILS_OPEN = "lookout_log_tails_open"  # live tails open now, all callers (a gauge)


def query_params(request: web.Request) -> dict[str, list[str]]:
    """The query string as name -> values (a parameter may repeat)."""
    query = request.query
    return {name: query.getall(name) for name in query}  # type: ignore[attr-defined]


def bad_param(view: web.View, exc: BadParam) -> web.Response:
    """400 naming the parameter."""
    return view.json({"error": str(exc), "param": exc.param}, status=400)


def caller_of(request: web.Request) -> str:
    """Who is asking: a digest of the bearer token, else the peer address."""
    token = request.headers.get("Authorization", "")
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return "addr:" + str(getattr(request, "remote", None) or "unknown")


def sse_event(
    message: TailMessage, flt: LogFilter, words: TextQuery, event_id: str
) -> bytes | None:
    """The SSE event of a message's matching documents (None when none match)."""
    entries = [
        entry({"_id": log_id, "_source": doc})
        for log_id, doc in message.docs
        if matches(doc, message.family, flt, words)
    ]
    if not entries:
        return None
    data = orjson.dumps({"entries": entries}).decode()
    return f"id: {event_id}\nevent: logs\ndata: {data}\n\n".encode()


def register_log_views(lk: Lookout, broker_url: str) -> None:
    """Add ``/api/logs/search``, ``/api/logs/stats`` and ``/api/logs/tail``."""
    app, settings = lk.app, lk.settings
    prefix = index_prefix(settings.topic_prefix)
    secret = settings.logs_cursor_secret
    key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
    store: LogSearch | None = None
    if lk.elasticsearch_url:
        store = LogSearch(
            lk.elasticsearch_url, embedded=lk.embedded_es, prefix=prefix, cursor_key=key
        )
    tails = ConcurrencyLimit(settings.logs_tail_per_caller)
    servers = bootstrap_servers(broker_url)
    closing: list[bool] = []  # set when the web server shuts down: open tails end within ~1 s

    async def on_shutdown(_app: Any) -> None:
        closing.append(True)

    async def on_cleanup(_app: Any) -> None:
        if store is not None:
            await store.close()

    web_app = getattr(app.web, "web_app", None)
    if web_app is not None:
        web_app.on_shutdown.append(on_shutdown)
        web_app.on_cleanup.append(on_cleanup)

    async def answer(view: web.View, request: web.Request, parse: Any, run: Any) -> web.Response:
        """Parse the query (400 naming a bad parameter), then ask Elasticsearch (503 if not)."""
        try:
            req = parse(query_params(request), time.time())
            req = replace(req, filter=scoped(req.filter, caller(request).readable()))
            if store is None:
                return view.error(503, "no Elasticsearch configured for log search")
            return view.json(await run(store, req))
        except BadParam as exc:
            return bad_param(view, exc)
        except LogStoreUnavailable as exc:
            return view.error(503, str(exc))

    @app.page("/api/logs/search")
    class LogSearchView(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await answer(self, request, parse_search, LogSearch.search)

    @app.page("/api/logs/stats")
    class LogStatsView(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await answer(self, request, parse_stats, LogSearch.stats)

    @app.page("/api/logs/tail")
    class LogTailView(web.View):
        async def get(self, request: web.Request) -> Any:
            try:
                flt = parse_tail(query_params(request), time.time())
                flt = scoped(flt, caller(request).readable())
                last = request.headers.get(HEADER)
                resume = (
                    parse_event_id(last, (lk.topics.logs_nginx, lk.topics.logs_app))
                    if last
                    else None
                )
            except BadParam as exc:
                return bad_param(self, exc)
            who = caller_of(request)
            acquired = tails.acquire(who)
            lk.stats.set(TAILS_OPEN, sum(tails.open.values()))
            if not acquired:
                return self.json(
                    {"error": f"too many live tails open (at most {tails.limit} per caller)"},
                    status=429,
                    headers={"Retry-After": "5"},
                )
            try:
                return await stream(request, flt, resume)
            finally:
                tails.release(who)
                lk.stats.set(TAILS_OPEN, sum(tails.open.values()))

    async def stream(
        request: web.Request, flt: LogFilter, resume: Mapping[tuple[str, int], int] | None
    ) -> Any:
        tail = LogTail(servers, lk.topics, prefix=prefix, tenants=lk.tenants)
        try:
            await tail.start(resume)
        except Exception as exc:  # any broker failure is a 503 for the caller
            await tail.stop()
            log.warning("live tail could not start: %s", exc)
            body = orjson.dumps({"error": f"the broker is not reachable: {type(exc).__name__}"})
            return aioweb.Response(status=503, body=body, content_type="application/json")
        response = aioweb.StreamResponse(headers=SSE_HEADERS)
        words = text_query(flt.q)
        ends = time.monotonic() + settings.logs_tail_max_seconds
        beat = settings.logs_tail_heartbeat
        try:
            await response.prepare(request)  # type: ignore[arg-type]
            await response.write(f"retry: {RETRY_MS}\n: tail started\n\n".encode())
            quiet_since = time.monotonic()
            async for batch in tail.batches(wait=min(beat, 1.0)):
                for message in batch:
                    event = sse_event(message, flt, words, event_id(message.positions))
                    if event is not None:
                        await response.write(event)
                        quiet_since = time.monotonic()
                now = time.monotonic()
                transport = request.transport  # type: ignore[attr-defined]
                if transport is None or transport.is_closing():
                    break
                if closing or now >= ends or now - quiet_since >= beat:
                    # An id without data moves the browser's Last-Event-ID past the lines that
                    # did not match, so a reconnect resumes here, not at the end of the topics.
                    mark = event_id(tail.positions)
                    await response.write(f": keep-alive\nid: {mark}\n\n".encode())
                    quiet_since = now
                if closing or now >= ends:
                    break
        except ConnectionError:
            pass  # the client went away
        finally:
            await tail.stop()
        return response
