"""HTTP ingest for producers that cannot speak Kafka: ``POST /api/ingest/{metrics|logs}``.

Bodies use the topics' formats: Telegraf JSON (one metric or ``{"metrics": [...]}``), line
protocol, or NDJSON for metrics; application JSON logs (object, array or NDJSON) or nginx lines
for logs (``?type=nginx&host=H``). A request is all or nothing: every record must parse, else 400
lists the rejected parts and nothing is produced. Accepted records are produced to the topics,
one message per host (Telegraf batch format for metrics, so the worker pays Faust's per-message
cost once per host, not per metric), and the answer 202 comes only after the broker acknowledged
them. When the broker does not acknowledge within LOOKOUT_INGEST_PRODUCE_TIMEOUT seconds (it is
down or restarting), the answer is 503 with Retry-After: the client must send the request again.
A record whose acknowledgement came too late may then be on the broker twice (at-least-once).

Auth: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` with a tenant's ingest key (``lk_...``,
created through ``POST /api/keys`` or ``lookout keys create``; stored hashed, looked up in
PostgreSQL and cached a few seconds) or a key from LOOKOUT_INGEST_KEYS (the default tenant's
bootstrap keys; constant-time compare, :mod:`app.api.auth`). The first key that writes a host
claims it for its tenant (``host_tenants``; ``team_server_assignment`` wins); a key of another
tenant is then refused for that host (403, nothing produced). Limits: body size (413), requests
per key (429 with Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka.errors import KafkaError
from faust import web

from app.api import auth
from app.api.access import Access
from app.ratelimit import RateLimiter
from formats.decode import decode_app, decode_metrics, decode_nginx
from formats.points import AppLog, Metric, Rejected

if TYPE_CHECKING:
    from agents.runtime import Lookout

MAX_ERRORS_SHOWN = 20
log = logging.getLogger(__name__)


def rejections(rejected: Sequence[Rejected]) -> list[dict[str, str]]:
    """Rejected parts as a JSON-friendly list (bounded)."""
    return [
        {
            "reason": r.reason,
            "detail": r.detail,
            "part": r.original[:200].decode("utf-8", "replace"),
        }
        for r in rejected[:MAX_ERRORS_SHOWN]
    ]


def metric_messages(metrics: Sequence[Metric]) -> dict[str, bytes]:
    """One Telegraf batch message per host."""
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in metrics:
        item: dict[str, Any] = {"name": m.name, "tags": m.tags, "fields": m.fields}
        if m.time is not None:
            item["timestamp"] = m.time
        by_host[m.tags.get("host", "unknown")].append(item)
    return {h: orjson.dumps({"metrics": items}) for h, items in by_host.items()}


def app_log_messages(records: Sequence[AppLog]) -> dict[str, bytes]:
    """One NDJSON message per host."""
    by_host: dict[str, list[bytes]] = defaultdict(list)
    for r in records:
        doc: dict[str, Any] = dict(r.extra)
        doc.update(level=r.level, service=r.service, host=r.host, message=r.message)
        if r.time is not None:
            doc["timestamp"] = r.time
        by_host[r.host].append(orjson.dumps(doc))
    return {h: b"\n".join(lines) for h, lines in by_host.items()}


def register_ingest(lk: Lookout, access: Access) -> None:
    """Add the ingest views to the worker's web server."""
    app, settings, stats = lk.app, lk.settings, lk.stats
    keys = auth.parse_keys(settings.ingest_keys)
    limiter = RateLimiter(settings.ingest_rate, settings.ingest_burst)
    topics = {
        "metrics": app.topic(lk.topics.metrics, key_serializer="raw", value_serializer="raw"),
        "nginx": app.topic(lk.topics.logs_nginx, key_serializer="raw", value_serializer="raw"),
        "app": app.topic(lk.topics.logs_app, key_serializer="raw", value_serializer="raw"),
    }

    async def key_of(
        view: web.View, request: Any
    ) -> tuple[str | None, str | None, web.Response | None]:
        """``(rate-limit key, tenant, None)`` or ``(None, None, refusal)``."""
        presented = auth.presented_key(request.headers, api_key_header=True)
        idx = auth.key_index(presented, keys)
        if idx is not None:
            return str(idx), settings.default_tenant, None
        if not keys and lk.identity is None:
            error = {"error": "ingest is disabled: set LOOKOUT_INGEST_KEYS"}
            return None, None, view.json(error, status=401)
        tenant = await access.key_tenant(presented, time.time()) if presented else None
        if tenant is None:
            stats.inc("lookout_ingest_rejected_total", reason="auth")
            error = {"error": "missing, wrong or revoked API key"}
            return None, None, view.json(error, status=401)
        return presented.partition("_")[2][:12] if presented else None, tenant, None

    async def owners(hosts: Sequence[str], tenant: str) -> str | None:
        """The first host that belongs to another tenant (claiming the unclaimed ones).

        Bootstrap keys (the default tenant) claim nothing: they need no PostgreSQL, and an
        unclaimed host is the default tenant's anyway.
        """
        for host in hosts:
            owner = lk.tenants.assigned(host)
            if owner is None and lk.identity is not None and tenant != settings.default_tenant:
                owner = await lk.identity.claim_host(host, tenant)
                lk.tenants.assign(host, owner)
            if owner is not None and owner != tenant:
                return host
        return None

    async def refuse_foreign(
        view: web.View, hosts: Sequence[str], tenant: str
    ) -> web.Response | None:
        foreign = await owners(hosts, tenant)
        if foreign is None:
            return None
        stats.inc("lookout_ingest_rejected_total", reason="tenant")
        return view.json(
            {"error": f"host {foreign!r} belongs to another tenant than this key's"}, status=403
        )

    async def guard(view: web.View, request: Any) -> tuple[bytes | None, str, web.Response | None]:
        limit_key, tenant, refusal = await key_of(view, request)
        if refusal is not None or limit_key is None or tenant is None:
            return None, "", refusal
        wait = limiter.check(limit_key, time.monotonic())
        if wait > 0:
            stats.inc("lookout_ingest_rejected_total", reason="rate")
            resp = view.json({"error": "rate limit exceeded", "retry_after": wait}, status=429)
            resp.headers["Retry-After"] = str(max(1, round(wait)))
            return None, "", resp
        limit = settings.ingest_max_bytes
        length = request.content_length
        if length is not None and length > limit:
            stats.inc("lookout_ingest_rejected_total", reason="size")
            return None, "", view.json({"error": f"body larger than {limit} bytes"}, status=413)
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            stats.inc("lookout_ingest_rejected_total", reason="size")
            return None, "", view.json({"error": f"body larger than {limit} bytes"}, status=413)
        if not body.strip():
            return None, "", view.json({"error": "empty body"}, status=400)
        return body, tenant, None

    async def produce(kind: str, messages: dict[str, bytes]) -> bool:
        """True once the broker acknowledged every message; False after the timeout."""
        try:
            async with asyncio.timeout(settings.ingest_produce_timeout):
                futs = [
                    await topics[kind].send(key=host.encode(), value=value)
                    for host, value in messages.items()
                ]
                for fut in futs:
                    await asyncio.shield(fut)  # Faust's own callback reads it: never cancel
        except (TimeoutError, KafkaError) as exc:
            stats.inc("lookout_ingest_rejected_total", reason="broker")
            log.warning("ingest: the broker did not acknowledge %s records: %r", kind, exc)
            return False
        return True

    def unavailable(view: web.View) -> web.Response:
        retry = settings.ingest_retry_after
        resp = view.json(
            {
                "error": "the broker did not acknowledge the records; send them again after "
                "retry_after seconds (a record the broker stored without acknowledging, as when it "
                "crashes mid-write, is then written twice: Kafka producers are at-least-once)",
                "retry_after": retry,
            },
            status=503,
        )
        resp.headers["Retry-After"] = str(retry)
        return resp

    def bad(view: web.View, rejected: Sequence[Rejected]) -> web.Response:
        stats.inc("lookout_ingest_rejected_total", reason="invalid")
        if not rejected:
            return view.json({"error": "no records in the body", "rejected": []}, status=400)
        return view.json(
            {"error": f"{len(rejected)} record(s) rejected", "rejected": rejections(rejected)},
            status=400,
        )

    @app.page("/api/ingest/metrics")
    class IngestMetrics(web.View):
        async def post(self, request: web.Request) -> web.Response:
            body, tenant, refusal = await guard(self, request)
            if refusal is not None or body is None:
                return refusal  # type: ignore[return-value]
            host = request.query.get("host")
            metrics, rejected = decode_metrics(
                body, unit=settings.timestamp_unit, default_host=host
            )
            if rejected or not metrics:
                return bad(self, rejected)
            messages = metric_messages(metrics)
            foreign = await refuse_foreign(self, list(messages), tenant)
            if foreign is not None:
                return foreign
            if not await produce("metrics", messages):
                return unavailable(self)
            stats.inc("lookout_ingest_records_total", len(metrics), kind="metrics")
            return self.json({"accepted": len(metrics), "messages": len(messages)}, status=202)

    @app.page("/api/ingest/logs")
    class IngestLogs(web.View):
        async def post(self, request: web.Request) -> web.Response:
            body, tenant, refusal = await guard(self, request)
            if refusal is not None or body is None:
                return refusal  # type: ignore[return-value]
            kind = request.query.get("type", "app")
            host = request.query.get("host")
            if kind == "nginx":
                if not host:
                    return self.json(
                        {"error": "type=nginx needs ?host=NAME", "field": "host"}, status=400
                    )
                nginx, rejected = decode_nginx(body, default_host=host)
                if rejected or not nginx:
                    return bad(self, rejected)
                foreign = await refuse_foreign(self, [host], tenant)
                if foreign is not None:
                    return foreign
                if not await produce("nginx", {host: body}):
                    return unavailable(self)
                count = len(nginx)
            elif kind == "app":
                logs, rejected = decode_app(body, default_host=host or "unknown")
                if rejected or not logs:
                    return bad(self, rejected)
                messages = app_log_messages(logs)
                foreign = await refuse_foreign(self, list(messages), tenant)
                if foreign is not None:
                    return foreign
                if not await produce("app", messages):
                    return unavailable(self)
                count = len(logs)
            else:
                return self.json(
                    {"error": "type must be app or nginx", "field": "type"}, status=400
                )
            stats.inc("lookout_ingest_records_total", count, kind=kind)
            return self.json({"accepted": count}, status=202)
