"""One way to open an asyncpg pool: named connections, a statement timeout, lazy connects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


async def open_pool(
    dsn: str,
    *,
    name: str,
    size: int,
    statement_timeout: float,
    min_size: int = 0,
    connect_timeout: float = 10.0,
    init: Callable[[Any], Awaitable[None]] | None = None,
) -> Any:
    """An asyncpg pool whose connections show as ``name`` in ``pg_stat_activity``.

    ``statement_timeout`` is enforced by the server (seconds); the client gives up 5 s later.
    With ``min_size=0`` no connection is opened until the first query, so a server that is down
    is met (and retried) by the caller, not at start.
    """
    import asyncpg

    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=size,
        timeout=connect_timeout,
        command_timeout=statement_timeout + 5.0,
        max_inactive_connection_lifetime=300.0,
        init=init,
        server_settings={
            "application_name": name,
            "statement_timeout": str(int(statement_timeout * 1000)),
        },
    )
