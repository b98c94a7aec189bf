"""aiohttp middlewares of the worker's web server: JSON errors without tracebacks, and CORS.

* Errors: an unexpected exception in a view is logged (with its traceback, in the worker log
  only) and answered ``500 {"error": "internal server error"}``; aiohttp's own errors (unknown
  path 404, wrong method 405, body too large 413) are answered as JSON ``{"error": ...}`` with
  their status and headers; a peer worker that does not answer a routed request, or a worker
  still starting (Faust ``NotReady``), gives 503 with ``Retry-After``.
* CORS is off unless LOOKOUT_CORS_ORIGINS lists origins: then a preflight (``OPTIONS`` with
  ``Access-Control-Request-Method``) from a listed origin is answered 204 with the allowed
  methods and headers, and responses to listed origins carry ``Access-Control-Allow-Origin``.
  Other origins get no CORS headers (the browser blocks them); their preflight gets 403.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from faust.exceptions import NotReady

log = logging.getLogger(__name__)

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-API-Key"
MAX_AGE = "600"
RETRY = {"Retry-After": "1"}


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """A ``{"error": message}`` response."""
    return web.Response(
        status=status,
        body=orjson.dumps({"error": message}),
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error as JSON and never leak a traceback to the client."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return json_error(exc.status, exc.reason.lower(), kept)
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("%s %s: a peer worker did not answer: %r", request.method, request.path, exc)
        return json_error(503, "the worker that owns this data did not answer; retry", RETRY)
    except NotReady:
        return json_error(503, "the worker is starting or rebalancing; retry", RETRY)
    except OSError as exc:  # PostgreSQL (users, keys, audit) not reachable
        log.warning("%s %s: a service is not reachable: %r", request.method, request.path, exc)
        return json_error(503, "a service this needs is not reachable; retry", RETRY)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_error(500, "internal server error")


def cors_headers(origin: str | None, allowed: Collection[str]) -> dict[str, str]:
    """Headers that let ``origin`` read the response (none when it is not listed)."""
    if not origin or origin not in allowed:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def preflight_headers(origin: str) -> dict[str, str]:
    """Headers of the answer to a preflight request from an allowed ``origin``."""
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": MAX_AGE,
        "Vary": "Origin",
    }


def cors(allowed: Collection[str]) -> Middleware:
    """CORS for the listed origins only (exact ``scheme://host[:port]`` strings)."""
    origins = frozenset(allowed)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if origin in origins:
                return web.Response(status=204, headers=preflight_headers(origin))
            return json_error(403, "origin not allowed (LOOKOUT_CORS_ORIGINS)")
        response = await handler(request)
        response.headers.update(cors_headers(origin, origins))
        return response

    return middleware


def install(
    web_app: web.Application, cors_origins: Collection[str], access: Middleware | None = None
) -> None:
    """Add the middlewares to the worker's aiohttp application (before it starts).

    CORS goes outside the error middleware, so error answers carry the CORS headers too; the
    access check goes inside it, so its failures are JSON errors too.
    """
    if cors_origins:
        web_app.middlewares.append(cors(cors_origins))
    web_app.middlewares.append(errors)
    if access is not None:
        web_app.middlewares.append(access)
