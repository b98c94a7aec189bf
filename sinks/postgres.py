"""The PostgreSQL sink: one asyncpg pool, one transaction per batch, idempotent writes.

* Raw tables (``server_metrics``, ``error_logs``, ``application_logs``) are append-only with the
  Kafka position as key. A batch is first COPYed straight into the table inside a savepoint
  (the fast path: fresh data, the normal case); if any row is already there (a replay), the
  savepoint is rolled back and the rows go the safe way: COPY into a per-connection temporary
  staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. Either way a replay adds
  nothing.
* Window tables (``aggregated_metrics``, ``error_rates``) are upserted on their natural keys
  through the same staging: ``ON CONFLICT ... DO UPDATE`` only when a value differs, so replaying
  a final record leaves the row (and its ``closed_at``) as it was.
* Every connection has ``statement_timeout`` = ``LOOKOUT_SINK_TIMEOUT``; all values travel as
  COPY data or bind parameters, never inside SQL text (table and column names are constants).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from typing import Any

import asyncpg
from aiokafka.structs import TopicPartition

from app.topics import TopicNames
from sinks.alert_rows import OPS
from sinks.alert_rows import SQL as ALERT_SQL
from sinks.batch import Batch, Mapped, Message, WriteResult
from sinks.host_tenants import HostTenants, keyed_hosts
from sinks.pg_pool import open_pool
from sinks.pg_rows import (
    COLUMNS,
    KEYS,
    RAW_TABLES,
    WINDOW_TABLES,
    Patterns,
    PgMapper,
    PgRows,
    key_indexes,
)

log = logging.getLogger(__name__)

STAGE_PREFIX = "lookout_stage_"


def stage_name(table: str) -> str:
    """Name of the temporary staging table of ``table``."""
    return STAGE_PREFIX + table


def create_stage_sql(table: str) -> str:
    """DDL of the per-connection staging table (emptied at every commit)."""
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {stage_name(table)} "
        f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )


def insert_new_sql(table: str) -> str:
    """Staging -> raw table, keeping rows that are already there."""
    cols = ", ".join(COLUMNS[table])
    return (
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage_name(table)} "
        "ON CONFLICT DO NOTHING"
    )


def upsert_sql(table: str) -> str:
    """Staging -> window table: insert, or update when some value differs."""
    cols = COLUMNS[table]
    keys = KEYS[table]
    values = [c for c in cols if c not in keys and c != "closed_at"]
    listed = ", ".join(cols)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*values, "closed_at"))
    old = ", ".join(f"{table}.{c}" for c in values)
    new = ", ".join(f"EXCLUDED.{c}" for c in values)
    return (
        f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {stage_name(table)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets} "
        f"WHERE ({old}) IS DISTINCT FROM ({new})"
    )


def merge(payloads: list[PgRows]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table of a batch; window rows deduplicated by key (the last one wins)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for rows in payloads:
        for table, items in rows.items():
            if items:
                tables.setdefault(table, []).extend(items)
    for table in WINDOW_TABLES:
        found = tables.get(table)
        if found and len(found) > 1:
            idx = key_indexes(table)
            unique = {tuple(row[i] for i in idx): row for row in found}
            tables[table] = list(unique.values())
    return tables


class PostgresWriter:
    """Writes raw points, logs and final windows to PostgreSQL."""

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        topics: TopicNames,
        *,
        timestamp_unit: str = "auto",
        timeout: float = 30.0,
        pool_size: int = 2,
        fast_path: bool = True,
        tenants: HostTenants | None = None,
    ) -> None:
        self._dsn = dsn
        self.tenants = tenants if tenants is not None else HostTenants()
        self._mapper = PgMapper(topics, timestamp_unit=timestamp_unit, tenants=self.tenants.map)
        self.topics: tuple[str, ...] = self._mapper.topics
        self.timeout = timeout
        self.pool_size = pool_size
        self.fast_path = fast_path
        self._pool: Any = None
        self.replays = 0

    async def setup(self) -> None:
        """Create the pool (connections open lazily, so a server that is down does not stop us)."""
        if self._pool is None:
            self._pool = await open_pool(
                self._dsn,
                name="lookout-sink-postgres",
                size=self.pool_size,
                statement_timeout=self.timeout,
                init=self._init_connection,
            )

    async def _init_connection(self, conn: Any) -> None:
        for table in (*RAW_TABLES, *WINDOW_TABLES):
            await conn.execute(create_stage_sql(table))

    async def prepare(self, messages: Sequence[Message]) -> None:
        """Make the host->tenant map current for the hosts of the batch (sinks.host_tenants)."""
        await self.tenants.ensure(keyed_hosts(messages, self._mapper.keyed))

    def map(self, msg: Message, patterns: Patterns = None) -> Mapped[PgRows]:
        """Rows of one message (see sinks.pg_rows)."""
        return self._mapper(msg, patterns)

    async def write(self, batch: Batch[PgRows]) -> WriteResult[PgRows]:
        """Store every row of the batch in one transaction."""
        tables = merge(batch.payloads())
        if not tables:
            return WriteResult()
        async with self._pool.acquire() as conn, conn.transaction():
            for table in RAW_TABLES:
                rows = tables.get(table)
                if rows:
                    await self._insert_raw(conn, table, rows)
            for table in WINDOW_TABLES:
                rows = tables.get(table)
                if rows:
                    await conn.copy_records_to_table(
                        stage_name(table), records=rows, columns=COLUMNS[table]
                    )
                    await conn.execute(upsert_sql(table))
            for op, *params in tables.get(OPS, ()):
                await conn.execute(ALERT_SQL[op], *params)  # in record order
        return WriteResult(written={table: len(rows) for table, rows in tables.items()})

    async def _insert_raw(self, conn: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
        if self.fast_path:
            try:
                async with conn.transaction():
                    await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
                return
            except asyncpg.UniqueViolationError:
                self.replays += 1  # some rows are there already: a replay
        await conn.copy_records_to_table(stage_name(table), records=rows, columns=COLUMNS[table])
        await conn.execute(insert_new_sql(table))

    async def lost(self, tps: Collection[TopicPartition]) -> set[TopicPartition]:
        """PostgreSQL keeps what it committed: nothing to rewrite."""
        return set()

    async def mark(self, tps: Collection[TopicPartition]) -> None:
        """Nothing to remember."""

    async def maintain(self) -> None:
        """Nothing periodic here (retention runs in the service, once an hour)."""

    async def close(self) -> None:
        """Close the pool (waits briefly for a connection in use)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except (TimeoutError, Exception):
                pool.terminate()
