"""``lookout bench``: Lookout's pipeline against its baselines, one broker (docs/BENCHMARKS.md)."""

from __future__ import annotations

from devtools.bench.options import add_arguments
from devtools.bench.runner import bench

__all__ = ["add_arguments", "bench"]
