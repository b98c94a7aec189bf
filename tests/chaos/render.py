"""Render the chaos results into docs/RELIABILITY.md: ``python -m tests.chaos.render RESULTS DOC``.

The document's text above the ``<!-- chaos-table -->`` marker is kept as written; the table below
it is replaced by the rows of the results file (the last row of each scenario), with the commit
and the date of the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

MARKER = "<!-- chaos-table -->"
NOTE = """\
"recovered in": from the fault until the pipeline took records again (broker crash: the worker's
record count grew; worker killed: the last restarted worker was ready), not until it caught up;
database loss: from a store's return until its sink wrote again (the longer of the two); disk
full: from the space's return until the sink wrote again; notifications: from the receivers'
return until every message was delivered; traffic spike: from the spike's end until the lag was
back to normal. Sent, windowed, in Postgres and in ES count metric points for the checker's
scenarios, messages (sent) and rows or documents (stored) for the sink scenarios, outbox rows
for notifications. Peak memory: the process the scenario loads (worker, or the sink process).
"""
COLUMNS = (
    "scenario",
    "load",
    "fault",
    "what the user saw",
    "sent",
    "windowed",
    "in Postgres",
    "in ES",
    "lost",
    "duplicated",
    "recovered in",
    "peak memory",
    "result",
)


def cell(value: object, unit: str = "") -> str:
    """A table cell: ``-`` for what does not apply."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}{unit}" if value >= 10 else f"{value:.1f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return str(value).replace("|", "/").replace("\n", " ")


def table(rows: list[dict[str, object]]) -> str:
    """The Markdown table of the rows."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        result = "pass" if r.get("passed") else "FAIL"
        notes = "; ".join(r.get("notes") or [])  # type: ignore[arg-type]
        cells = [
            cell(r["scenario"]),
            cell(r["load"]),
            cell(r["fault"]),
            cell(r["user_saw"]),
            cell(r["sent"]),
            cell(r["windowed"]),
            cell(r["postgres"]),
            cell(r["elasticsearch"]),
            cell(r["lost"]),
            cell(r["duplicated"]),
            cell(r["recover_s"], " s"),
            cell(r["peak_mb"], " MB"),
            result + (f" ({cell(notes)})" if notes else ""),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def commit() -> str:
    """The commit the run was made on (``-dirty`` with uncommitted changes)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], check=False).returncode != 0
    return (sha or "unknown") + ("-dirty" if dirty else "")


def render(results: Path, doc: Path) -> None:
    """Replace the table part of ``doc`` with the rows of ``results``."""
    latest: dict[str, dict[str, object]] = {}
    if results.exists():
        for line in results.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                latest[str(row["scenario"])] = row
    head = doc.read_text().split(MARKER)[0] if doc.exists() else "# Reliability\n\n"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (
        f"{MARKER}\n\nRun of `make chaos` on commit `{commit()}`, {when}, on this 2-core "
        "machine.\n\n" + table(list(latest.values())) + "\n\n" + NOTE
    )
    doc.write_text(head.rstrip("\n") + "\n\n" + body)


if __name__ == "__main__":
    render(Path(sys.argv[1]), Path(sys.argv[2]))
