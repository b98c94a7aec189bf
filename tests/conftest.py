"""Shared test settings: deterministic, no stray environment."""

from __future__ import annotations

import os

# Tests build their settings from explicit dicts; make sure a developer's LOOKOUT_* variables
# cannot leak into worker subprocesses started by the tests.
for _key in [k for k in os.environ if k.startswith("LOOKOUT_")]:
    if _key not in ("LOOKOUT_BROKER_URL", "LOOKOUT_POSTGRES_DSN", "LOOKOUT_ELASTICSEARCH_URL"):
        del os.environ[_key]
