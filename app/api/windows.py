"""HTTP views on the worker's web server: live window state, routed to the owning worker.

Window values are read straight from the engine by window range (never Faust's ``.current()``,
which raises outside a stream). A request for a host is answered by the worker that owns the
host's partition, whichever worker is asked (Faust ``table_route``); lists fan out to all workers
(:mod:`app.api.peers`). Unknown hosts, series and services answer 404 ``{"error": ...}``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from faust import web

from app.api.access import Access
from app.api.openapi import spec as openapi_spec
from app.api.peers import Peers
from app.stats import CONTENT_TYPE
from tables.queries import current_window, series_of
from tables.series import describe_series, log_series
from tables.windows import KINDS, TUMBLING

if TYPE_CHECKING:
    from agents.runtime import Lookout

MAX_LIMIT = 100


def series_name(sid: str) -> str:
    """Human-readable series name: ``cpu,cpu=cpu-total,host=h1 usage_active``."""
    labels = describe_series(sid)
    if labels["type"] in ("log", "pattern"):
        return f"{labels['type']},service={labels['service']},host={labels['host']}"
    tags = ",".join(f"{k}={v}" for k, v in sorted(labels["tags"].items()))
    return f"{labels['measurement']}{',' + tags if tags else ''} {labels['field']}"


def query_kind(request: web.Request) -> str:
    """The ``kind`` query parameter (tumbling by default); 400 for anything else."""
    kind = request.query.get("kind", TUMBLING)
    if kind not in KINDS:
        raise web.exceptions.ValidationError(f"kind must be one of {', '.join(KINDS)}")
    return kind


def query_limit(request: web.Request, default: int = 5) -> int:
    """The ``limit`` query parameter, 1..100; 400 for anything else."""
    raw = request.query.get("limit")
    try:
        limit = default if raw is None else int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise web.exceptions.ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


def is_local(request: web.Request) -> bool:
    """True for a request a peer forwarded (``?local=1``): answer for this worker only."""
    local = request.query.get("local")
    if local not in (None, "1"):
        raise web.exceptions.ValidationError("local must be 1 (or absent)")
    return local == "1"


def register_views(lk: Lookout, access: Access) -> None:
    """Add the window-state, health, metrics and OpenAPI views to the worker's web server.

    Hosts of tenants the caller does not see answer as unknown hosts (404). Series labels carry
    the host's tenant (``labels.tenant``), as the final window records and alerts do.
    """
    app, store, engine, stats = lk.app, lk.store, lk.store.engine, lk.stats
    peers = Peers(app, stats)

    def labels_of(host: str, sid: str) -> dict[str, Any]:
        """A series' labels with its tenant, as on the final window records (tables/records)."""
        labels = describe_series(sid)
        return {**labels, "tenant": lk.tenants.of(host, labels)}

    def series_out(host: str, series: dict[str, Any], match: str | None) -> list[dict[str, Any]]:
        out = []
        for sid, value in sorted(series.items()):
            name = series_name(sid)
            if match and match not in name:
                continue
            out.append({"name": name, "labels": labels_of(host, sid), "value": value})
        return out

    def closed(host: str, sid: str, kind: str, limit: int) -> list[Any]:
        ring = store.recent.get(host, {}).get((sid, kind), ())
        return [orjson.loads(body) for body in list(ring)[-limit:]]

    def known(host: str, request: web.Request) -> bool:
        return (host in engine.hosts or host in store.recent) and access.visible(request, host)

    @app.page("/api/openapi.json")
    class OpenApi(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.json(openapi_spec())

    @app.page("/api/health")
    class Health(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.json(
                {
                    "status": "ok" if not app.rebalancing else "rebalancing",
                    "worker": str(app.conf.canonical_url),
                    "partitions": sorted(store.active_partitions()),
                    "hosts": len(engine.hosts),
                    "records_in": stats.total("lookout_records_in_total"),
                    "deadletter": stats.total("lookout_deadletter_total"),
                    "late": stats.total("lookout_late_records_total"),
                    "windows_closed": stats.total("lookout_windows_closed_total"),
                    "sinks": lk.sinks.health() if lk.sinks is not None else {},
                    "time": time.time(),
                }
            )

    @app.page("/metrics")
    class Metrics(web.View):
        async def get(self, request: web.Request) -> web.Response:
            lk.telemetry.collect()
            book = store.patterns
            stats.set("lookout_patterns", sum(len(t.clusters) for _, t in book.trees()))
            for name, value in book.counters().items():
                stats.set(f"lookout_pattern_{name}", value)
            return self.text(stats.render(), content_type=CONTENT_TYPE)

    @app.page("/api/hosts")
    class Hosts(web.View):
        async def get(self, request: web.Request) -> web.Response:
            hosts = set(engine.hosts)
            if not is_local(request):
                for other in await peers.get_all("/api/hosts", request=request):
                    hosts.update(other.get("hosts", []))
            return self.json({"hosts": sorted(h for h in hosts if access.visible(request, h))})

    @app.page("/api/hosts/{host}/windows")
    class HostWindows(web.View):
        @app.table_route(table=store.table, match_info="host")  # type: ignore[arg-type]
        async def get(self, request: web.Request, host: str) -> web.Response:
            kind = query_kind(request)
            if host not in engine.hosts or not access.visible(request, host):
                return self.error(404, f"unknown host {host!r}")
            result = current_window(engine, host, kind)
            if not result:
                return self.json({"host": host, "kind": kind, "series": []})
            return self.json(
                {
                    "host": host,
                    "kind": kind,
                    "start": result["start"],
                    "end": result["end"],
                    "watermark": engine.hosts[host].max_ts,
                    "series": series_out(host, result["series"], request.query.get("match")),
                }
            )

    @app.page("/api/hosts/{host}/recent")
    class HostRecent(web.View):
        @app.table_route(table=store.table, match_info="host")  # type: ignore[arg-type]
        async def get(self, request: web.Request, host: str) -> web.Response:
            kind, limit = query_kind(request), query_limit(request)
            if not known(host, request):
                return self.error(404, f"unknown host {host!r}")
            match = request.query.get("match")
            out = []
            for sid, k in sorted(store.recent.get(host, {})):
                name = series_name(sid)
                if k != kind or (match and match not in name):
                    continue
                out.append({"name": name, "windows": closed(host, sid, kind, limit)})
            return self.json({"host": host, "kind": kind, "series": out})

    @app.page("/api/hosts/{host}/series/{series}")
    class HostSeries(web.View):
        @app.table_route(table=store.table, match_info="host")  # type: ignore[arg-type]
        async def get(self, request: web.Request, host: str, series: str) -> web.Response:
            kind, limit = query_kind(request), query_limit(request)
            if not known(host, request):
                return self.error(404, f"unknown host {host!r}")
            sids = series_of(engine, host) | {sid for sid, _ in store.recent.get(host, {})}
            sid = next((s for s in sids if series_name(s) == series), None)
            if sid is None:
                return self.error(404, f"unknown series {series!r} of host {host!r}")
            current = current_window(engine, host, kind)
            value = current.get("series", {}).get(sid)
            return self.json(
                {
                    "host": host,
                    "kind": kind,
                    "name": series,
                    "labels": labels_of(host, sid),
                    "current": None
                    if value is None
                    else {"start": current["start"], "end": current["end"], "value": value},
                    "recent": closed(host, sid, kind, limit),
                }
            )

    @app.page("/api/services/{service}/windows")
    class ServiceWindows(web.View):
        async def get(self, request: web.Request, service: str) -> web.Response:
            kind = query_kind(request)
            rows = []
            for host in list(engine.hosts):
                if not access.visible(request, host):
                    continue
                sid = log_series(service, host)
                result = current_window(engine, host, kind)
                if result and sid in result["series"]:
                    rows.append(
                        {
                            "host": host,
                            "start": result["start"],
                            "end": result["end"],
                            "value": result["series"][sid],
                        }
                    )
            if not is_local(request):
                path = f"/api/services/{service}/windows"
                for other in await peers.get_all(path, {"kind": kind}, request=request):
                    rows.extend(
                        r for r in other.get("hosts", []) if access.visible(request, r["host"])
                    )
                if not rows:
                    return self.error(404, f"no host has an open window of service {service!r}")
            rows.sort(key=lambda r: r["host"])
            return self.json({"service": service, "kind": kind, "hosts": rows})

    @app.page("/api/series")
    class Series(web.View):
        async def get(self, request: web.Request) -> web.Response:
            host = request.query.get("host")
            if host is not None and not is_local(request) and not known(host, request):
                found = await peers.get_all("/api/series", {"host": host}, request=request)
                if not found:
                    return self.error(404, f"unknown host {host!r}")
                return self.json({"series": sorted({n for f in found for n in f["series"]})})
            if host is not None and not known(host, request):
                return self.error(404, f"unknown host {host!r}")
            hosts = [host] if host is not None else list(engine.hosts)
            hosts = [h for h in hosts if access.visible(request, h)]
            names = {series_name(s) for h in hosts for s in series_of(engine, h)}
            if not is_local(request) and host is None:
                for other in await peers.get_all("/api/series", request=request):
                    names.update(other.get("series", []))
            return self.json({"series": sorted(names)})
