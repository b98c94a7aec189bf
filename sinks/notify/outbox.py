"""The notification outbox in PostgreSQL (table ``notifications``): claim, settle, list.

The grouping side INSERTs rows; this module only reads and updates them (parameterised SQL).

Claiming: :func:`claim_due` locks due ``pending`` rows with ``FOR UPDATE SKIP LOCKED`` inside
the caller's transaction, so concurrent dispatchers never get the same row. In the same short
transaction the caller either *leases* a row (:func:`lease`: ``next_attempt_at`` moves to the
lease's end, so nobody else takes it while it is being sent) or *postpones* it (no rate-limit
token; not an attempt). The send happens after the commit, with no lock held.

Settling: :func:`mark_sent`, :func:`mark_retry` and :func:`mark_failed` are one UPDATE each,
fenced by the lease (``next_attempt_at`` still equal to the lease's end and ``status =
'pending'``): a row whose lease ran out and was taken by another dispatcher is not overwritten,
and a ``sent`` row never becomes due again.

Order: a group's rows are sent one at a time, oldest first (:func:`claim_due` claims only the
oldest pending row of a group), so a receiver that was away gets them in order when it is back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson

from notifications.payload import build_test_payload

STATUSES = ("pending", "sent", "failed", "suppressed")
MAX_LIST = 1000
_COLUMNS = (
    "id, idempotency_key, group_key, transition_id, receiver, status, reason, attempts, "
    "next_attempt_at, last_error, payload, created_at, sent_at"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One row of ``notifications``."""

    id: int
    idempotency_key: str
    group_key: str
    transition_id: str | None
    receiver: str
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    payload: Any
    created_at: datetime
    sent_at: datetime | None

    def to_json(self, *, payload: bool = True) -> dict[str, Any]:
        """A JSON-ready dict (timestamps as ISO 8601), for the HTTP API."""
        out = asdict(self)
        for key in ("next_attempt_at", "created_at", "sent_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        if not payload:
            del out["payload"]
        return out


def _row(record: Any) -> OutboxRow:
    data = dict(record)
    raw = data["payload"]
    data["payload"] = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return OutboxRow(**data)


async def claim_due(
    conn: Any, *, now: datetime, limit: int, exclude: Sequence[str] = ()
) -> list[OutboxRow]:
    """Lock up to ``limit`` pending rows due at ``now`` (oldest first); call inside a transaction.

    Only the oldest pending row of each group can be claimed: a group's messages reach the
    receiver in the order they were written (a ``resolved`` never overtakes the ``firing`` that
    is waiting for a retry), one per pass. Rows of the receivers in ``exclude`` (busy in this
    process) are left for later.
    """
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notifications n "
        "WHERE status = 'pending' AND next_attempt_at <= $1 AND receiver <> ALL($3::text[]) "
        "AND NOT EXISTS (SELECT 1 FROM notifications o WHERE o.status = 'pending' "
        "AND o.group_key = n.group_key AND o.id < n.id) "
        "ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
        list(exclude),
    )
    return [_row(r) for r in records]


async def lease(conn: Any, leases: Sequence[tuple[int, datetime]]) -> None:
    """Set ``next_attempt_at`` of claimed rows to their lease's end (row id, end)."""
    if leases:
        await conn.executemany(
            "UPDATE notifications SET next_attempt_at = $2 WHERE id = $1 AND status = 'pending'",
            leases,
        )


async def postpone(conn: Any, until: Sequence[tuple[int, datetime]]) -> None:
    """Postpone rows (row id, new due time) without counting an attempt (rate limit)."""
    await lease(conn, until)


async def release(conn: Any, leases: Sequence[tuple[int, datetime]], *, now: datetime) -> int:
    """Make leased rows that were not sent due again at ``now`` (graceful stop); rows released."""
    released = 0
    for row_id, end in leases:
        status = await conn.execute(
            "UPDATE notifications SET next_attempt_at = $3 "
            "WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
            row_id,
            end,
            now,
        )
        released += int(status.rsplit(" ", 1)[-1])
    return released


async def mark_sent(
    conn: Any, row_id: int, *, lease_end: datetime, now: datetime, note: str | None = None
) -> bool:
    """The receiver accepted the row: ``sent`` (one UPDATE); False if the lease was lost."""
    status = await conn.execute(
        "UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = $3, "
        "next_attempt_at = NULL, last_error = $4 "
        "WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
        row_id,
        lease_end,
        now,
        note,
    )
    return status.endswith(" 1")


async def mark_retry(
    conn: Any,
    row_id: int,
    *,
    lease_end: datetime,
    retry_at: datetime,
    error: str,
    counted: bool = True,
) -> bool:
    """A failed attempt to try again at ``retry_at`` (``counted`` False: not an attempt, e.g.
    a 429 with Retry-After); False if the lease was lost."""
    status = await conn.execute(
        "UPDATE notifications SET attempts = attempts + $5, next_attempt_at = $3, "
        "last_error = $4 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
        row_id,
        lease_end,
        retry_at,
        error,
        1 if counted else 0,
    )
    return status.endswith(" 1")


async def mark_failed(conn: Any, row_id: int, *, lease_end: datetime, error: str) -> bool:
    """A final failure (``failed``, never tried again); False if the lease was lost."""
    status = await conn.execute(
        "UPDATE notifications SET status = 'failed', attempts = attempts + 1, "
        "next_attempt_at = NULL, last_error = $3 "
        "WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2",
        row_id,
        lease_end,
        error,
    )
    return status.endswith(" 1")


async def next_due(conn: Any, *, exclude: Sequence[str] = ()) -> datetime | None:
    """When the next pending row comes due (None if none), ignoring ``exclude`` receivers."""
    value: datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_at) FROM notifications "
        "WHERE status = 'pending' AND receiver <> ALL($1::text[])",
        list(exclude),
    )
    return value


async def list_rows(
    conn: Any,
    *,
    status: str | None = None,
    receiver: str | None = None,
    limit: int = 100,
) -> list[OutboxRow]:
    """The newest rows first, optionally of one status and/or receiver."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"status: expected one of {', '.join(STATUSES)} (given {status!r})")
    if not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit: expected 1 to {MAX_LIST} (given {limit})")
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM notifications "
        "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR receiver = $2) "
        "ORDER BY id DESC LIMIT $3",
        status,
        receiver,
        limit,
    )
    return [_row(r) for r in records]


async def enqueue_test(
    conn: Any,
    receiver: str,
    *,
    now: datetime,
    live_url: str | None = None,
    grafana_url: str | None = None,
) -> OutboxRow:
    """Queue a ``kind: test`` message for ``receiver``, due now (a worker's dispatcher sends it)."""
    payload = build_test_payload(
        receiver, now.timestamp(), live_url=live_url, grafana_url=grafana_url
    )
    record = await conn.fetchrow(
        "INSERT INTO notifications (idempotency_key, group_key, transition_id, receiver, status, "
        "next_attempt_at, payload, created_at) "
        "VALUES ($1, $2, NULL, $3, 'pending', $4, $5::jsonb, $4) "
        f"RETURNING {_COLUMNS}",
        f"test:{receiver}:{uuid.uuid4().hex}",
        payload["group_key"],
        receiver,
        now,
        orjson.dumps(payload).decode(),
    )
    return _row(record)
