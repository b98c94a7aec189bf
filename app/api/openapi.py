"""The OpenAPI 3.1 description of the worker's HTTP API, served at ``/api/openapi.json``.

Every route the worker serves is described here (``tests/unit/test_openapi.py`` compares the
document with the routes and validates it against the OpenAPI 3.1 schema).
"""

from __future__ import annotations

from typing import Any

from app.api.schemas import INT, JSON, OPEN, SCHEMAS, STR, obj, ref
from notifications.payload import KINDS


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _ok(ref("Error"), description)


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


KIND = _query(
    "kind",
    {"type": "string", "enum": ["tumbling", "hopping"], "default": "tumbling"},
    "window kind",
)
MATCH = _query("match", STR, "keep only series whose name contains this text")
LIMIT = _query(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
    "closed windows per series",
)
LOCAL = _query(
    "local",
    {"type": "string", "enum": ["1"]},
    "internal: answer for this worker only (workers fan out to each other with it)",
)
HOST = _path("host", "host name (the Telegraf host tag)")
BAD_QUERY = _err("bad query parameter (kind, limit, status, local)")
WRITE_SECURITY: list[dict[str, list[str]]] = [{"apiToken": []}]
INGEST_SECURITY: list[dict[str, list[str]]] = [{"ingestKey": []}, {"ingestKeyHeader": []}]
UNAUTHORIZED = _err("missing or wrong token (or writes disabled: no token configured)")
INGEST_ERRORS = {
    "400": _ok(
        obj(
            ("error",),
            error=STR,
            rejected={"type": "array", "items": obj(reason=STR, detail=STR, part=STR)},
            field=STR,
        ),
        "a record could not be parsed (lists the rejected parts); nothing was produced",
    ),
    "401": _err("missing or wrong API key (or ingest disabled: LOOKOUT_INGEST_KEYS unset)"),
    "413": _err("body larger than LOOKOUT_INGEST_MAX_BYTES"),
    "429": {
        "description": "rate limit of the API key exceeded",
        "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
        "content": {JSON: {"schema": ref("Error")}},
    },
}
METRICS_BODY = {
    "required": True,
    "content": {
        JSON: {"schema": {"oneOf": [ref("TelegrafMetric"), ref("TelegrafBatch")]}},
        "application/x-ndjson": {"schema": STR},
        "text/plain": {"schema": {**STR, "description": "InfluxDB line protocol"}},
    },
}
LOGS_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {
                "oneOf": [
                    ref("AppLog"),
                    {"type": "array", "minItems": 1, "items": ref("AppLog")},
                ]
            }
        },
        "application/x-ndjson": {"schema": STR},
        "text/plain": {"schema": {**STR, "description": "nginx access or error lines"}},
    },
}


def _get(summary: str, ok: dict[str, Any], *params: dict[str, Any], **more: Any) -> dict[str, Any]:
    responses = {"200": _ok(ok), **more}
    if any(p["in"] == "query" for p in params):
        responses.setdefault("400", BAD_QUERY)
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = list(params)
    return {"get": op}


NOTIFY_STATUSES = ("pending", "sent", "failed", "suppressed")
NOTIFICATION = obj(
    ("id", "status", "receiver", "group_key"),
    id=INT,
    status={"type": "string", "enum": list(NOTIFY_STATUSES)},
    receiver=STR,
    group_key={**STR, "description": "receiver|label=value,... (the aggregation group)"},
    kind={"type": "string", "enum": list(KINDS)},
    alert_status={"type": "string", "enum": ["firing", "resolved"]},
    reason={"type": ["string", "null"], "description": "why it was written or held back"},
    attempts=INT,
    next_attempt_at={"type": ["string", "null"], "format": "date-time"},
    last_error={"type": ["string", "null"]},
    created_at={"type": "string", "format": "date-time"},
    sent_at={"type": ["string", "null"], "format": "date-time"},
    transition_id={"type": ["string", "null"]},
    idempotency_key=STR,
    group_labels=OPEN,
    alerts={"type": "array", "items": OPEN},
    truncated={**INT, "description": "alerts left out of the message (at most 20 are listed)"},
)
PAGE = {
    "description": "the page",
    "content": {"text/html": {"schema": STR}},
}


def spec() -> dict[str, Any]:
    """The whole document."""
    window_404 = {"404": _err("unknown host")}
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "The live page (polls the API)", "responses": {"200": PAGE}}},
        "/static/{name}": {
            "get": {
                "summary": "Assets of the live page",
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["index.html", "live.css", "live.js"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the asset",
                        "content": {
                            "text/html": {"schema": STR},
                            "text/css": {"schema": STR},
                            "text/javascript": {"schema": STR},
                        },
                    },
                    "404": _err("no such asset"),
                },
            }
        },
        "/api/openapi.json": _get("This document", OPEN),
        "/api/health": _get(
            "Worker health and counters",
            obj(
                ("status", "partitions"),
                status={"type": "string", "enum": ["ok", "rebalancing"]},
                worker=STR,
                partitions={"type": "array", "items": INT},
                hosts=INT,
                records_in={"type": "number"},
                deadletter={"type": "number"},
                late={"type": "number"},
                windows_closed={"type": "number"},
                time={"type": "number"},
            ),
        ),
        "/metrics": {
            "get": {
                "summary": "Prometheus text exposition of the pipeline's own metrics",
                "responses": {
                    "200": {"description": "OK", "content": {"text/plain": {"schema": STR}}}
                },
            }
        },
        "/api/overview": _get(
            "The live page's data: headline values of every host and service, with the "
            "closed windows before the open one (all workers)",
            obj(
                ("kind", "hosts", "services"),
                kind=STR,
                workers=INT,
                hosts={"type": "array", "items": ref("HostOverview")},
                services={"type": "array", "items": ref("ServiceOverview")},
            ),
            KIND,
            LOCAL,
        ),
        "/api/hosts": _get(
            "Hosts with window state (all workers)",
            obj(("hosts",), hosts={"type": "array", "items": STR}),
            LOCAL,
        ),
        "/api/hosts/{host}/windows": _get(
            "The open window of a host, per series",
            ref("Window"),
            HOST,
            KIND,
            MATCH,
            **window_404,
        ),
        "/api/hosts/{host}/recent": _get(
            "The last closed windows of a host, per series",
            obj(
                ("host", "kind", "series"),
                host=STR,
                kind=STR,
                series={
                    "type": "array",
                    "items": obj(
                        ("name", "windows"),
                        name=STR,
                        windows={"type": "array", "items": ref("FinalWindow")},
                    ),
                },
            ),
            HOST,
            KIND,
            MATCH,
            LIMIT,
            **window_404,
        ),
        "/api/hosts/{host}/series/{series}": _get(
            "One series of a host: its open window and its last closed windows",
            ref("SeriesDetail"),
            HOST,
            _path("series", "series name as /api/series lists it, URL-encoded"),
            KIND,
            LIMIT,
            **{"404": _err("unknown host or series")},
        ),
        "/api/services/{service}/windows": _get(
            "The open error-rate window of a service on each host that serves it (all workers)",
            obj(
                ("service", "kind", "hosts"),
                service=STR,
                kind=STR,
                hosts={
                    "type": "array",
                    "items": obj(("host", "value"), host=STR, start=INT, end=INT, value=OPEN),
                },
            ),
            _path("service", "service name"),
            KIND,
            LOCAL,
            **{"404": _err("no host has an open window of the service")},
        ),
        "/api/series": _get(
            "Series names (all workers, or one host's)",
            obj(("series",), series={"type": "array", "items": STR}),
            _query("host", STR, "only this host's series"),
            LOCAL,
            **{"404": _err("unknown host")},
        ),
        "/api/ingest/metrics": {
            "post": {
                "summary": "Telegraf JSON (single or batch), line protocol or NDJSON metrics",
                "security": INGEST_SECURITY,
                "parameters": [_query("host", STR, "host tag for metrics that have none")],
                "requestBody": METRICS_BODY,
                "responses": {
                    "202": _ok(
                        obj(("accepted",), accepted=INT, messages=INT),
                        "produced to the topics",
                    ),
                    **INGEST_ERRORS,
                },
            }
        },
        "/api/ingest/logs": {
            "post": {
                "summary": "Application JSON logs, or nginx lines with ?type=nginx&host=H",
                "security": INGEST_SECURITY,
                "parameters": [
                    _query("type", {"type": "string", "enum": ["app", "nginx"]}, "log format"),
                    _query("host", STR, "host of the lines (required for nginx)"),
                ],
                "requestBody": LOGS_BODY,
                "responses": {
                    "202": _ok(obj(("accepted",), accepted=INT), "produced to the topics"),
                    **INGEST_ERRORS,
                },
            }
        },
        "/api/alerts": _get(
            "Alert instances (all workers)",
            obj(("alerts",), alerts={"type": "array", "items": ref("Alert")}),
            _query(
                "status",
                {"type": "string", "enum": ["pending", "firing", "resolved"]},
                "only alerts in this state",
            ),
            LOCAL,
        ),
        "/api/alerts/{fingerprint}": _get(
            "One alert instance (whichever worker has it)",
            ref("Alert"),
            _path("fingerprint", "alert fingerprint"),
            LOCAL,
            **{"404": _err("no such alert")},
        ),
        "/api/alerts/{fingerprint}/ack": {
            "post": {
                "summary": "Acknowledge a firing alert (forwarded to the worker that has it)",
                "security": WRITE_SECURITY,
                "parameters": [_path("fingerprint", "alert fingerprint"), LOCAL],
                "requestBody": {"required": True, "content": {JSON: {"schema": ref("Ack")}}},
                "responses": {
                    "200": _ok(
                        obj(("fingerprint", "result"), fingerprint=STR, result=STR),
                        "acknowledged",
                    ),
                    "400": _err("bad body"),
                    "401": UNAUTHORIZED,
                    "404": _err("no such alert"),
                    "409": _ok(
                        obj(("fingerprint", "result"), fingerprint=STR, result=STR),
                        "not firing, or already acknowledged",
                    ),
                },
            }
        },
        "/api/incidents": _get(
            "Incidents: firing episodes with open, ack and resolve times (all workers)",
            obj(
                incidents={"type": "array", "items": ref("Incident")},
                records={"type": "array", "items": OPEN, "description": "with local=1 only"},
            ),
            LOCAL,
        ),
        "/api/incidents/{incident_id}": _get(
            "One incident",
            ref("Incident"),
            _path("incident_id", "incident id (fingerprint:episode)"),
            LOCAL,
            **{"404": _err("no such incident")},
        ),
        "/api/silences": {
            "get": {
                "summary": "Silences",
                "responses": {
                    "200": _ok(
                        obj(("silences",), silences={"type": "array", "items": ref("Silence")})
                    )
                },
            },
            "post": {
                "summary": "Create a silence",
                "security": WRITE_SECURITY,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": ref("NewSilence")}},
                },
                "responses": {
                    "201": _ok(ref("Silence"), "created"),
                    "400": _err("bad body"),
                    "401": UNAUTHORIZED,
                },
            },
        },
        "/api/silences/{silence_id}": {
            "delete": {
                "summary": "Delete a silence",
                "security": WRITE_SECURITY,
                "parameters": [_path("silence_id", "silence id")],
                "responses": {
                    "200": _ok(obj(("deleted",), deleted=STR), "deleted"),
                    "401": UNAUTHORIZED,
                    "404": _err("no such silence"),
                },
            }
        },
        "/api/rules": _get(
            "Alert rules",
            obj(("rules",), rules={"type": "array", "items": OPEN}),
        ),
        "/api/notifications": _get(
            "The notification outbox, newest first (pending, sent, failed, held back)",
            obj(
                ("notifications",),
                notifications={"type": "array", "items": NOTIFICATION},
            ),
            _query("status", {"type": "string", "enum": list(NOTIFY_STATUSES)}, "only this status"),
            _query("receiver", STR, "only this receiver"),
            _query(
                "limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "rows"
            ),
            **{"503": _err("PostgreSQL is not reachable")},
        ),
        "/api/rules/reload": {
            "post": {
                "summary": "Reload the rules files (on every worker)",
                "security": WRITE_SECURITY,
                "parameters": [LOCAL],
                "responses": {
                    "200": _ok(obj(("rules",), rules=INT), "reloaded"),
                    "400": _err("a rules file is wrong; the old rules stay"),
                    "401": UNAUTHORIZED,
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lookout worker API",
            "version": "0.1.0",
            "description": "Live window state, alerts, health, metrics and ingest of a Lookout "
            "worker. Any worker answers for any host (requests are routed to the owner); errors "
            'are JSON {"error": "..."}.',
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "LOOKOUT_API_TOKEN",
                },
                "ingestKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a key of LOOKOUT_INGEST_KEYS",
                },
                "ingestKeyHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "a key of LOOKOUT_INGEST_KEYS",
                },
            },
        },
        "paths": paths,
    }
