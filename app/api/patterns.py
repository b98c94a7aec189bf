"""``GET /api/logs/patterns``: mined log message templates with counts, first/last seen and an
example, for one service or all, optionally only those seen since a time.

Each worker mines the partitions it owns; the view asks every worker (``?local=1`` answers for
this worker only) and merges the answers per (service, pattern_id): counts add up, first seen is
the earliest, last seen the latest. The worker's pattern state is anything that lists
``(service, cluster)`` pairs like :meth:`patterns.miner.PatternMiner.patterns`
(:class:`PatternSource`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from faust import web

from app.api.windows import is_local
from patterns.drain import Cluster

if TYPE_CHECKING:
    import faust

    from app.api.peers import Peers

MAX_PATTERNS = 500


class PatternSource(Protocol):
    """What the view reads: the patterns a worker keeps."""

    def patterns(
        self, service: str | None = None, since: float | None = None
    ) -> Iterable[tuple[str, Cluster]]:
        """``(service, cluster)`` pairs, last seen at or after ``since``."""
        ...


def parse_since(raw: str | None) -> float | None:
    """The ``since`` parameter: epoch seconds or an ISO 8601 time (UTC unless it says); None
    when absent; ValueError naming the fix otherwise."""
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since must be epoch seconds or an ISO 8601 time (given {raw!r})"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def pattern_rows(pairs: Iterable[tuple[str, Cluster]]) -> list[dict[str, Any]]:
    """One row per pattern (see :class:`app.api.models.Pattern`)."""
    return [
        {
            "service": service,
            "pattern_id": c.id,
            "template": c.text,
            "count": c.count,
            "first_seen": c.first_seen,
            "last_seen": c.last_seen,
            "example": c.example,
        }
        for service, c in pairs
    ]


def merge_rows(
    answers: Iterable[Iterable[Mapping[str, Any]]], limit: int = MAX_PATTERNS
) -> list[dict[str, Any]]:
    """Rows of several workers merged per (service, pattern_id), most frequent first."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for rows in answers:
        for row in rows:
            key = (row["service"], row["pattern_id"])
            have = merged.get(key)
            if have is None:
                merged[key] = dict(row)
                continue
            have["count"] += row["count"]
            if row["first_seen"] < have["first_seen"]:
                have["first_seen"], have["example"] = row["first_seen"], row["example"]
            have["last_seen"] = max(have["last_seen"], row["last_seen"])
            if len(row["template"]) < len(have["template"]):
                have["template"] = row["template"]
    rows_out = sorted(merged.values(), key=lambda r: (-r["count"], r["service"], r["pattern_id"]))
    return rows_out[:limit]


def register_pattern_views(app: faust.App, source: PatternSource, peers: Peers) -> None:
    """Add ``GET /api/logs/patterns`` to the worker's web server."""

    @app.page("/api/logs/patterns")
    class Patterns(web.View):
        async def get(self, request: web.Request) -> web.Response:
            service = request.query.get("service") or None
            try:
                since = parse_since(request.query.get("since"))
            except ValueError as exc:
                raise web.exceptions.ValidationError(str(exc)) from None
            answers = [pattern_rows(source.patterns(service, since))]
            if not is_local(request):
                params = {k: v for k, v in request.query.items() if k != "local"}
                for other in await peers.get_all("/api/logs/patterns", params):
                    answers.append(other.get("patterns", []))
            return self.json({"patterns": merge_rows(answers)})
