"""Shared test settings: deterministic, no stray environment."""

from __future__ import annotations

import os

# Imported up front: hypothesis' pytest plugin otherwise imports it lazily at session end, and
# CPython 3.11 can fail to parse it then ("AST constructor recursion depth mismatch") after the
# Faust tests have run. Early import keeps partial runs (e.g. `make agents`) green.
import hypothesis  # noqa: F401

# Tests build their settings from explicit dicts; make sure a developer's LOOKOUT_* variables
# cannot leak into worker subprocesses started by the tests.
for _key in [k for k in os.environ if k.startswith("LOOKOUT_")]:
    if _key not in ("LOOKOUT_BROKER_URL", "LOOKOUT_POSTGRES_DSN", "LOOKOUT_ELASTICSEARCH_URL"):
        del os.environ[_key]
