"""The live page in a real browser: Debian's chromium driven by playwright-core (tests/browser).

A worker with sign-in on and ``lookout simulate`` (cpu saturation on host-001 from the start,
one-second interval) run on the test stack; the rule ``cpu_hot`` fires within seconds. An
operator of the default tenant (the simulated hosts' tenant) is made with the CLI, as a new
install would. The Node script opens the page, signs in with that user's name and password
through the sign-in form, waits for values, sees one change between two polls, clicks Ack on
the firing alert and sees it acknowledged, follows the live log tail and searches the logs the
worker's Elasticsearch sink stored (both answered for the user's tenant), and saves a
screenshot to tests/artifacts/live-page.png. The API must then report the alert acknowledged
by that user.

Needs /usr/bin/chromium (``apt-get install -y chromium``), node, and ``npm ci --prefix
tests/browser``: the test fails, never skips, when one is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.services import Services
from app.settings import load_settings
from app.topics import ensure_topics
from devtools.bench.logsearch import drop
from sinks.es_templates import index_prefix
from tests.integration.notify_db import drop_database, migrated_database
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = ROOT / "tests" / "browser"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "browser-token-1"  # the server admin: the test's own reads
SECRET = "browser-jwt-secret-0123456789abcdef01234567"
WHO = "browser-test"
PASSWORD = "browser-pass-word-1"
RULES = """\
rules:
  - name: cpu_hot
    measurement: cpu
    field: usage_active
    match: {cpu: cpu-total}
    aggregate: mean
    window: tumbling
    op: ">"
    threshold: 90
    recovery: 80
    severity: critical
    annotations:
      summary: "{labels.host}: CPU {value:.0f}% busy"
"""
WINDOWS = {"tumbling_size": "5", "hopping_size": "15", "hopping_step": "5", "grace": "1"}


def require_browser_tools() -> str:
    """The node binary; fail (never skip) with the fix when a tool is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
            "the browser test drives it through playwright-core"
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: install Node.js 18+ (apt-get install -y nodejs npm)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail(
            "playwright-core is not installed for the browser test: run "
            "`npm ci --prefix tests/browser` (package-lock.json is committed)"
        )
    return node


def poll(fn: object, timeout: float, what: str, worker: Worker) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = fn()  # type: ignore[operator]
        except (OSError, KeyError, StopIteration):
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{worker.tail()}")


def cli(env: dict[str, str], *args: str, stdin: str = "") -> None:
    """Run ``lookout ARGS`` against the worker's database; fail with its error."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"lookout {' '.join(args)}: {done.stderr}"


def test_live_page_shows_live_values_and_acks_an_alert(
    stack_services: Services, pg_dsn: str, tmp_path: Path
) -> None:
    node = require_browser_tools()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    prefix = f"b{int(time.time() * 1000) % 10**8}."
    env = worker_env(
        stack_services,
        prefix,
        rules=str(rules),
        api_token=TOKEN,
        jwt_secret=SECRET,  # sign-in on: every read needs a token
        sinks="elasticsearch",  # the Logs view searches what the sink stored
        **WINDOWS,
    )
    env["LOOKOUT_POSTGRES_DSN"] = asyncio.run(migrated_database(pg_dsn, "lookout_browser"))
    cli(env, "tenants", "add", "default")
    cli(env, "users", "add", WHO, "--tenant", "default", "--role", "operator",
        "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    asyncio.run(ensure_topics(load_settings(env), stack_services.bootstrap_servers))
    worker = Worker(env, tmp_path, name="browser").start()
    sim_log = tmp_path / "simulator.log"
    with open(sim_log, "wb") as fh:
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "simulate",
                "--hosts",
                "3",
                "--services",
                "2",
                "--interval",
                "1",
                "--seed",
                "5",
                "--timeline",
                "cpu_saturation@0+3600:host=1",
            ],
            env={**os.environ, **env},
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        alert = poll(
            lambda: next(
                a
                for a in worker.get("/api/alerts?status=firing")["alerts"]
                if a["rule"] == "cpu_hot"
            ),
            60,
            "cpu_hot to fire",
            worker,
        )
        fingerprint = alert["fingerprint"]  # type: ignore[index]

        def cpu_points() -> bool:
            hosts = worker.get("/api/overview")["hosts"]
            cpu = [m for h in hosts for m in h["metrics"] if m["key"] == "cpu"]
            return bool(cpu) and min(len(m["points"]) for m in cpu) >= 3

        poll(cpu_points, 60, "three windows of cpu on every host (sparklines)", worker)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "live-page.png"
        started = time.monotonic()
        proc = subprocess.run(
            [
                node,
                str(BROWSER_DIR / "live_page.mjs"),
                "--url",
                worker.url,
                "--user",
                WHO,
                "--password",
                PASSWORD,
                "--out",
                str(shot),
                "--timeout",
                "45",
            ],
            cwd=BROWSER_DIR,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        print(f"browser run took {time.monotonic() - started:.1f} s\n{proc.stderr}")
        assert proc.returncode == 0, (
            f"live_page.mjs failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
            f"worker log:\n{worker.tail()}"
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        assert result["who"] == WHO
        assert result["fingerprint"] == fingerprint
        assert result["before"] != result["after"]
        assert shot.stat().st_size > 10_000
        assert result["followed"] >= 1 and result["found"] >= 1
        assert result["mark"].lower() == "get"

        after = worker.get(f"/api/alerts/{fingerprint}")
        assert after["acknowledged"] is True and after["ack_by"] == WHO
        incident = worker.get(f"/api/incidents/{after['incident_id']}")
        assert incident["acknowledged_by"] == WHO
    finally:
        if simulator.poll() is None:
            os.killpg(simulator.pid, 15)
            try:
                simulator.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(simulator.pid, 9)
                simulator.wait(5)
        worker.stop()
        asyncio.run(drop(stack_services, index_prefix(prefix)))
        asyncio.run(drop_database(pg_dsn, env["LOOKOUT_POSTGRES_DSN"]))
