"""The live page: `/` and its assets from package data (`app/api/static`), and its data view.

No build step and nothing fetched from elsewhere: the HTML, CSS and JavaScript ship inside the
package and are served with a strict Content-Security-Policy (same origin only). The page polls
``/api/overview`` (headlines and services with their last windows, all workers), ``/api/alerts``
and ``/api/incidents``; its Logs view (``logs.js``) searches ``/api/logs/search`` and follows
``/api/logs/tail``.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson
from faust import web

from app.api.access import Access
from app.api.overview import host_overview, role, service_overview
from app.api.peers import Peers
from app.api.windows import is_local, query_kind
from tables.queries import current_window

if TYPE_CHECKING:
    from agents.runtime import Lookout

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "live.css": "text/css; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "logs.js": "text/javascript; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def load_assets() -> dict[str, bytes]:
    """The page's files, read once from the package."""
    folder = resources.files("app.api") / "static"
    return {name: (folder / name).read_bytes() for name in ASSETS}


def register_live_page(lk: Lookout, access: Access) -> None:
    """Add ``/``, ``/static/{name}`` and ``/api/overview`` to the worker's web server."""
    app, store, engine = lk.app, lk.store, lk.store.engine
    peers = Peers(app, lk.stats)
    assets = load_assets()

    def asset(view: web.View, name: str) -> web.Response:
        headers = {**SECURITY_HEADERS, "Content-Type": ASSETS[name]}
        return view.bytes(assets[name], headers=headers)

    def local_hosts(kind: str) -> list[dict[str, Any]]:
        out = []
        for host, hs in list(engine.hosts.items()):
            closed: dict[str, list[Any]] = {}
            for (sid, k), ring in store.recent.get(host, {}).items():
                if k == kind and role(sid) is not None:
                    closed[sid] = [orjson.loads(body) for body in ring]
            mark = hs.max_ts if math.isfinite(hs.max_ts) else None
            out.append(host_overview(host, current_window(engine, host, kind), closed, mark))
        return out

    @app.page("/")
    class LivePage(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return asset(self, "index.html")

    @app.page("/static/{name}")
    class Static(web.View):
        async def get(self, request: web.Request, name: str) -> web.Response:
            if name not in assets:
                return self.error(404, f"no asset {name!r}")
            return asset(self, name)

    @app.page("/api/overview")
    class Overview(web.View):
        async def get(self, request: web.Request) -> web.Response:
            kind = query_kind(request)
            tenant = request.query.get("tenant")
            hosts = local_hosts(kind)
            workers = 1
            if not is_local(request):
                for other in await peers.get_all("/api/overview", {"kind": kind}, request=request):
                    hosts.extend(other.get("hosts", []))
                    workers += 1
            for host in hosts:
                host["tenant"] = lk.tenants.of(host["host"])
            hosts = [
                h
                for h in hosts
                if access.visible(request, h["host"]) and tenant in (None, h["tenant"])
            ]
            hosts.sort(key=lambda h: h["host"])
            return self.json(
                {
                    "kind": kind,
                    "workers": workers,
                    "hosts": hosts,
                    "services": service_overview(hosts),
                }
            )
