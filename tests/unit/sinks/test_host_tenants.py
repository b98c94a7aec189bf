"""The sinks' host->tenant map: loaded before a batch when stale or when a host is new."""

from __future__ import annotations

import pytest

from sinks.errors import TenantMapUnavailable, hint
from sinks.host_tenants import HostTenants, keyed_hosts
from tests.unit.sinks.fakes import Rec


class Source:
    """v_host_tenant as a dict; ``down`` makes the next loads fail."""

    def __init__(self) -> None:
        self.rows: dict[str, str] = {}
        self.loads = 0
        self.down = False

    async def __call__(self) -> dict[str, str]:
        self.loads += 1
        if self.down:
            raise ConnectionRefusedError("postgres is down")
        return dict(self.rows)


def make(source: Source) -> tuple[HostTenants, list[float]]:
    now = [100.0]
    return HostTenants("default", source, refresh=30.0, clock=lambda: now[0]), now


async def test_loads_first_then_on_a_new_host_then_when_stale() -> None:
    source = Source()
    source.rows = {"web-a": "acme"}
    tenants, now = make(source)
    await tenants.ensure(["web-a"])
    assert source.loads == 1 and tenants.map.of("web-a") == "acme"
    await tenants.ensure(["web-a"])
    assert source.loads == 1  # known host, fresh map
    source.rows["web-new"] = "acme"  # claimed by an ingest key a moment ago
    await tenants.ensure(["web-new", "web-a"])
    assert source.loads == 2 and tenants.map.of("web-new") == "acme"
    await tenants.ensure(["lonely"])  # nobody's: checked once, default from then on
    await tenants.ensure(["lonely"])
    assert source.loads == 3 and tenants.map.of("lonely") == "default"
    source.rows["lonely"] = "beta"
    now[0] += 31  # the periodic refresh picks up a later assignment
    await tenants.ensure([])
    assert source.loads == 4 and tenants.map.of("lonely") == "beta"


async def test_a_needed_load_that_fails_raises_a_refresh_that_fails_keeps_the_map() -> None:
    source = Source()
    source.down = True
    tenants, now = make(source)
    with pytest.raises(TenantMapUnavailable) as first:
        await tenants.ensure([])  # never loaded: the runner retries the batch
    assert isinstance(first.value.__cause__, ConnectionRefusedError)
    assert "PostgreSQL (the host->tenant map)" in hint(first.value, "elasticsearch")
    source.down = False
    source.rows = {"web-a": "acme"}
    await tenants.ensure([])
    source.down = True
    now[0] += 31
    await tenants.ensure(["web-a"])  # stale, but the hosts are known: keep the map
    assert tenants.map.of("web-a") == "acme"
    with pytest.raises(TenantMapUnavailable, match="web-new"):
        await tenants.ensure(["web-new"])  # might be claimed: never guess the default
    assert tenants.unknown(["web-new"]) == {"web-new"}


async def test_without_a_loader_every_host_is_in_the_default_tenant() -> None:
    tenants = HostTenants("main")
    await tenants.ensure(["x"])
    assert tenants.map.of("x") == "main" and tenants.loads == 0


def test_keyed_hosts_are_the_keys_of_the_input_topics() -> None:
    messages = [
        Rec("m", 0, 0, b"web-a", b"", 0),
        Rec("m", 0, 1, None, b"", 0),
        Rec("w", 0, 0, b"web-b", b"", 0),
    ]
    assert keyed_hosts(messages, ("m",)) == {"web-a"}  # type: ignore[arg-type]
