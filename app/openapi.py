"""The OpenAPI 3.1 description of the worker's HTTP API, served at ``/api/openapi.json``."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERROR = _obj(error={"type": "string"})
KIND = {
    "name": "kind",
    "in": "query",
    "schema": {"type": "string", "enum": ["tumbling", "hopping"], "default": "tumbling"},
}
MATCH = {"name": "match", "in": "query", "schema": {"type": "string"}}
HOST = {"name": "host", "in": "path", "required": True, "schema": {"type": "string"}}
SERIES = _obj(
    name={"type": "string"},
    labels={"type": "object"},
    value={"type": "object", "additionalProperties": True},
)
WINDOW = _obj(
    host={"type": "string"},
    kind={"type": "string"},
    start={"type": "integer"},
    end={"type": "integer"},
    watermark={"type": "number"},
    series={"type": "array", "items": SERIES},
)
INGEST_ERRORS = {
    "400": _ok(ERROR, "a record could not be parsed (lists the rejected parts)"),
    "401": _ok(ERROR, "missing or wrong API key"),
    "413": _ok(ERROR, "body larger than LOOKOUT_INGEST_MAX_BYTES"),
    "429": _ok(ERROR, "rate limit of the API key exceeded (Retry-After)"),
}
BEARER: list[dict[str, list[str]]] = [{"apiKey": []}]


def spec() -> dict[str, Any]:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lookout worker API",
            "version": "0.1.0",
            "description": "Live window state, health, metrics and ingest of a Lookout worker. "
            "Any worker answers for any host (requests are routed to the owner).",
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/health": {
                "get": {
                    "summary": "Worker health and counters",
                    "responses": {"200": _ok(_obj(status={"type": "string"}))},
                }
            },
            "/api/hosts": {
                "get": {
                    "summary": "Hosts with window state (all workers)",
                    "responses": {
                        "200": _ok(_obj(hosts={"type": "array", "items": {"type": "string"}}))
                    },
                }
            },
            "/api/hosts/{host}/windows": {
                "get": {
                    "summary": "The open window of a host, per series",
                    "parameters": [HOST, KIND, MATCH],
                    "responses": {"200": _ok(WINDOW), "404": _ok(ERROR, "unknown host")},
                }
            },
            "/api/hosts/{host}/recent": {
                "get": {
                    "summary": "The last closed windows of a host, per series",
                    "parameters": [
                        HOST,
                        KIND,
                        MATCH,
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                    ],
                    "responses": {"200": _ok(_obj(series={"type": "array"}))},
                }
            },
            "/api/services/{service}/windows": {
                "get": {
                    "summary": "The open error-rate window of a service on each host",
                    "parameters": [
                        {
                            "name": "service",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        KIND,
                    ],
                    "responses": {"200": _ok(_obj(hosts={"type": "array"}))},
                }
            },
            "/api/series": {
                "get": {
                    "summary": "Series names",
                    "parameters": [{"name": "host", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": _ok(_obj(series={"type": "array"}))},
                }
            },
            "/api/ingest/metrics": {
                "post": {
                    "summary": "Telegraf JSON (single or batch), line protocol or NDJSON metrics",
                    "security": BEARER,
                    "parameters": [{"name": "host", "in": "query", "schema": {"type": "string"}}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {"schema": {"type": "object"}},
                            "text/plain": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {"202": _ok(_obj(accepted={"type": "integer"})), **INGEST_ERRORS},
                }
            },
            "/api/ingest/logs": {
                "post": {
                    "summary": "Application JSON logs, or nginx lines with ?type=nginx&host=H",
                    "security": BEARER,
                    "parameters": [
                        {
                            "name": "type",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["app", "nginx"]},
                        },
                        {"name": "host", "in": "query", "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {"schema": {"type": "object"}},
                            "text/plain": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {"202": _ok(_obj(accepted={"type": "integer"})), **INGEST_ERRORS},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text exposition of the pipeline's own metrics",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
    }
