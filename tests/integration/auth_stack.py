"""Two tenants on a real worker with sign-in on: users of each role, ingest keys, firing alerts,
and the Elasticsearch sink storing their log lines (each document labelled with its tenant).

The alert rule is the fuzz test's (``hot``: temp.c max over a tumbling window above 50).

Shared by the authorization matrix and the attack tests (tests/integration/test_auth_*.py),
through the module fixture ``auth_stack`` (conftest.py).
The first admin is made with the CLI (``lookout users add``), as a new install would; the rest
through the API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from app.services import Services
from app.settings import load_settings
from app.topics import ensure_topics
from devtools.bench.logsearch import drop
from sinks.es_templates import index_prefix
from tests.integration.api_client import Reply, call, wait_for
from tests.integration.notify_db import migrated_database
from tests.integration.workers import Worker, worker_env

TOKEN = "auth-server-admin-token"
SECRET = "auth-jwt-secret-0123456789abcdef0123456789"
PASSWORD = "pass-word-123"
RULES = """\
rules:
  - name: hot
    measurement: temp
    field: c
    aggregate: max
    window: tumbling
    op: ">"
    threshold: 50
    severity: critical
"""
USERS = {  # name: (tenant, role)
    "viewer-a": ("tenant-a", "viewer"),
    "operator-a": ("tenant-a", "operator"),
    "viewer-b": ("tenant-b", "viewer"),
    "disabled-a": ("tenant-a", "viewer"),
}


@dataclass
class AuthStack:
    """The worker, its environment, the users' access tokens and the tenants' ingest keys."""

    worker: Worker
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None, who: str | None = None) -> Reply:
        """A request as ``who`` (a user name, ``server-admin``, or None: no token)."""
        token = TOKEN if who == "server-admin" else self.tokens.get(who or "")
        return call(method, self.worker.url + path, body, token=token)

    def ingest(self, key: str, host: str, value: float = 80.0) -> Reply:
        """POST one metric of ``host`` with an ingest key."""
        metric = {"name": "temp", "tags": {"host": host}, "fields": {"c": value}}
        body = orjson.dumps({**metric, "timestamp": time.time()})
        return call("POST", self.worker.url + "/api/ingest/metrics", body, token=key)

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run ``lookout ARGS`` against the worker's database."""
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            input=stdin,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def login(self, name: str, password: str = PASSWORD) -> Reply:
        """POST /api/auth/login."""
        body = {"username": name, "password": password}
        return call("POST", self.worker.url + "/api/auth/login", body)


def start(services: Services, pg_dsn: str, tmp: Path, **extra: str) -> AuthStack:
    """A worker with tenants A and B, their users and keys, and a firing alert on each."""
    (tmp / "rules.yaml").write_text(RULES)
    prefix = f"au{int(time.time() * 1000) % 10**8}."
    env = worker_env(
        services,
        prefix,
        rules=str(tmp / "rules.yaml"),
        api_token=TOKEN,
        jwt_secret=SECRET,
        tenant_refresh="1",
        logs_tail_max_seconds="1",  # a live tail answered to an allowed caller ends by itself
        sinks="elasticsearch",  # the log API reads what the sink stored, per tenant
        **extra,
    )
    env["LOOKOUT_POSTGRES_DSN"] = asyncio.run(migrated_database(pg_dsn, "lookout_auth"))
    asyncio.run(ensure_topics(load_settings(env), services.bootstrap_servers))
    stack = AuthStack(Worker(env, tmp, name="auth").start(), env)
    for tenant in ("tenant-a", "tenant-b"):
        reply = stack.call("POST", "/api/tenants", {"name": tenant}, "server-admin")
        assert reply.status == 201, reply.text
    made = stack.cli(
        "users", "add", "admin-a", "--tenant", "tenant-a", "--role", "admin",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    stack.tokens["admin-a"] = stack.login("admin-a").json()["access_token"]
    for name, (tenant, role) in USERS.items():
        body = {"username": name, "password": PASSWORD, "tenant": tenant, "role": role}
        who = "admin-a" if tenant == "tenant-a" else "server-admin"
        reply = stack.call("POST", "/api/users", body, who)
        assert reply.status == 201, reply.text
        tokens = stack.login(name).json()
        stack.tokens[name], stack.refresh[name] = tokens["access_token"], tokens["refresh_token"]
    for tenant, who in [("tenant-a", "admin-a"), ("tenant-b", "server-admin")]:
        reply = stack.call("POST", "/api/keys", {"tenant": tenant, "name": "t"}, who)
        assert reply.status == 201, reply.text
        stack.keys[tenant] = reply.json()["key"]
    for tenant, host in [("tenant-a", "web-a"), ("tenant-b", "web-b")]:
        assert stack.ingest(stack.keys[tenant], host).status == 202
    log = {"timestamp": time.time(), "level": "error", "service": "shop", "host": "web-a"}
    reply = call(
        "POST",
        stack.worker.url + "/api/ingest/logs",
        orjson.dumps({**log, "message": "x"}),
        token=stack.keys["tenant-a"],
    )
    assert reply.status == 202, reply.text
    wait_for(
        lambda: len(stack.worker.get("/api/alerts?status=firing")["alerts"]) == 2,
        40,
        "alert 'hot' to fire on web-a and web-b",
    )
    wait_for(lambda: stack.worker.get("/api/incidents")["incidents"], 20, "incidents")
    wait_for(lambda: stack.worker.get("/api/services/shop/windows")["hosts"], 30, "service")
    disabled = stack.cli("users", "disable", "disabled-a")
    assert disabled.returncode == 0, disabled.stderr
    time.sleep(2.5)  # the worker reloads disabled users every LOOKOUT_TENANT_REFRESH (1 s)
    return stack


def stop(stack: AuthStack, services: Services) -> None:
    """Stop the worker and drop the log indices its sink wrote."""
    stack.worker.stop()
    asyncio.run(drop(services, index_prefix(stack.env["LOOKOUT_TOPIC_PREFIX"])))


async def keys_on_topic(bootstrap: str, topic: str) -> list[bytes]:
    """The keys of every message on ``topic`` (all partitions, from the start)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    keys: list[bytes] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return keys
            keys.extend(m.key or b"" for msgs in batch.values() for m in msgs)
    finally:
        await consumer.stop()
