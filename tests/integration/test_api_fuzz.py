"""The HTTP API on a real worker: schemathesis finds no server error, unknown things are 404 JSON.

One worker for the module (real broker), with data for a host, a firing alert and an incident.
schemathesis runs its CLI against /api/openapi.json with the token (write endpoints included)
and a bounded number of examples per operation, with sign-in on (LOOKOUT_JWT_SECRET: every read
needs a token too); it must find no 5xx and every status code,
content type, header and body must match the document. The positive-data check is left out:
ingest bodies (Telegraf, nginx) and silence times carry rules a JSON schema cannot say.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from app.services import Services
from app.settings import load_settings
from app.topics import ensure_topics
from tests.integration.api_client import Reply, call, wait_for
from tests.integration.auth_stack import RULES
from tests.integration.notify_db import migrated_database
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

TOKEN = "fuzz-token-1"
JWT_SECRET = "fuzz-jwt-secret-0123456789abcdef0123456789"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
        "unsupported_method",
        "missing_required_header",
    ]
)


@pytest.fixture(scope="module")
def worker(
    stack_services: Services, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """A worker with host web-1 (a firing alert 'hot') and service shop, on a migrated database
    (GET /api/notifications reads the outbox; a missing table would be a 503)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    prefix = f"z{int(time.time() * 1000) % 10**8}."
    env = worker_env(
        stack_services,
        prefix,
        rules=str(rules),
        api_token=TOKEN,
        jwt_secret=JWT_SECRET,
        ingest_keys=TOKEN,
        ingest_rate="1000",
        ingest_burst="1000",
        logs_tail_max_seconds="1",  # a live tail ends after a second: schemathesis reads it whole
    )
    env["LOOKOUT_POSTGRES_DSN"] = asyncio.run(migrated_database(pg_dsn, "lookout_fuzz"))
    asyncio.run(ensure_topics(load_settings(env), stack_services.bootstrap_servers))
    w = Worker(env, tmp, name="fuzz").start()
    try:
        now = time.time()
        metrics = {
            "metrics": [
                {"name": "temp", "tags": {"host": "web-1"}, "fields": {"c": 80}, "timestamp": now},
                {"name": "cpu", "tags": {"host": "web-1"}, "fields": {"u": 5}, "timestamp": now},
            ]
        }
        log = {
            "timestamp": now,
            "level": "error",
            "service": "shop",
            "host": "web-1",
            "message": "x",
        }
        for path, body in [("/api/ingest/metrics", metrics), ("/api/ingest/logs", log)]:
            reply = call("POST", w.url + path, orjson.dumps(body), token=TOKEN)
            assert reply.status == 202, reply.text
        wait_for(lambda: w.get("/api/alerts?status=firing")["alerts"], 30, "alert 'hot' to fire")
        wait_for(lambda: w.get("/api/services/shop/windows")["hosts"], 30, "service shop")
        yield w
    finally:
        w.stop()


def get(w: Worker, path: str) -> Reply:
    return call("GET", w.url + path, token=TOKEN)


def assert_json_404(reply: Reply) -> None:
    assert reply.status == 404, (reply.status, reply.text)
    assert reply.headers["Content-Type"].startswith("application/json")
    assert set(reply.json()) == {"error"} and reply.json()["error"]


def test_unknown_hosts_series_alerts_incidents_answer_404_json(worker: Worker) -> None:
    cpu = urllib.parse.quote("cpu,host=web-1 u")
    alert = worker.get("/api/alerts?status=firing")["alerts"][0]
    incident = worker.get("/api/incidents")["incidents"][0]
    # the known ones answer
    assert get(worker, f"/api/hosts/web-1/series/{cpu}").json()["current"]["value"]["max"] == 5
    assert get(worker, "/api/hosts/web-1/recent").status == 200
    assert get(worker, f"/api/alerts/{alert['fingerprint']}").json()["rule"] == "hot"
    assert get(worker, f"/api/incidents/{incident['incident_id']}").json()["rule"] == "hot"
    # the unknown ones do not
    for path in [
        "/api/hosts/nope/windows",
        "/api/hosts/nope/recent",
        f"/api/hosts/nope/series/{cpu}",
        "/api/hosts/web-1/series/nope",
        "/api/series?host=nope",
        "/api/services/nope/windows",
        "/api/alerts/0000000000000000",
        "/api/incidents/0000000000000000:1",
        "/static/nope.js",
        "/api/nope",
    ]:
        assert_json_404(get(worker, path))
    assert_json_404(
        call("POST", worker.url + "/api/alerts/0000000000000000/ack", {"by": "x"}, token=TOKEN)
    )
    assert_json_404(call("DELETE", worker.url + "/api/silences/nope", token=TOKEN))


def test_no_cors_by_default_and_no_undocumented_faust_views(worker: Worker) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    reply = call("GET", worker.url + "/api/hosts", headers=origin, token=TOKEN)
    assert reply.status == 200 and "Access-Control-Allow-Origin" not in reply.headers
    preflight = call(
        "OPTIONS",
        worker.url + "/api/silences",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 405 and "Access-Control-Allow-Origin" not in preflight.headers
    for path in ["/table/", "/router/", "/graph/", "/stats/"]:
        assert_json_404(get(worker, path))


def test_schemathesis_finds_no_server_error(worker: Worker, tmp_path: Path) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if cli is None:
        pytest.fail(
            "schemathesis is not installed in this environment: it is a dev dependency "
            "(pip install -e '.[dev]', or pip install schemathesis)"
        )
    started = time.monotonic()
    proc = subprocess.run(
        [
            cli,
            "run",
            f"{worker.url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--seed",
            "20261122",
            "--workers",
            "1",
            "--no-shrink",
            "--request-timeout",
            "10",
            "--max-failures",
            "20",
        ],
        cwd=tmp_path,  # schemathesis and hypothesis write their caches here
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = proc.stdout + proc.stderr
    print(f"schemathesis took {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, f"schemathesis failed:\n{output[-12000:]}\n{worker.tail()}"
    assert "Server error" not in output
    # The records schemathesis ingested reach the pipeline (it must survive them): the input lag,
    # read after the run ended, is zero.
    ended = time.time()
    deadline = time.monotonic() + 60
    while not (
        worker.metric("lookout_input_lag_updated_seconds") > ended
        and worker.metric("lookout_input_lag") == 0
    ):
        assert time.monotonic() < deadline, f"input never applied:\n{worker.tail()}"
        time.sleep(0.2)
    health = worker.get("/api/health")
    assert health["status"] == "ok" and worker.proc is not None and worker.proc.poll() is None
