"""``GET /api/logs/patterns``: mined log message templates with counts, first/last seen and an
example, for one service or all, optionally only those seen since a time.

Each worker mines the partitions it owns; the view asks every worker (``?local=1`` answers for
this worker only, the caller's token going along) and merges the answers per (service,
pattern_id): counts add up, first seen is the earliest, last seen the latest.

A caller sees only its tenants' lines: every cluster keeps its statistics per tenant (the
tenant of the line's host), and a row is built from the caller's tenants only (count, first and
last seen, an example line of theirs); a pattern none of its tenants' lines joined is left out.
A ``tenant`` parameter narrows within the caller's tenants (another tenant's: no rows). A server
admin (or anyone while sign-in is off) without ``tenant`` sees the totals of every tenant.

The worker's pattern state is anything that lists ``(service, cluster)`` pairs like
:meth:`patterns.miner.PatternMiner.patterns` (:class:`PatternSource`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from faust import web

from app.api.access import caller
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


def tenant_stats(cluster: Cluster, tenants: Collection[str]) -> tuple[int, float, float, str]:
    """Count, first seen, last seen and example of the cluster's lines of ``tenants``."""
    count, first, last, example = 0, 0.0, 0.0, ""
    for tenant in sorted(tenants):
        seen = cluster.tenants.get(tenant)
        if seen is None:
            continue
        n, f, la, x = seen
        if not count or f < first:
            first, example = f, x
        last = la if not count else max(last, la)
        count += n
    return count, first, last, example


def pattern_rows(
    pairs: Iterable[tuple[str, Cluster]],
    tenants: Collection[str] | None = None,
    since: float | None = None,
) -> list[dict[str, Any]]:
    """One row per pattern (see :class:`app.api.models.Pattern`): of the lines of ``tenants``
    only (None: all lines), last seen at or after ``since``."""
    rows = []
    for service, c in pairs:
        if tenants is None:
            count, first, last, example = c.count, c.first_seen, c.last_seen, c.example
        else:
            count, first, last, example = tenant_stats(c, tenants)
        if not count or (since is not None and last < since):
            continue
        rows.append(
            {
                "service": service,
                "pattern_id": c.id,
                "template": c.text,
                "count": count,
                "first_seen": first,
                "last_seen": last,
                "example": example,
            }
        )
    return rows


def wanted_tenants(readable: Collection[str] | None, asked: list[str]) -> Collection[str] | None:
    """The tenants whose lines a caller is shown: those it reads (None: all), narrowed to the
    ``tenant`` parameter's values (comma lists or repeated)."""
    names = {part.strip() for raw in asked for part in raw.split(",") if part.strip()}
    if not names:
        return readable
    return names if readable is None else names & set(readable)


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
            asked = request.query.getall("tenant", [])  # type: ignore[attr-defined]
            tenants = wanted_tenants(caller(request).readable(), asked)
            answers = [pattern_rows(source.patterns(service, since), tenants, since)]
            if not is_local(request):
                params = {k: v for k, v in request.query.items() if k not in ("local", "tenant")}
                if asked:
                    params["tenant"] = ",".join(asked)
                found = await peers.get_all("/api/logs/patterns", params, request=request)
                answers.extend(other.get("patterns", []) for other in found)
            return self.json({"patterns": merge_rows(answers)})
