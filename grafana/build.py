"""Writes Lookout's Grafana dashboards: ``python grafana/build.py`` (``--check``: compare only).

Each dashboard is plain Python dicts in ``grafana/boards/`` (building blocks in
``grafana/panels.py``). The files in ``grafana/dashboards/`` are rewritten with sorted keys, a
two-space indent and ids in layout order, so the same source always gives the same bytes;
``tests/unit/test_grafana_dashboards.py`` fails when a committed file differs from this output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from grafana.boards import (
    alerts,
    error_rates,
    logs,
    lookout_itself,
    nginx_traffic,
    server_health,
    sla,
)

OUT = Path(__file__).resolve().parent / "dashboards"

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "server-health.json": server_health.board,
    "nginx-traffic.json": nginx_traffic.board,
    "error-rates.json": error_rates.board,
    "alerts-incidents.json": alerts.board,
    "sla-business.json": sla.board,
    "lookout-itself.json": lookout_itself.board,
    "logs.json": logs.board,
}


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard by file name."""
    return {name: build() for name, build in BUILDERS.items()}


def render(board: dict[str, Any]) -> str:
    """The file text of a dashboard (stable: sorted keys, two-space indent, final newline)."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str]) -> int:
    """Write the dashboards that changed (``--check``: only report them, exit 1 if any)."""
    check = "--check" in argv
    stale = [
        name
        for name, board in dashboards().items()
        if not (OUT / name).exists() or (OUT / name).read_text() != render(board)
    ]
    if check:
        if stale:
            print(f"stale: {', '.join(stale)}; run python grafana/build.py", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        (OUT / name).write_text(render(BUILDERS[name]()))
        print(f"wrote grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
