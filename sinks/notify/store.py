"""The notifier's state in PostgreSQL: load what a batch or a flush needs, run the pure logic
(:class:`notifications.groups.Groups`), write back what changed, all in one transaction.

* :meth:`NotifyStore.ingest` (one batch of ``lookout.alerts``): locks the groups the batch
  touches (advisory locks in key order for groups that may not exist yet, then ``FOR UPDATE``),
  applies the updates and saves alerts, groups and members. The runner commits the Kafka offsets
  only after this transaction commits.
* :meth:`NotifyStore.flush`: claims due groups with ``FOR UPDATE SKIP LOCKED`` (several workers
  never flush one group together), decides, and in the same transaction inserts the outbox rows
  (``ON CONFLICT (idempotency_key) DO NOTHING``) and records each group's last message. New
  pending rows are announced with ``NOTIFY lookout_outbox`` for the sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from alerting.silences import Silence
from notifications.alerts import Ack, Alert, Update
from notifications.config import Defaults
from notifications.groups import Groups, Ingested, Outcome, Policy
from notifications.message import OutboxRow, outbox_row
from notifications.stages import EPSILON, GroupState
from sinks.pg_pool import open_pool

log = logging.getLogger(__name__)

CHANNEL = "lookout_outbox"
LOCK_SEED = 5  # hashtextextended seed of the group advisory locks
PRUNE_AFTER = timedelta(days=8)  # resolved alerts no group holds (lookout.alerts keeps 7 days)

SQL = {
    "members_of": (
        "SELECT group_key, fingerprint FROM notify_group_alerts WHERE fingerprint = ANY($1::text[])"
    ),
    "lock_keys": (
        "SELECT pg_advisory_xact_lock(hashtextextended(k, $2))"
        " FROM unnest($1::text[]) AS k ORDER BY k"
    ),
    "alerts_for_update": (
        "SELECT alert FROM notify_alerts WHERE fingerprint = ANY($1::text[])"
        " ORDER BY fingerprint FOR UPDATE"
    ),
    "groups_for_update": (
        "SELECT * FROM notify_groups WHERE group_key = ANY($1::text[])"
        " ORDER BY group_key FOR UPDATE"
    ),
    "claim_due": (
        "SELECT * FROM notify_groups WHERE next_flush_at <= $1 ORDER BY next_flush_at"
        " LIMIT $2 FOR UPDATE SKIP LOCKED"
    ),
    "members": (
        "SELECT m.group_key, a.alert FROM notify_group_alerts m"
        " JOIN notify_alerts a USING (fingerprint) WHERE m.group_key = ANY($1::text[])"
    ),
    "firing": "SELECT alert FROM notify_alerts WHERE state = 'firing'",
    "upsert_alert": (
        "INSERT INTO notify_alerts (fingerprint, rule, state, episode, transition_id, alert,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, now())"
        " ON CONFLICT (fingerprint) DO UPDATE SET rule = EXCLUDED.rule, state = EXCLUDED.state,"
        " episode = EXCLUDED.episode, transition_id = EXCLUDED.transition_id,"
        " alert = EXCLUDED.alert, updated_at = now()"
    ),
    "upsert_group": (
        "INSERT INTO notify_groups (group_key, receiver, route, group_labels, started_at,"
        " next_flush_at, last_sent_at, notified, repeat_seq, updated_at)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8::jsonb, $9, now())"
        " ON CONFLICT (group_key) DO UPDATE SET receiver = EXCLUDED.receiver,"
        " route = EXCLUDED.route, group_labels = EXCLUDED.group_labels,"
        " started_at = EXCLUDED.started_at, next_flush_at = EXCLUDED.next_flush_at,"
        " last_sent_at = EXCLUDED.last_sent_at, notified = EXCLUDED.notified,"
        " repeat_seq = EXCLUDED.repeat_seq, updated_at = now()"
    ),
    "delete_group": "DELETE FROM notify_groups WHERE group_key = ANY($1::text[])",
    "join": (
        "INSERT INTO notify_group_alerts (group_key, fingerprint) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING"
    ),
    "leave": "DELETE FROM notify_group_alerts WHERE group_key = $1 AND fingerprint = $2",
    "outbox": (
        "INSERT INTO notifications (idempotency_key, group_key, transition_id, receiver, status,"
        " reason, next_attempt_at, payload, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
    ),
    "next_due": "SELECT min(next_flush_at) FROM notify_groups",
    "prune": (
        "DELETE FROM notify_alerts a WHERE a.state = 'resolved' AND a.updated_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM notify_group_alerts m WHERE m.fingerprint = a.fingerprint)"
    ),
}


def ts(value: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def epoch(value: datetime | None) -> float | None:
    """An aware datetime as epoch seconds."""
    return None if value is None else value.timestamp()


def _json(raw: Any) -> Any:
    return orjson.loads(raw) if isinstance(raw, str | bytes) else raw


def fingerprint_of(update: Update) -> str:
    """The alert an update is about."""
    return update.fingerprint if isinstance(update, Ack) else update.alert.fingerprint


def group_from_row(row: Any) -> GroupState:
    """A ``notify_groups`` row as a :class:`GroupState`."""
    return GroupState(
        key=row["group_key"],
        receiver=row["receiver"],
        route=row["route"],
        labels=dict(_json(row["group_labels"])),
        started_at=row["started_at"].timestamp(),
        next_flush_at=epoch(row["next_flush_at"]),
        last_sent_at=epoch(row["last_sent_at"]),
        notified=frozenset(_json(row["notified"])),
        repeat_seq=row["repeat_seq"],
    )


@dataclass(frozen=True, slots=True)
class Written:
    """A flush outcome and its outbox row (``inserted`` False: the key was there already)."""

    outcome: Outcome
    row: OutboxRow | None
    inserted: bool


class NotifyStore:
    """Loads and saves the notifier's state; one asyncpg pool."""

    def __init__(
        self,
        dsn: str,
        policy: Policy,
        *,
        defaults: Defaults | None = None,
        timeout: float = 30.0,
        pool_size: int = 2,
    ) -> None:
        self._dsn = dsn
        self.policy = policy
        self.defaults = defaults or Defaults()
        self.timeout = timeout
        self.pool_size = pool_size
        self._pool: Any = None

    async def setup(self) -> None:
        """Create the pool (connections open lazily: a server that is down is met later)."""
        if self._pool is None:
            self._pool = await open_pool(
                self._dsn,
                name="lookout-notify",
                size=self.pool_size,
                statement_timeout=self.timeout,
            )

    async def close(self) -> None:
        """Close the pool."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except (TimeoutError, Exception):
                pool.terminate()

    # ---- ingest ----------------------------------------------------------------------------
    async def ingest(self, updates: Sequence[Update], now: float) -> list[Ingested]:
        """Apply a batch of updates at wall time ``now`` in one transaction."""
        if not updates:
            return []
        fps = sorted({fingerprint_of(u) for u in updates})
        async with self._pool.acquire() as conn, conn.transaction():
            book = Groups(self.policy)
            for row in await conn.fetch(SQL["members_of"], fps):
                book.members.setdefault(row["group_key"], set()).add(row["fingerprint"])
            keys = set(book.members)
            for update in updates:
                keys.update(book.routed_keys(update))
            ordered = sorted(keys)
            if ordered:
                await conn.execute(SQL["lock_keys"], ordered, LOCK_SEED)
            for row in await conn.fetch(SQL["alerts_for_update"], fps):
                alert = Alert.from_state(_json(row["alert"]))
                book.alerts[alert.fingerprint] = alert
            for row in await conn.fetch(SQL["groups_for_update"], ordered):
                book.groups[row["group_key"]] = group_from_row(row)
            results = [book.ingest(update, now) for update in updates]
            await self._save(conn, book)
        return results

    # ---- flush -----------------------------------------------------------------------------
    async def flush(
        self, now: float, *, silences: Sequence[Silence] | None = None, limit: int = 100
    ) -> list[Written]:
        """Flush up to ``limit`` due groups in one transaction; the rows it wrote."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(SQL["claim_due"], ts(now + EPSILON), limit)
            if not rows:
                return []
            book = Groups(self.policy)
            for row in rows:
                book.groups[row["group_key"]] = group_from_row(row)
            keys = sorted(book.groups)
            for row in await conn.fetch(SQL["members"], keys):
                alert = Alert.from_state(_json(row["alert"]))
                book.alerts[alert.fingerprint] = alert
                book.members.setdefault(row["group_key"], set()).add(alert.fingerprint)
            sources: list[Alert] = []
            if self.policy.inhibit_rules:
                for row in await conn.fetch(SQL["firing"]):
                    sources.append(Alert.from_state(_json(row["alert"])))
            outcomes = book.flush(now, silences=silences, sources=sources, keys=keys)
            written = []
            pending = False
            for outcome in outcomes:
                row = outbox_row(
                    outcome,
                    now,
                    live_url=self.defaults.live_url,
                    grafana_url=self.defaults.grafana_url,
                )
                inserted = False
                if row is not None:
                    inserted = await self._insert(conn, row, now)
                    pending = pending or (inserted and row.status == "pending")
                written.append(Written(outcome, row, inserted))
            await self._save(conn, book)
            if pending:
                await conn.execute(f"NOTIFY {CHANNEL}")
        return written

    async def next_due(self) -> float | None:
        """The earliest time a group is due (None: no group waits)."""
        async with self._pool.acquire() as conn:
            return epoch(await conn.fetchval(SQL["next_due"]))

    async def prune(self, now: float) -> int:
        """Delete resolved alerts no group holds, older than :data:`PRUNE_AFTER`."""
        cutoff = datetime.fromtimestamp(now, UTC) - PRUNE_AFTER
        async with self._pool.acquire() as conn:
            status = await conn.execute(SQL["prune"], cutoff)
        return int(status.split()[-1]) if status.startswith("DELETE") else 0

    # ---- writes ----------------------------------------------------------------------------
    async def _insert(self, conn: Any, row: OutboxRow, now: float) -> bool:
        found = await conn.fetchval(
            SQL["outbox"],
            row.idempotency_key,
            row.group_key,
            row.transition_id,
            row.receiver,
            row.status,
            row.reason,
            ts(now) if row.status == "pending" else None,
            orjson.dumps(row.payload).decode(),
            ts(row.created_at),
        )
        return found is not None

    async def _save(self, conn: Any, book: Groups) -> None:
        """Write what ``book`` changed: alerts, then groups, then members (foreign keys)."""
        alerts = [book.alerts[fp] for fp in sorted(book.changed_alerts)]
        if alerts:
            await conn.executemany(
                SQL["upsert_alert"],
                [
                    (
                        a.fingerprint,
                        a.rule,
                        a.state,
                        a.episode,
                        a.transition_id,
                        orjson.dumps(a.to_state()).decode(),
                    )
                    for a in alerts
                ],
            )
        groups = [book.groups[k] for k in sorted(book.changed_groups) if k in book.groups]
        if groups:
            await conn.executemany(
                SQL["upsert_group"],
                [
                    (
                        g.key,
                        g.receiver,
                        g.route,
                        orjson.dumps(g.labels).decode(),
                        ts(g.started_at),
                        ts(g.next_flush_at),
                        ts(g.last_sent_at),
                        orjson.dumps(sorted(g.notified)).decode(),
                        g.repeat_seq,
                    )
                    for g in groups
                ],
            )
        if book.deleted_groups:
            await conn.execute(SQL["delete_group"], sorted(book.deleted_groups))
        left = sorted(p for p in book.left if p[0] not in book.deleted_groups)
        if left:
            await conn.executemany(SQL["leave"], left)
        joined = sorted(book.joined)
        if joined:
            await conn.executemany(SQL["join"], joined)
