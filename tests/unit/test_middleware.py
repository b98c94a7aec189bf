"""JSON errors without tracebacks, and CORS for listed origins only (app/api/middleware.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from faust.exceptions import NotReady

from app.api import middleware

ALLOWED = "https://ops.example.com"


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret detail /etc/passwd")


async def peer_down(request: web.Request) -> web.Response:
    raise aiohttp.ClientConnectionError("connect refused")


async def starting(request: web.Request) -> web.Response:
    raise NotReady("Producer service not yet started")


def make_app(origins: tuple[str, ...]) -> web.Application:
    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/boom", boom)
    app.router.add_get("/peer", peer_down)
    app.router.add_get("/starting", starting)
    middleware.install(app, origins)
    return app


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    """Start a test server with the middlewares (``await client(origins)``)."""
    clients: list[TestClient[Any, Any]] = []

    async def make(origins: tuple[str, ...] = ()) -> TestClient[Any, Any]:
        c = TestClient(TestServer(make_app(origins)))
        await c.start_server()
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


async def test_unexpected_errors_are_json_without_a_traceback(client: Any) -> None:
    c = await client()
    resp = await c.get("/boom")
    assert resp.status == 500
    assert await resp.json() == {"error": "internal server error"}
    assert "secret" not in await resp.text()


async def test_http_errors_are_json_and_keep_allow(client: Any) -> None:
    c = await client()
    resp = await c.get("/nope")
    assert (resp.status, await resp.json()) == (404, {"error": "not found"})
    resp = await c.post("/ok")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
    assert (await resp.json())["error"] == "method not allowed"


async def test_a_peer_that_does_not_answer_is_503(client: Any) -> None:
    c = await client()
    resp = await c.get("/peer")
    assert resp.status == 503 and "retry" in (await resp.json())["error"]


async def test_cors_off_by_default(client: Any) -> None:
    c = await client()
    resp = await c.get("/ok", headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in resp.headers
    pre = await c.options(
        "/ok", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    )
    assert pre.status == 405 and "Access-Control-Allow-Origin" not in pre.headers


async def test_cors_for_listed_origins_only(client: Any) -> None:
    c = await client((ALLOWED,))
    resp = await c.get("/ok", headers={"Origin": ALLOWED})
    assert resp.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert resp.headers["Vary"] == "Origin"
    other = await c.get("/ok", headers={"Origin": "https://evil.example"})
    assert other.status == 200 and "Access-Control-Allow-Origin" not in other.headers
    missing = await c.get("/nope", headers={"Origin": ALLOWED})  # errors carry it too
    assert missing.status == 404 and missing.headers["Access-Control-Allow-Origin"] == ALLOWED

    pre = await c.options(
        "/ok",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    denied = await c.options(
        "/ok", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert denied.status == 403 and "Access-Control-Allow-Origin" not in denied.headers


async def test_a_worker_that_is_not_ready_is_503(client: Any) -> None:
    c = await client()
    resp = await c.get("/starting")
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert "starting" in (await resp.json())["error"]
