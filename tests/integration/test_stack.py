"""The embedded local stack: every part answers, stops cleanly, and fails loudly, never hangs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from elasticsearch import ApiError

from app.services import ServiceError, Services, resolve_services
from app.settings import Settings, load_settings
from devtools.stack import LocalStack, StackError
from devtools.stack import local as local_module
from devtools.stack import postgres as postgres_module
from sinks.es_client import make_es_client

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Only the named part is embedded; the other URLs point at nothing and are never contacted.
ONLY = {
    "broker": {
        "LOOKOUT_POSTGRES_DSN": "postgresql://u@127.0.0.1:1/x",
        "LOOKOUT_ELASTICSEARCH_URL": "http://127.0.0.1:1",
    },
    "postgres": {
        "LOOKOUT_BROKER_URL": "kafka://127.0.0.1:1",
        "LOOKOUT_ELASTICSEARCH_URL": "http://127.0.0.1:1",
    },
    "osmem": {
        "LOOKOUT_BROKER_URL": "kafka://127.0.0.1:1",
        "LOOKOUT_POSTGRES_DSN": "postgresql://u@127.0.0.1:1/x",
    },
}


def settings_for(stack_dir: Path, only: str | None = None) -> Settings:
    return load_settings({"LOOKOUT_STACK_DIR": str(stack_dir), **(ONLY[only] if only else {})})


def gone(pid: int) -> bool:
    """No such process, or a zombie waiting for its reaper (its cmdline is empty)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == b""
    except OSError:
        return True


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not all(gone(pid) for pid in pids):
        time.sleep(0.1)
    return [pid for pid in pids if not gone(pid)]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def recorded(stack_dir: Path) -> dict[str, dict[str, object]]:
    parts: dict[str, dict[str, object]] = json.loads((stack_dir / "stack.json").read_text())[
        "parts"
    ]
    return parts


def recorded_pids(stack_dir: Path) -> list[int]:
    pids = []
    for part in recorded(stack_dir).values():
        pids += [int(str(part[key])) for key in ("pid", "watchdog_pid") if part.get(key)]
    return pids


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    # Not pytest's tmp_path: it sits under a 0700 folder that the `postgres` user cannot enter.
    path = Path(tempfile.mkdtemp(prefix="lookout-stack-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(root: Path) -> Iterator[LocalStack]:
    lines: list[str] = []
    local = LocalStack(settings_for(root / "main"), log=lines.append)
    local.up(timeout=60)
    assert [line.split(":")[0] for line in lines if " ready in " in line] == [
        "broker",
        "postgres",
        "osmem",
    ]
    yield local
    local.down()


def test_services_and_state_file(stack: LocalStack, root: Path) -> None:
    services = stack.services
    parts = recorded(root / "main")
    assert services.broker_url == f"kafka://127.0.0.1:{parts['broker']['port']}"
    assert services.bootstrap_servers == f"127.0.0.1:{parts['broker']['port']}"
    assert (
        services.postgres_dsn
        == f"postgresql://postgres@127.0.0.1:{parts['postgres']['port']}/lookout"
    )
    assert services.elasticsearch_url == f"http://127.0.0.1:{parts['osmem']['port']}"
    assert services.embedded_es
    assert "postgresql://" not in repr(services)
    assert resolve_services(settings_for(root / "main")) == services
    state = json.loads((root / "main" / "stack.json").read_text())
    assert state["owner_pid"] == os.getpid() and state["detached"] is False
    status = stack.status()
    assert status["running"] is True and status["stale"] is False
    assert {name: part["state"] for name, part in status["parts"].items()} == {  # type: ignore[attr-defined]
        "broker": "running",
        "postgres": "running",
        "osmem": "running",
    }
    for name, log in (("broker", "broker.log"), ("postgres", "pg.log"), ("osmem", "osmem.log")):
        assert parts[name]["log"] == str(root / "main" / log)
    assert (root / "main" / "pg" / "data" / "PG_VERSION").exists()


async def test_broker_roundtrip(stack: LocalStack) -> None:
    servers = stack.services.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("stack-test", num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        await producer.send_and_wait("stack-test", b'{"hello": 1}', key=b"host-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "stack-test", bootstrap_servers=servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), 15)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"host-1", b'{"hello": 1}')


async def test_postgres_answers_on_lookout_db(stack: LocalStack) -> None:
    conn = await asyncpg.connect(stack.services.postgres_dsn, timeout=10)
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_database()") == "lookout"
    finally:
        await conn.close()


async def test_osmem_answers_http(stack: LocalStack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(stack.services.elasticsearch_url) as r,
    ):
        assert r.status == 200
        assert "version" in await r.json()


async def test_es_client_with_adapter_works_against_osmem(stack: LocalStack) -> None:
    es = make_es_client(stack.services.elasticsearch_url, embedded=True)
    index = "lookout-es-2026.01.01"
    try:
        await es.indices.put_index_template(
            name="lookout-es",
            index_patterns=["lookout-es-*"],
            template={
                "mappings": {
                    "properties": {
                        "@timestamp": {"type": "date"},
                        "host": {"type": "keyword"},
                        "value": {"type": "double"},
                    }
                }
            },
        )
        base = datetime(2026, 1, 1, tzinfo=UTC)
        operations: list[dict[str, object]] = []
        for i in range(100):  # one doc every 6 s: 10 per minute over 10 minutes, 25 per host
            operations.append({"index": {"_index": index, "_id": str(i)}})
            stamp = (base + timedelta(seconds=6 * i)).isoformat()
            operations.append({"@timestamp": stamp, "host": f"h{i % 4}", "value": float(i)})
        bulk = await es.bulk(operations=operations, refresh=True)
        assert bulk["errors"] is False and len(bulk["items"]) == 100
        mapping = await es.indices.get_mapping(index=index)
        assert mapping[index]["mappings"]["properties"]["host"]["type"] == "keyword"
        found = await es.search(index="lookout-es-*", query={"term": {"host": "h1"}}, size=100)
        assert found["hits"]["total"]["value"] == 25
        aggs = await es.search(
            index="lookout-es-*",
            size=0,
            aggs={
                "hosts": {"terms": {"field": "host"}},
                "per_minute": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}},
            },
        )
        hosts = {b["key"]: b["doc_count"] for b in aggs["aggregations"]["hosts"]["buckets"]}
        assert hosts == {"h0": 25, "h1": 25, "h2": 25, "h3": 25}
        minutes = [b["doc_count"] for b in aggs["aggregations"]["per_minute"]["buckets"]]
        assert minutes == [10] * 10
    finally:
        await es.close()


async def test_es_client_without_adapter_gets_406_from_osmem(stack: LocalStack) -> None:
    es = make_es_client(stack.services.elasticsearch_url, embedded=False)
    try:
        with pytest.raises(ApiError) as caught:
            await es.indices.create(index="lookout-plain", mappings={"properties": {}})
        assert caught.value.meta.status == 406
    finally:
        await es.close()


async def test_postgres_stop_and_start_keeps_data(stack: LocalStack) -> None:
    dsn = stack.services.postgres_dsn
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute("create table outage (x int); insert into outage values (42)")
    finally:
        await conn.close()
    stack.stop_part("postgres")
    assert stack.status()["parts"]["postgres"]["state"] == "stopped"  # type: ignore[index]
    with pytest.raises(OSError):
        await asyncpg.connect(dsn, timeout=5)
    stack.start_part("postgres")
    assert stack.services.postgres_dsn == dsn
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        assert await conn.fetchval("select x from outage") == 42
    finally:
        await conn.close()


async def test_osmem_restarts_on_same_port_empty(stack: LocalStack) -> None:
    url = stack.services.elasticsearch_url
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{url}/before-restart") as r:
            assert r.status == 200
        stack.stop_part("osmem")
        stack.start_part("osmem")
        assert stack.services.elasticsearch_url == url
        async with session.get(f"{url}/before-restart") as r:
            assert r.status == 404


def test_down_stops_every_process_and_frees_ports(root: Path) -> None:
    local = LocalStack(settings_for(root / "down"), log=lambda line: None)
    local.up(timeout=60)
    parts = recorded(root / "down")
    pids, ports = recorded_pids(root / "down"), [int(str(p["port"])) for p in parts.values()]
    assert len(pids) == 4  # tansu, postmaster, osmem-server and the postgres watchdog
    local.down()
    assert wait_gone(pids, 5) == []
    assert all(port_free(port) for port in ports)
    assert not (root / "down" / "stack.json").exists()
    local.down()  # idempotent
    with pytest.raises(ServiceError, match="lookout stack up"):
        resolve_services(settings_for(root / "down"))


def test_detached_stack_is_found_reused_and_stopped_from_state_file(root: Path) -> None:
    settings = settings_for(root / "detached")
    services = LocalStack(settings, detached=True, log=lambda line: None).up(timeout=60)
    pids = recorded_pids(root / "detached")
    assert len(pids) == 3  # no watchdog: a detached Postgres outlives the command
    assert resolve_services(settings) == services
    lines: list[str] = []
    again = LocalStack(settings, detached=True, log=lines.append)
    assert again.up() == services
    assert "already running" in lines[0]
    again.down()  # reused, not owned: leaves it running
    assert not any(gone(pid) for pid in pids)
    LocalStack(settings, log=lambda line: None).down()  # `lookout stack down`
    assert wait_gone(pids, 5) == []
    assert not (root / "detached" / "stack.json").exists()


def test_stale_state_file_is_reported_and_replaced(root: Path) -> None:
    settings = settings_for(root / "stale", only="broker")
    first = LocalStack(settings, log=lambda line: None)
    first.up(timeout=20)
    [pid] = recorded_pids(root / "stale")
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid], 5) == []
    status = LocalStack(settings).status()
    assert status["stale"] is True and status["running"] is False
    with pytest.raises(ServiceError, match="stale"):
        resolve_services(settings)
    lines: list[str] = []
    second = LocalStack(settings, log=lines.append)
    second.up(timeout=20)
    try:
        assert "stale" in lines[0]
        [new_pid] = recorded_pids(root / "stale")
        assert new_pid != pid and second.status()["running"] is True
    finally:
        second.down()


@pytest.mark.parametrize("part", ["broker", "postgres", "osmem"])
def test_taken_fixed_port_fails_fast_naming_the_part(root: Path, part: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        local = LocalStack(
            settings_for(root / f"taken-{part}", only=part), **{f"{part}_port": port}
        )
        started = time.monotonic()
        with pytest.raises(StackError) as caught:
            local.up(timeout=30)
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(f"{part}: port 127.0.0.1:{port} is already in use")
    assert not (root / f"taken-{part}" / "stack.json").exists()


@pytest.mark.parametrize("part", ["broker", "postgres", "osmem"])
def test_part_that_dies_at_start_reports_command_and_log(
    root: Path, part: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "port_taken", lambda port: False)  # let it try to bind
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        local = LocalStack(settings_for(root / f"dies-{part}", only=part), **{f"{part}_port": port})
        started = time.monotonic()
        with pytest.raises(StackError) as caught:
            local.up(timeout=30)
    message = str(caught.value)
    assert time.monotonic() - started < 10
    assert message.startswith(f"{part}: ")
    assert "command: " in message and f"log: {root / f'dies-{part}'}" in message
    assert "in use" in message.split("last lines of the log:")[1]  # the server's own words
    assert not (root / f"dies-{part}" / "stack.json").exists()


def test_missing_postgres_names_the_install_command(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres_module, "PG_ROOT", tmp_path)  # no /usr/lib/postgresql/<v>/bin
    monkeypatch.setattr(postgres_module, "_is_root", lambda: False)
    local = LocalStack(settings_for(root / "no-pg", only="postgres"), log=lambda line: None)
    with pytest.raises(
        StackError, match=r"^postgres: .*apt-get install -y postgresql.*LOOKOUT_POSTGRES_DSN"
    ):
        local.up(timeout=10)


LAUNCHER = """
import json, sys, threading, time
from app.settings import load_settings
from devtools.stack import LocalStack
stack = LocalStack(load_settings({"LOOKOUT_STACK_DIR": sys.argv[1]}), log=lambda line: None)
thread = threading.Thread(target=stack.up, kwargs={"timeout": 30})  # the spawning thread ends
thread.start()
thread.join()
print("up", flush=True)
time.sleep(120)
"""


def test_attached_servers_die_with_their_launcher(root: Path) -> None:
    stack_dir = root / "orphans"
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(stack_dir)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert launcher.stdout is not None
        assert launcher.stdout.readline() == b"up\n"
        pids = recorded_pids(stack_dir)
        assert len(pids) == 4
        time.sleep(0.3)
        assert not any(gone(pid) for pid in pids)  # the end of the spawning thread killed nothing
        launcher.kill()
        launcher.wait()
        assert wait_gone(pids, 20) == []
    finally:
        launcher.kill()
        launcher.wait()
        if launcher.stdout is not None:
            launcher.stdout.close()
        LocalStack(settings_for(stack_dir), log=lambda line: None).down()


def test_external_services_need_no_stack(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "LOOKOUT_STACK_DIR": str(tmp_path),
            "LOOKOUT_BROKER_URL": "kafka://k1:9092,kafka://k2:9092",
            "LOOKOUT_POSTGRES_DSN": "postgresql://u:secret@db:5432/lookout",
            "LOOKOUT_ELASTICSEARCH_URL": "http://es:9200",
        }
    )
    services = resolve_services(settings)
    assert services == Services(
        "kafka://k1:9092,kafka://k2:9092",
        "postgresql://u:secret@db:5432/lookout",
        "http://es:9200",
        embedded_es=False,
    )
    assert services.bootstrap_servers == "k1:9092,k2:9092"
    assert "secret" not in repr(services)
    assert LocalStack(settings).up() == services  # nothing to start
    assert not (tmp_path / "stack.json").exists()
