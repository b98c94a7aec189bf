"""The real local stack for integration tests, started once per session by the tests themselves.

Parts whose LOOKOUT_BROKER_URL / LOOKOUT_POSTGRES_DSN / LOOKOUT_ELASTICSEARCH_URL are set are
used as they are; the others are started from the embedded stack. A part that cannot start fails
the session loudly (StackError), it never skips.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services import Services
from app.settings import load_settings
from devtools.stack import LocalStack
from tests.integration.auth_stack import AuthStack, start, stop


@pytest.fixture(scope="session")
def stack_services() -> Iterator[Services]:
    """Start (or connect to) broker, Postgres and osmem for the whole session."""
    tmp = Path(tempfile.mkdtemp(prefix="lookout-test-stack-"))
    tmp.chmod(0o755)  # the postgres user must reach its data dir inside
    env = {k: v for k, v in os.environ.items() if k.startswith("LOOKOUT_")}
    env["LOOKOUT_STACK_DIR"] = str(tmp)
    stack = LocalStack(load_settings(env), detached=False, log=lambda line: None)
    services = stack.up()
    try:
        yield services
    finally:
        stack.down()


@pytest.fixture(scope="session")
def bootstrap_servers(stack_services: Services) -> str:
    """``host:port`` of the test broker."""
    return stack_services.bootstrap_servers


@pytest.fixture(scope="session")
def pg_dsn(stack_services: Services) -> str:
    """A fresh database on the test Postgres, for this session."""
    import asyncpg

    name = f"lookout_test_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(stack_services.postgres_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base, _, _ = stack_services.postgres_dsn.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def es_url(stack_services: Services) -> str:
    """URL of the test Elasticsearch-compatible server."""
    return stack_services.elasticsearch_url


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix, so every test starts with empty topics."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(scope="module")
def own_broker(stack_services: Services) -> Iterator[Services]:
    """A fresh embedded broker for one test module (the session broker holds every other test's
    topics); Postgres and osmem are the session's."""
    folder = Path(tempfile.mkdtemp(prefix="lookout-own-broker-"))
    folder.chmod(0o755)
    settings = load_settings(
        {
            "LOOKOUT_STACK_DIR": str(folder),
            "LOOKOUT_POSTGRES_DSN": stack_services.postgres_dsn,
            "LOOKOUT_ELASTICSEARCH_URL": stack_services.elasticsearch_url,
        }
    )
    stack = LocalStack(settings, detached=False, log=lambda line: None)
    services = stack.up()
    try:
        yield services
    finally:
        stack.down()


@pytest.fixture(scope="module")
def auth_stack(
    stack_services: Services, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthStack]:
    """A worker with sign-in on and two tenants, for one test module (auth_stack.py)."""
    s = start(stack_services, pg_dsn, tmp_path_factory.mktemp("auth"))
    try:
        yield s
    finally:
        stop(s, stack_services)
