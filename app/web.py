"""HTTP views on the worker's web server: live window state, routed to the owning worker.

Window values are read straight from the engine by window range (never Faust's ``.current()``,
which raises outside a stream). A request for a host is answered by the worker that owns the
host's partition, whichever worker is asked (Faust ``table_route``); lists fan out to all workers.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from faust import web

from app.openapi import spec as openapi_spec
from tables.engine import describe_series, log_series
from tables.windows import HOPPING, KINDS, TUMBLING

if TYPE_CHECKING:
    from app.faust_app import Lookout

STATIC_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Lookout</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child
{text-align:left}h2{margin-top:1.5em}.muted{color:#888}</style></head><body>
<h1>Lookout <span class="muted" id="at"></span></h1>
<p class="muted">Live window state (tumbling window), refreshed every 2 s.
API: <a href="/api/hosts">/api/hosts</a>, <a href="/api/health">/api/health</a>,
<a href="/metrics">/metrics</a></p><div id="hosts">loading...</div>
<script>
const pick = (s) => s.labels.type === "log"
  ? ["requests", "error_rate", "p95"] : ["count", "mean", "p95", "max", "rate"];
function fmt(v){ if(v===null||v===undefined) return ""; if(typeof v!=="number") return v;
  return Math.abs(v)>=1000? v.toFixed(0): v.toPrecision(4); }
async function refresh(){
  const hosts = (await (await fetch("/api/hosts")).json()).hosts;
  let html = "";
  for (const h of hosts.slice(0, 20)) {
    const w = await (await fetch(`/api/hosts/${encodeURIComponent(h)}/windows`)).json();
    html += `<h2>${h}</h2><table><tr><th>series</th><th>values</th></tr>`;
    for (const s of w.series.slice(0, 40)) {
      const vals = pick(s).filter(k => s.value[k] !== undefined && s.value[k] !== null)
        .map(k => `${k}=${fmt(s.value[k])}`).join(" ");
      html += `<tr><td>${s.name}</td><td>${vals}</td></tr>`;
    }
    html += "</table>";
  }
  document.getElementById("hosts").innerHTML = html || "no data yet";
  document.getElementById("at").textContent = new Date().toLocaleTimeString();
}
refresh(); setInterval(refresh, 2000);
</script></body></html>"""


def series_name(sid: str) -> str:
    """Human-readable series name: ``cpu,cpu=cpu-total,host=h1 usage_active``."""
    labels = describe_series(sid)
    if labels["type"] == "log":
        return f"log,service={labels['service']},host={labels['host']}"
    tags = ",".join(f"{k}={v}" for k, v in sorted(labels["tags"].items()))
    return f"{labels['measurement']}{',' + tags if tags else ''} {labels['field']}"


def register_views(lk: Lookout) -> None:
    """Add the API and live-page views to the worker's web server."""
    app, store, engine, stats = lk.app, lk.store, lk.store.engine, lk.stats

    def _kind(request: web.Request) -> str:
        kind = request.query.get("kind", TUMBLING)
        if kind not in KINDS:
            raise web.exceptions.ValidationError(f"kind must be one of {', '.join(KINDS)}")
        return kind

    def _series_out(series: dict[str, Any], match: str | None) -> list[dict[str, Any]]:
        out = []
        for sid, value in sorted(series.items()):
            name = series_name(sid)
            if match and match not in name:
                continue
            out.append({"name": name, "labels": describe_series(sid), "value": value})
        return out

    async def _fan_out(request: web.Request, path: str) -> list[dict[str, Any]]:
        """GET ``path?local=1`` on every other worker that owns partitions."""
        me = str(app.conf.canonical_url).rstrip("/")
        urls = set()
        try:
            for url in app.router.tables_metadata():
                if str(url).rstrip("/") != me:
                    urls.add(str(url).rstrip("/"))
        except Exception:  # no assignment yet
            return []
        results = []
        timeout = aiohttp.ClientTimeout(total=3)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(url: str) -> None:
                try:
                    async with session.get(f"{url}{path}", params={"local": "1"}) as resp:
                        if resp.status == 200:
                            results.append(await resp.json())
                except (TimeoutError, aiohttp.ClientError):
                    stats.inc("lookout_web_fanout_errors_total")

            await asyncio.gather(*(one(u) for u in urls))
        return results

    @app.page("/")
    class LivePage(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.html(STATIC_PAGE)

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
                    "time": time.time(),
                }
            )

    @app.page("/metrics")
    class Metrics(web.View):
        async def get(self, request: web.Request) -> web.Response:
            stats.set("lookout_state_hosts", len(engine.hosts))
            stats.set("lookout_state_panes", sum(len(h.panes) for h in engine.hosts.values()))
            for hs in engine.hosts.values():
                if hs.overflow:
                    stats.set("lookout_series_overflow", hs.overflow, host=hs.host)
                if hs.no_time:
                    stats.set("lookout_records_without_time", hs.no_time, host=hs.host)
            return self.text(stats.render(), content_type="text/plain; version=0.0.4")

    @app.page("/api/hosts")
    class Hosts(web.View):
        async def get(self, request: web.Request) -> web.Response:
            hosts = set(engine.hosts)
            if request.query.get("local") != "1":
                for other in await _fan_out(request, "/api/hosts"):
                    hosts.update(other.get("hosts", []))
            return self.json({"hosts": sorted(hosts)})

    @app.page("/api/hosts/{host}/windows")
    class HostWindows(web.View):
        @app.table_route(table=store.table, match_info="host")  # type: ignore[arg-type]
        async def get(self, request: web.Request, host: str) -> web.Response:
            kind = _kind(request)
            if host not in engine.hosts:
                return self.json({"error": f"unknown host {host!r}"}, status=404)
            result = engine.current(host, kind)
            if not result:
                return self.json({"host": host, "kind": kind, "series": []})
            return self.json(
                {
                    "host": host,
                    "kind": kind,
                    "start": result["start"],
                    "end": result["end"],
                    "watermark": engine.hosts[host].max_ts,
                    "series": _series_out(result["series"], request.query.get("match")),
                }
            )

    @app.page("/api/hosts/{host}/recent")
    class HostRecent(web.View):
        @app.table_route(table=store.table, match_info="host")  # type: ignore[arg-type]
        async def get(self, request: web.Request, host: str) -> web.Response:
            kind = _kind(request)
            try:
                limit = int(request.query.get("limit", "5"))
            except ValueError:
                return self.json({"error": "limit must be an integer"}, status=400)
            limit = max(1, min(limit, 100))
            match = request.query.get("match")
            out = []
            for (sid, k), ring in sorted(store.recent.get(host, {}).items()):
                name = series_name(sid)
                if k != kind or (match and match not in name):
                    continue
                windows = [orjson.loads(body) for body in list(ring)[-limit:]]
                out.append({"name": name, "windows": windows})
            return self.json({"host": host, "kind": kind, "series": out})

    @app.page("/api/services/{service}/windows")
    class ServiceWindows(web.View):
        async def get(self, request: web.Request, service: str) -> web.Response:
            kind = _kind(request)
            rows = []
            for host in list(engine.hosts):
                sid = log_series(service, host)
                result = engine.current(host, kind)
                if result and sid in result["series"]:
                    rows.append(
                        {
                            "host": host,
                            "start": result["start"],
                            "end": result["end"],
                            "value": result["series"][sid],
                        }
                    )
            if request.query.get("local") != "1":
                path = f"/api/services/{service}/windows?kind={kind}"
                for other in await _fan_out(request, path):
                    rows.extend(other.get("hosts", []))
            rows.sort(key=lambda r: r["host"])
            return self.json({"service": service, "kind": kind, "hosts": rows})

    @app.page("/api/series")
    class Series(web.View):
        async def get(self, request: web.Request) -> web.Response:
            host = request.query.get("host")
            hosts = [host] if host else list(engine.hosts)
            names = sorted(series_name(s) for h in hosts for s in engine.series_of(h))
            if request.query.get("local") != "1" and not host:
                for other in await _fan_out(request, "/api/series"):
                    names.extend(other.get("series", []))
            return self.json({"series": sorted(set(names))})

    _ = HOPPING  # both kinds are served through ?kind=
