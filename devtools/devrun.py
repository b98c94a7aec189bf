"""``lookout run``: the whole system on one machine, stopped by one Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from app.settings import Settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``lookout run``."""
    p.add_argument("--hosts", type=int, default=10, help="simulated hosts (default 10)")
    p.add_argument("--services", type=int, default=3, help="simulated nginx services (default 3)")
    p.add_argument(
        "--no-simulator", action="store_true", help="start the worker only (real Telegraf feeds it)"
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="simulated event-time speed (default 1)"
    )


def _env(settings: Settings, services: object) -> dict[str, str]:
    env = dict(os.environ)
    env["LOOKOUT_BROKER_URL"] = services.broker_url  # type: ignore[attr-defined]
    env["LOOKOUT_POSTGRES_DSN"] = services.postgres_dsn  # type: ignore[attr-defined]
    env["LOOKOUT_ELASTICSEARCH_URL"] = services.elasticsearch_url  # type: ignore[attr-defined]
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Poll ``url`` until it answers 200, the process dies, or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=2) as resp,  # noqa: S310 (our own http URL)
        ):
            if resp.status == 200:
                return True
        time.sleep(0.5)
    return False


def dev_run(settings: Settings, ns: argparse.Namespace) -> int:
    """Start stack, migrations, worker and simulator; block until Ctrl-C; stop everything.

    The broker keeps its topics on disk unless LOOKOUT_BROKER_STORAGE=memory: with the
    Postgres data dir and the worker's data dir in the same places, a second ``lookout run``
    continues with the topics, windows (changelog topics) and consumer positions of the first.
    """
    from app.topics import ensure_topics
    from devtools.stack import LocalStack
    from sinks.migrations import migrate

    if "broker_storage" not in settings.model_fields_set:
        settings = settings.model_copy(update={"broker_storage": "disk"})
    stack_dir = Path(settings.stack_dir)
    stack_dir.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    stack = LocalStack(settings, detached=False)
    stop = {"flag": False}

    def _stop(signum: int, frame: object) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        services = stack.up()
        asyncio.run(ensure_topics(settings, services.bootstrap_servers, log=print))
        asyncio.run(migrate(services.postgres_dsn))
        env = _env(settings, services)
        worker_log = stack_dir / "worker.log"
        print(f"worker: starting (log: {worker_log})")
        with open(worker_log, "ab") as fh:
            worker = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "worker", "-l", "info"],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        procs.append(worker)
        base = f"http://{settings.web_host}:{settings.web_port}"
        if not wait_http(f"{base}/api/health", 90, worker):
            print(f"worker did not come up; last lines of {worker_log}:", file=sys.stderr)
            print(_tail(worker_log), file=sys.stderr)
            return 1
        if not ns.no_simulator:
            sim = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.cli",
                    "simulate",
                    "--hosts",
                    str(ns.hosts),
                    "--services",
                    str(ns.services),
                    "--speed",
                    str(ns.speed),
                ],
                env=env,
                start_new_session=True,
            )
            procs.append(sim)
        (stack_dir / "run.json").write_text(
            json.dumps({"pids": [p.pid for p in procs], "web": base}), encoding="utf-8"
        )
        print(
            "\nLookout is running.\n"
            f"  live page:      {base}/\n"
            f"  hosts:          curl {base}/api/hosts\n"
            f"  current window: curl '{base}/api/hosts/host-000/windows?kind=tumbling'\n"
            f"  hopping window: curl '{base}/api/hosts/host-000/windows?kind=hopping&match=cpu'\n"
            f"  closed windows: curl '{base}/api/hosts/host-000/recent?kind=tumbling&limit=3'\n"
            f"  health:         curl {base}/api/health\n"
            f"  metrics:        curl {base}/metrics\n"
            f"  postgres:       psql {services.postgres_dsn}\n"
            "Windows close one minute (+30 s grace) after they start. Ctrl-C stops everything.\n",
            flush=True,
        )
        while not stop["flag"]:
            if worker.poll() is not None:
                print(f"worker exited ({worker.returncode}); see {worker_log}", file=sys.stderr)
                print(_tail(worker_log), file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        print("\nstopping...", flush=True)
        for proc in reversed(procs):
            _terminate(proc)
        stack.down()
        print("stopped.")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
