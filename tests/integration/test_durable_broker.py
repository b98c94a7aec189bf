"""A durable embedded broker: stopping and starting the whole stack keeps topics, windows and
consumer positions, and a worker continues where the last one stopped (``lookout run``'s case).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from app.services import Services
from app.settings import load_settings
from devtools.stack import LocalStack
from tests.chaos.finals import read_finals
from tests.integration.checker import expected_windows, key_of, tally
from tests.integration.test_recovery import (
    EXPECTED_RECORDS,
    HOSTS,
    T0,
    WINDOWS,
    Run,
    input_messages,
    wait_for,
)

pytestmark = pytest.mark.integration


def durable_stack(stack_services: Services) -> LocalStack:
    """A broker on disk storage in a folder of its own; Postgres and osmem are the session's."""
    folder = Path(tempfile.mkdtemp(prefix="lookout-durable-"))
    folder.chmod(0o755)
    settings = load_settings(
        {
            "LOOKOUT_STACK_DIR": str(folder),
            "LOOKOUT_BROKER_STORAGE": "disk",
            "LOOKOUT_POSTGRES_DSN": stack_services.postgres_dsn,
            "LOOKOUT_ELASTICSEARCH_URL": stack_services.elasticsearch_url,
        }
    )
    return LocalStack(settings, detached=False, log=lambda line: None)


async def topics_of(services: Services) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=services.bootstrap_servers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_stack_restart_keeps_topics_windows_and_positions(
    stack_services: Services, tmp_path: Path
) -> None:
    """Half the input, stop worker and stack, start both again, the other half: exact windows."""
    messages = input_messages()
    half = (len(messages) - len(HOSTS)) // 2
    stack = durable_stack(stack_services)
    try:
        before = Run(stack.up(), tmp_path, WINDOWS)
        await before.setup()
        first = before.worker("before")
        await asyncio.to_thread(first.start)
        await before.produce(messages[:half])
        await wait_for(lambda: before.records_in() >= 2 * half, 90, "the first half", before)
        host = HOSTS[0]
        windows = first.get(f"/api/hosts/{host}/windows?kind=hopping")
        assert windows["series"], windows
        before.stop()
        stack.down()

        after = Run(stack.up(), tmp_path, WINDOWS, prefix=before.prefix)
        assert {after.names.metrics, after.names.windows} <= await topics_of(after.services)
        second = after.worker("after")
        await asyncio.to_thread(second.start)
        # the windows are back from the changelog
        assert second.get(f"/api/hosts/{host}/windows?kind=hopping") == windows, after.describe()
        started = time.time()

        def caught_up() -> bool:  # the input lag, read since the restart, is zero
            return (
                second.metric("lookout_input_lag_updated_seconds") > started
                and second.metric("lookout_input_lag") == 0
            )

        await wait_for(caught_up, 60, "the restarted worker caught up", after)
        # positions come back with the windows: only the last batches, whose changelog writes
        # were not on the broker at the stop, are read again (at-least-once, windows exact)
        assert after.records_in() < half, after.describe()

        await after.produce(messages[half:])
        rest = EXPECTED_RECORDS - 2 * half
        await wait_for(lambda: after.records_in() >= rest, 90, "the second half", after)
        want = expected_windows(messages, WINDOWS)
        # every series (the counter's too: 3 per host) has 12 tumbling and 14 hopping windows
        finals, _conflicts = await read_finals(
            after.services.bootstrap_servers,
            after.names.windows,
            expected=len(HOSTS) * 3 * (12 + 14),
            timeout=90,
        )
        after.stop()
    finally:
        stack.down()
    result = tally(want, finals.values())
    have = {key_of(rec) for rec in finals.values()}
    missing = sorted({(k[2], k[3] - T0) for k in want if k not in have})
    assert result.exact, f"{result}; windows missing (kind, start - T0): {missing}"
