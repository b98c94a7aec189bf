"""A fresh, migrated database per notification test (re-export the fixture in the test module).

from tests.integration.notify_db import notify_db   # noqa: F401  (a pytest fixture)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from sinks.migrations import migrate


async def _admin(pg_dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def migrated_database(pg_dsn: str, prefix: str = "lookout_notify") -> str:
    """Create a new database on the server of ``pg_dsn``, apply every migration, return its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await _admin(pg_dsn, f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{name}"))
    await migrate(dsn, progress=lambda line: None)
    return dsn


async def drop_database(pg_dsn: str, dsn: str) -> None:
    """Drop the database ``dsn`` names (made by :func:`migrated_database`)."""
    await _admin(pg_dsn, f'DROP DATABASE "{urlsplit(dsn).path.lstrip("/")}" WITH (FORCE)')


@pytest.fixture
async def notify_db(pg_dsn: str) -> AsyncIterator[str]:
    """The DSN of a new database on the session's Postgres, migrated; dropped afterwards."""
    dsn = await migrated_database(pg_dsn)
    yield dsn
    await drop_database(pg_dsn, dsn)


async def outbox_rows(dsn: str, where: str = "TRUE", *args: object) -> list[asyncpg.Record]:
    """Outbox rows (oldest first) with their payload decoded into ``payload``."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            "SELECT id, idempotency_key, group_key, receiver, status, reason, attempts,"
            " next_attempt_at, transition_id, sent_at, payload::text AS payload"
            f" FROM notifications WHERE {where} ORDER BY id",
            *args,
        )
    finally:
        await conn.close()


async def notifier_settled(dsn: str, groups_like: str = "%") -> bool:
    """No group matching ``groups_like`` is left (each ended: nothing more can be written for
    it) and no outbox row is pending (everything written was delivered or gave up); one
    statement, so one snapshot: a flush deletes a group and inserts its row atomically."""
    conn = await asyncpg.connect(dsn)
    try:
        groups, pending = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM notify_groups WHERE group_key LIKE $1),"
            " (SELECT count(*) FROM notifications WHERE status = 'pending')",
            groups_like,
        )
    finally:
        await conn.close()
    return groups == 0 and pending == 0


async def groups_flushed(dsn: str) -> bool:
    """Every group has sent a message and no outbox row is pending (one snapshot)."""
    conn = await asyncpg.connect(dsn)
    try:
        unsent, pending = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM notify_groups WHERE last_sent_at IS NULL),"
            " (SELECT count(*) FROM notifications WHERE status = 'pending')"
        )
    finally:
        await conn.close()
    return unsent == 0 and pending == 0
