"""``lookout bench``: Lookout's pipeline against its baselines, one broker (docs/BENCHMARKS.md)."""

from __future__ import annotations

from app.bench.options import add_arguments
from app.bench.runner import bench

__all__ = ["add_arguments", "bench"]
