"""Run a probe script in a fresh interpreter with the native core on or off (app/native.py):
what the compiled modules and the Python sources give for the same input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_probe(code: str, *, native_on: bool, timeout: float = 300) -> str:
    """The probe's standard output (it must exit 0; its stderr tail is the failure message)."""
    env = {**os.environ, "LOOKOUT_NATIVE": "1" if native_on else "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()
