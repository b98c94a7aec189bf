"""Schema migrations (versioned plain SQL files) and retention of raw rows in PostgreSQL.

A migration is a file ``NNNN_name.sql`` in ``infra/migrations``; its version is the number
``NNNN``. Pending files run in version order, each in its own transaction together with its row in
``schema_migrations``, so a failing file leaves nothing behind. A session advisory lock makes
workers that start together take turns: the second finds everything applied. An applied file is
immutable: if its checksum (SHA-256 of the text, line endings normalised) changed, ``migrate``
refuses before applying anything; change the schema with a new file instead. Files must not
contain ``BEGIN``/``COMMIT`` or ``CREATE INDEX CONCURRENTLY`` (they run inside a transaction).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "infra" / "migrations"
# pg_advisory_lock key shared by every Lookout process: "LKMIGRAT" as a signed 64-bit integer.
LOCK_KEY = int.from_bytes(b"LKMIGRAT", "big", signed=True)
# Raw tables pruned by retention(), each with its event-time column.
RAW_TABLES = {"server_metrics": "time", "application_logs": "time", "error_logs": "time"}
RETENTION_BATCH = 10_000

_FILE_NAME = re.compile(r"^(?P<version>\d+)_[A-Za-z0-9_.-]+\.sql$")
_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration cannot be applied; the message names the file (or server) and the fix."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file: version (its number), file name, text and checksum."""

    version: str
    name: str
    sql: str
    checksum: str


def discover(folder: Path) -> list[Migration]:
    """Read the ``NNNN_name.sql`` files of ``folder`` in version order."""
    if not folder.is_dir():
        raise MigrationError(f"migrate: migrations folder {folder} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"migrate: {path.name}: a migration file must be named NNNN_name.sql "
                "(digits, underscore, letters); rename it"
            )
        try:
            sql = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError as exc:
            raise MigrationError(f"migrate: {path.name} is not UTF-8 text ({exc})") from None
        version = match["version"]
        if int(version) in found:
            raise MigrationError(
                f"migrate: {path.name} and {found[int(version)].name} share version {version}; "
                "give the newer one the next free number"
            )
        checksum = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        found[int(version)] = Migration(version, path.name, sql, checksum)
    return [found[number] for number in sorted(found)]


async def migrate(
    dsn: str,
    *,
    folder: Path | None = None,
    progress: Callable[[str], None] = print,
    lock_timeout: float = 300.0,
) -> list[str]:
    """Apply pending migrations in order; return the names of the files applied (maybe none)."""
    migrations = discover(folder if folder is not None else MIGRATIONS_DIR)
    conn = await connect(dsn, "migrate")
    try:
        await _lock(conn, progress, lock_timeout)
        try:
            await conn.execute(_CREATE_LEDGER)
            rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
            applied = {row["version"]: row for row in rows}
            _check_unchanged(migrations, applied)
            known = {m.version for m in migrations}
            unknown = sorted(set(applied) - known)
            if unknown:
                progress(
                    f"migrate: note: the database has migrations this build does not ship: "
                    f"{', '.join(applied[v]['name'] for v in unknown)}"
                )
            pending = [m for m in migrations if m.version not in applied]
            if not pending:
                progress(f"migrate: nothing to apply, {len(applied)} migrations already applied")
                return []
            for migration in pending:
                await _apply(conn, migration, progress)
            return [m.name for m in pending]
        finally:
            if not conn.is_closed():
                with contextlib.suppress(asyncpg.PostgresError, OSError):
                    await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()


async def retention(
    dsn: str, *, keep_days: int, now: datetime | None = None, batch: int = RETENTION_BATCH
) -> dict[str, int]:
    """Delete raw rows older than ``keep_days`` days (before ``now``); return counts per table."""
    if keep_days < 1:
        raise ValueError(f"retention: keep_days must be at least 1 (got {keep_days})")
    if batch < 1:
        raise ValueError(f"retention: batch must be at least 1 (got {batch})")
    if now is not None and now.tzinfo is None:
        raise ValueError("retention: now must be timezone-aware (UTC)")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    conn = await connect(dsn, "retention")
    try:
        counts: dict[str, int] = {}
        for table, column in RAW_TABLES.items():
            # Short batches keep each transaction (and its locks and WAL burst) small.
            statement = (
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                f"SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2))"
            )
            total = 0
            while True:
                status = await conn.execute(statement, cutoff, batch)
                deleted = int(status.rsplit(" ", 1)[-1])
                total += deleted
                if deleted < batch:
                    break
            counts[table] = total
        return counts
    finally:
        await conn.close()


async def connect(dsn: str, purpose: str, *, connect_timeout: float = 10.0) -> Any:
    """Open one asyncpg connection, or raise :class:`MigrationError` saying what to check."""
    try:
        return await asyncpg.connect(
            dsn, timeout=connect_timeout, server_settings={"application_name": f"lookout-{purpose}"}
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise MigrationError(
            f"{purpose}: cannot connect to PostgreSQL at {_safe_dsn(dsn)}: {exc} "
            "(check LOOKOUT_POSTGRES_DSN and that the server is running)"
        ) from None


async def _lock(conn: Any, progress: Callable[[str], None], wait_seconds: float) -> None:
    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
        return
    progress("migrate: another process is migrating this database; waiting for it to finish")
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY, timeout=wait_seconds)
    except TimeoutError:
        raise MigrationError(
            f"migrate: waited {wait_seconds:g} s for the migration lock; another migrate is still "
            "running or stuck (see pg_stat_activity, application_name 'lookout-migrate')"
        ) from None


def _check_unchanged(migrations: list[Migration], applied: dict[str, Any]) -> None:
    for migration in migrations:
        row = applied.get(migration.version)
        if row is not None and row["checksum"] != migration.checksum:
            raise MigrationError(
                f"migrate: {migration.name} was changed after it was applied (as {row['name']}): "
                f"checksum {row['checksum'][:12]} in schema_migrations, {migration.checksum[:12]} "
                "on disk. Applied migrations are immutable: restore the file and put the change "
                "in a new migration with the next number. Nothing was applied."
            )


async def _apply(conn: Any, migration: Migration, progress: Callable[[str], None]) -> None:
    started = time.perf_counter()
    try:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
    except asyncpg.PostgresError as exc:
        progress(f"migrate: applying {migration.name} ... failed")
        raise MigrationError(
            f"migrate: {migration.name}{_line_of(migration.sql, exc)}: {exc}"
            f"{_detail(exc)}. The file was rolled back; fix it and run migrate again."
        ) from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    progress(f"migrate: applying {migration.name} ... ok ({elapsed_ms:.0f} ms)")


def _line_of(sql: str, exc: Exception) -> str:
    position = getattr(exc, "position", None)
    if not position or not str(position).isdigit():
        return ""
    return f" line {sql.count(chr(10), 0, int(position) - 1) + 1}"


def _detail(exc: Exception) -> str:
    parts = [getattr(exc, "detail", None), getattr(exc, "hint", None)]
    return "".join(f" ({part})" for part in parts if part)


def _safe_dsn(dsn: str) -> str:
    """Host, port and database of a DSN, never its password."""
    if not dsn.startswith(("postgres://", "postgresql://")):
        return "the configured DSN"
    try:
        url = urlsplit(dsn)
        host = url.hostname or "localhost"
        port = url.port or 5432
    except ValueError:
        return "(unparsable DSN)"
    database = url.path.lstrip("/") or url.username or "postgres"
    return f"{host}:{port}/{database}"
