"""``GET /api/notifications``: the notification outbox (Postgres ``notifications``), newest first.

Every worker answers from the same table, so there is no fan-out. Filters: ``status``
(pending, sent, failed, suppressed), ``receiver``, ``limit`` (1..500, default 50). Each row has
its delivery state (attempts, next attempt, last error, sent at) and the message it carries
(kind, firing/resolved, group labels, alerts). Postgres unreachable: 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, get_args

from faust import web

from app.api.access import Access, caller
from app.api.models import NotifyStatus
from sinks.notify.outbox import OutboxRow, list_rows
from sinks.pg_pool import open_pool

if TYPE_CHECKING:
    from agents.runtime import Lookout

log = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = get_args(NotifyStatus)
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class QueryError(ValueError):
    """A query parameter is wrong (400)."""


def parse_query(query: Mapping[str, str]) -> tuple[str | None, str | None, int]:
    """``(status, receiver, limit)`` from the query string; raises :class:`QueryError`."""
    status = query.get("status")  # given but empty is an error too, as the schema says
    if status is not None and status not in STATUSES:
        raise QueryError(f"status must be one of {', '.join(STATUSES)} (given {status!r})")
    receiver = query.get("receiver") or None
    raw = query.get("limit")
    try:
        limit = DEFAULT_LIMIT if raw is None else int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return status, receiver, limit


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def row_out(row: OutboxRow) -> dict[str, Any]:
    """One outbox row (sinks/notify/outbox.py, the one query of the table) as the API shows it."""
    payload = row.payload if isinstance(row.payload, dict) else {}
    return {
        "id": row.id,
        "status": row.status,
        "receiver": row.receiver,
        "group_key": row.group_key,
        "kind": payload.get("kind"),
        "alert_status": payload.get("status"),
        "reason": row.reason,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at),
        "last_error": row.last_error,
        "created_at": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
        "transition_id": row.transition_id,
        "idempotency_key": row.idempotency_key,
        "group_labels": payload.get("group_labels", {}),
        "alerts": payload.get("alerts", []),
        "truncated": payload.get("truncated", 0),
    }


def register_notify_views(lk: Lookout, access: Access) -> None:
    """Add ``GET /api/notifications`` to the worker's web server.

    Only notifications of the caller's tenants are listed (by the ``tenant`` group label, else
    by the hosts of their alerts); ``limit`` counts rows before that filter.
    """
    app, dsn = lk.app, lk.postgres_dsn
    pool: list[Any] = []
    lock = asyncio.Lock()

    async def get_pool(dsn: str) -> Any:
        async with lock:
            if not pool:
                pool.append(
                    await open_pool(
                        dsn, name="lookout-api", size=2, statement_timeout=5.0, connect_timeout=5.0
                    )
                )
            return pool[0]

    async def close_pool(_app: Any) -> None:
        if pool:
            await pool.pop().close()

    web_app = getattr(app.web, "web_app", None)
    if web_app is not None:
        web_app.on_cleanup.append(close_pool)

    @app.page("/api/notifications")
    class Notifications(web.View):
        async def get(self, request: web.Request) -> web.Response:
            try:
                status, receiver, limit = parse_query(request.query)
            except QueryError as exc:
                return self.json({"error": str(exc)}, status=400)
            if dsn is None:
                return self.json({"error": "no PostgreSQL configured"}, status=503)
            try:
                conn_pool = await get_pool(dsn)
                rows = await list_rows(conn_pool, status=status, receiver=receiver, limit=limit)
            except Exception as exc:
                log.warning("GET /api/notifications: %s", type(exc).__name__)
                if type(exc).__name__ == "UndefinedTableError":
                    problem = "the notifications table is missing: run `lookout migrate`"
                else:
                    problem = f"PostgreSQL is not reachable ({type(exc).__name__})"
                return self.json({"error": problem}, status=503)
            out = [row_out(r) for r in rows]
            return self.json({"notifications": [n for n in out if visible(request, n)]})

    def visible(request: Any, note: dict[str, Any]) -> bool:
        group = note.get("group_labels") or {}
        if group.get("tenant"):
            return access.visible_labels(request, group)
        alerts = [a.get("labels") for a in note.get("alerts") or [] if isinstance(a, dict)]
        if not alerts:
            return caller(request).server_admin or caller(request).read_all
        return any(access.visible_labels(request, labels) for labels in alerts)
