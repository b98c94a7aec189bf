"""The worker's web app without a broker: every route is documented, assets, overview, errors.

The Faust app is built as a worker builds it; its aiohttp application is served by aiohttp's
test server, and window state is fed straight into the engine.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from faust.exceptions import SameNode

from agents.runtime import Lookout
from app.api.models import Health, Overview, SeriesDetail, Window
from app.api.openapi import spec
from app.settings import load_settings
from app.worker import create_app

RULES = Path(__file__).resolve().parents[2] / "rules"
T0 = 1_800_000_000


def build(**env: str) -> Lookout:
    settings = load_settings(
        {"LOOKOUT_PARTITIONS": "1", "LOOKOUT_RULES": str(RULES), "LOOKOUT_APP_ID": "web-test"}
        | {f"LOOKOUT_{k.upper()}": v for k, v in env.items()}
    )
    return create_app(settings, "kafka://127.0.0.1:1")


@pytest.fixture
async def served() -> AsyncIterator[tuple[Lookout, TestClient[Any, Any]]]:
    lk = build(cors_origins="https://ops.example.com")
    client = TestClient(TestServer(lk.app.web.web_app))  # type: ignore[attr-defined]
    await client.start_server()
    yield lk, client
    await client.close()


def test_every_route_is_in_the_openapi_document_and_back() -> None:
    lk = build()
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in lk.app.web.web_app.router.routes()  # type: ignore[attr-defined]
        if r.method not in ("HEAD", "OPTIONS") and r.resource is not None
    }
    documented = {(m, p) for p, item in spec()["paths"].items() for m in item}
    assert routes == documented


async def test_page_and_assets_are_served_from_package_data(
    served: tuple[Lookout, TestClient[Any, Any]],
) -> None:
    _, client = served
    page = await client.get("/")
    html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "/static/live.js" in html and "http" not in html.replace("http-equiv", "")
    assert "/static/logs.js" in html
    for name, ctype in [
        ("live.js", "text/javascript"),
        ("logs.js", "text/javascript"),
        ("live.css", "text/css"),
    ]:
        resp = await client.get(f"/static/{name}")
        assert resp.status == 200 and resp.content_type == ctype
        body = await resp.text()
        assert "//cdn" not in body and "googleapis" not in body and "@import" not in body
    for name in ("live.js", "logs.js"):
        js = await (await client.get(f"/static/{name}")).text()
        assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
    missing = await client.get("/static/../settings.py")
    assert missing.status == 404 and "error" in await missing.json()


async def test_overview_reads_open_windows(served: tuple[Lookout, TestClient[Any, Any]]) -> None:
    lk, client = served
    engine = lk.store.engine
    hs = engine.host("h1", 0, now=T0)
    tags = {"host": "h1", "cpu": "cpu-total"}
    for i, value in enumerate([10.0, 20.0, 30.0]):
        engine.add_metric(hs, "telegraf.metrics", i, "cpu", tags, {"usage_active": value}, T0 + i)
    doc = await (await client.get("/api/overview")).json()
    Overview.model_validate(doc)  # the document describes what the view returns
    Health.model_validate(await (await client.get("/api/health")).json())
    (host,) = doc["hosts"]
    cpu = next(m for m in host["metrics"] if m["key"] == "cpu")
    assert (host["host"], cpu["value"], doc["workers"]) == ("h1", 20.0, 1)
    assert (await client.get("/api/overview?kind=daily")).status == 400
    assert (await client.get("/api/overview?local=2")).status == 400


async def test_errors_and_cors_on_the_worker_app(
    served: tuple[Lookout, TestClient[Any, Any]],
) -> None:
    _, client = served
    resp = await client.get("/no/such/path", headers={"Origin": "https://ops.example.com"})
    assert resp.status == 404 and await resp.json() == {"error": "not found"}
    assert resp.headers["Access-Control-Allow-Origin"] == "https://ops.example.com"
    pre = await client.options(
        "/api/alerts/x/ack",
        headers={"Origin": "https://ops.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status == 204
    unauth = await client.post("/api/silences", json={})
    assert unauth.status == 401 and unauth.headers["WWW-Authenticate"].startswith("Bearer")


async def test_series_labels_carry_the_hosts_tenant(
    served: tuple[Lookout, TestClient[Any, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lk, client = served

    async def this_worker(*args: Any) -> Any:
        raise SameNode()  # no broker, no assignment: every host is this worker's

    monkeypatch.setattr(lk.app.router, "route_req", this_worker)
    engine = lk.store.engine
    lk.tenants.assign("h1", "acme")
    for host in ("h1", "h2"):
        hs = engine.host(host, 0, now=T0)
        engine.add_metric(hs, "telegraf.metrics", 0, "mem", {"host": host}, {"used": 1.0}, T0)
    one = await (await client.get("/api/hosts/h1/windows")).json()
    Window.model_validate(one)
    assert [s["labels"]["tenant"] for s in one["series"]] == ["acme"]
    name = urllib.parse.quote(one["series"][0]["name"], safe="")
    detail = await (await client.get(f"/api/hosts/h1/series/{name}")).json()
    SeriesDetail.model_validate(detail)
    assert detail["labels"] == {**one["series"][0]["labels"], "tenant": "acme"}
    two = await (await client.get("/api/hosts/h2/windows")).json()
    assert [s["labels"]["tenant"] for s in two["series"]] == ["default"]
