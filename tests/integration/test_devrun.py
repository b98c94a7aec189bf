"""`make run` (= `lookout run`): up with live window values within 60 s; Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.workers import free_port

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting to be reaped is gone for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read())


def test_lookout_run_shows_windows_then_ctrl_c_stops_everything() -> None:
    stack_dir = Path(tempfile.mkdtemp(prefix="lookout-run-"))
    stack_dir.chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(
        LOOKOUT_STACK_DIR=str(stack_dir),
        LOOKOUT_WEB_PORT=str(port),
        LOOKOUT_DATA_DIR=str(stack_dir / "data"),
        PYTHONUNBUFFERED="1",
    )
    started = time.monotonic()
    out = open(stack_dir / "run.out", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", "--hosts", "3", "--services", "2"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        values = None
        while time.monotonic() - started < 60 and values is None:
            assert proc.poll() is None, (stack_dir / "run.out").read_text()
            try:
                doc = _get(f"http://127.0.0.1:{port}/api/hosts/host-000/windows")
                series = [s for s in doc["series"] if s["value"].get("count")]
                values = series or None
            except OSError:
                pass
            time.sleep(0.5)
        log = (stack_dir / "run.out").read_text()
        assert values, f"no window values within 60 s:\n{log}"
        assert f"http://127.0.0.1:{port}/" in log  # prints where to look
        stack = json.loads((stack_dir / "stack.json").read_text())
        run = json.loads((stack_dir / "run.json").read_text())
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            proc.wait(60)
        finally:
            out.close()
    assert proc.returncode == 0, (stack_dir / "run.out").read_text()

    parts = stack["parts"].values()
    pids = list(run["pids"]) + [p[k] for p in parts for k in ("pid", "watchdog_pid") if p.get(k)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)], "processes left behind"
    ports = [port] + [p["port"] for p in stack["parts"].values() if p.get("port")]
    assert all(_port_free(p) for p in ports), "ports left open"
