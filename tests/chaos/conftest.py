"""The chaos tier (``make chaos``): each scenario on a stack of its own, faults injected, a row of
what was seen written to the results file that ``python -m tests.chaos.render`` turns into
docs/RELIABILITY.md. Not part of ``make test`` (its paths do not include tests/chaos)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services import Services
from app.settings import load_settings
from devtools.stack import LocalStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is a chaos test."""
    for item in items:
        if "tests/chaos/" in str(item.fspath):
            item.add_marker(pytest.mark.chaos)


def own_stack(storage: str) -> Iterator[tuple[LocalStack, Services]]:
    """Broker (``storage``: disk or memory), Postgres and osmem for one scenario alone (so parts
    can be killed)."""
    tmp = Path(tempfile.mkdtemp(prefix="lookout-chaos-"))
    tmp.chmod(0o755)  # the postgres user must reach its data dir inside
    settings = load_settings({"LOOKOUT_STACK_DIR": str(tmp), "LOOKOUT_BROKER_STORAGE": storage})
    stack = LocalStack(settings, detached=False, log=lambda line: None)
    services = stack.up()
    try:
        yield stack, services
    finally:
        stack.down()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def chaos_stack() -> Iterator[tuple[LocalStack, Services]]:
    """Durable broker, Postgres and osmem for this scenario alone (so parts can be killed)."""
    yield from own_stack("disk")


@pytest.fixture
def chaos_stack_memory() -> Iterator[tuple[LocalStack, Services]]:
    """The same with the in-memory broker (tests' and the bench's default): for a scenario
    about the worker's own limits, where the durable broker's CPU would be the bottleneck."""
    yield from own_stack("memory")
