"""The OpenAPI 3.1 description of the worker's HTTP API, served at ``/api/openapi.json``.

(About 530 lines: mostly the route table, one entry per operation; it is data, kept whole so
every operation's parameters, replies and required role are read in one place.)

Built from the route table :data:`ROUTES` (summary, parameters, bodies per status, security of
each operation) and the pydantic models of the bodies (:mod:`app.api.models`,
:mod:`alerting.requests`), whose JSON schemas are the components. ``tests/unit/test_openapi.py``
validates the document; ``tests/agents/test_web_app.py`` compares it with the worker's routes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from alerting.requests import Ack, NewSilence
from app.api import identity_models as im
from app.api import models as m
from app.roles import Need
from logsearch.params import SPLITS
from tables.windows import KINDS, TUMBLING

JSON = "application/json"
REF = "#/components/schemas/{model}"
STR: dict[str, Any] = {"type": "string"}
Doc = dict[str, Any]
Body = type[BaseModel] | Doc  # a model (JSON), or a schema per media type
MODELS: list[type[BaseModel]] = [Ack, NewSilence]
MODELS += list(
    {
        v: None
        for module in (m, im)
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, BaseModel)
        and v.__module__ in (m.__name__, im.__name__)
    }
)
NEED = "x-lookout-role"  # what an operation needs from its caller (app.roles.Need)


def ref(model: type[BaseModel]) -> Doc:
    """A reference to the component of a model."""
    return {"$ref": REF.format(model=model.__name__)}


class Reply(NamedTuple):
    """A response: description, body (a model, or a schema per media type), headers."""

    description: str
    body: Body = m.Error
    headers: Doc | None = None


def query(name: str, description: str, schema: Any = STR) -> Doc:
    """A query parameter."""
    return {"name": name, "in": "query", "description": description, "schema": schema}


def path(name: str, description: str, schema: Any = None) -> Doc:
    """A required path parameter (a non-empty string unless ``schema`` says otherwise)."""
    schema = schema or {"type": "string", "minLength": 1}
    return {**query(name, description, schema), "in": "path", "required": True}


def enum(*values: str, default: str | None = None) -> Doc:
    """A string schema with these values."""
    return {"type": "string", "enum": list(values)} | ({"default": default} if default else {})


def content(body: Body) -> Doc:
    """A ``content`` object: JSON for a model, else the schema of each media type."""
    media = body if isinstance(body, dict) else {JSON: ref(body)}
    return {kind: {"schema": schema} for kind, schema in media.items()}


def response(reply: Reply | str | Body) -> Doc:
    """A response object; a reply given as text is an error, as a body that of an OK."""
    if not isinstance(reply, Reply):
        reply = Reply(reply) if isinstance(reply, str) else Reply("OK", reply)
    out = {"description": reply.description, "content": content(reply.body)}
    return out | ({"headers": reply.headers} if reply.headers else {})


class Auth(NamedTuple):
    """Security schemes an operation takes (any one of them), and its 401 answer."""

    schemes: tuple[str, ...]
    refused: str


def op(
    summary: str,
    replies: Mapping[str, Reply | str | Body],
    *params: Doc,
    body: Body | None = None,
    need: Need,
) -> Doc:
    """An operation; 400 is documented whenever it has query parameters, 401/403 with security.

    ``need`` is what the caller must be (:class:`app.roles.Need`), kept in the document as
    ``x-lookout-role``: the access middleware enforces it and the authorization matrix test
    reads it.
    """
    security = SECURITY.get(need)
    if any(p["in"] == "query" for p in params):
        replies = {"400": BAD_QUERY, **replies}
    if security:
        replies = {**replies, "401": security.refused}
    if need not in (Need.PUBLIC, Need.INGEST):
        replies = {**replies, "403": FORBIDDEN}
    out: Doc = {"summary": summary, "responses": {s: response(r) for s, r in replies.items()}}
    out |= {"parameters": list(params)} if params else {}
    out |= {"requestBody": {"required": True, "content": content(body)}} if body else {}
    out |= {"security": [{s: []} for s in security.schemes]} if security else {}
    return out | {NEED: need.value}


BAD_QUERY = "bad query parameter (kind, limit, status, since, local)"
KIND = query("kind", "window kind", enum(*KINDS, default=TUMBLING))
MATCH = query("match", "keep only series whose name contains this text")
LIMIT = query(
    "limit",
    "closed windows per series",
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 5},
)
LOCAL = query(
    "local",
    "internal: answer for this worker only (workers fan out to each other with it)",
    enum("1"),
)
HOST = path("host", "host name (the Telegraf host tag)")
FINGERPRINT = path("fingerprint", "alert fingerprint")
SIGNED_IN = Auth(
    ("userToken", "apiToken"),
    "missing, expired or invalid token (reads need one when sign-in is on: LOOKOUT_JWT_SECRET)",
)
INGEST = Auth(
    ("ingestKey", "ingestKeyHeader"),
    "missing, wrong or revoked API key (or ingest disabled: no key configured)",
)
SECURITY: dict[Need, Auth] = {n: SIGNED_IN for n in Need if n is not Need.PUBLIC}
SECURITY[Need.INGEST] = INGEST
FORBIDDEN = "the caller's role does not allow this operation"
RETRY_AFTER = {"Retry-After": {"schema": STR, "description": "seconds"}}
INGEST_ERRORS: dict[str, Reply | str | Body] = {
    "400": Reply("a record could not be parsed (lists the rejected parts)", m.Rejected),
    "413": "body larger than LOOKOUT_INGEST_MAX_BYTES",
    "403": "the host belongs to another tenant than the key's",
    "429": Reply("rate limit of the API key exceeded", headers=RETRY_AFTER),
}
ACCEPTED = "produced to the topics"
NDJSON = "application/x-ndjson"
ASSETS = {"text/html": STR, "text/css": STR, "text/javascript": STR}

LOG_FILTERS = (
    query("q", 'free text (simple_query_string: +, |, -, "phrase", prefix*)'),
    query("from", "start: ISO 8601 or relative (-15m, now-2h); default -1h"),
    query("to", "end: ISO 8601 or relative; default now"),
    query("source", "nginx, app (comma list; default both)"),
    *(
        query(name, f"only these {name} values (comma list or repeated)")
        for name in ("host", "service", "level", "status_class", "pattern_id", "tenant", "type")
    ),
)
LOG_ERRORS: dict[str, Reply | str | Body] = {
    "400": Reply("a parameter is wrong (param names it)", m.BadParameter),
    "503": "Elasticsearch is not configured or not reachable",
}
SSE = {"text/event-stream": {**STR, "description": "events `logs` with id, keep-alive comments"}}
ROUTES: dict[str, Doc] = {
    "get /": op(
        "The live page (polls the API)",
        {"200": Reply("the page", {"text/html": STR})},
        need=Need.PUBLIC,
    ),
    "get /static/{name}": op(
        "Assets of the live page",
        {"200": Reply("the asset", ASSETS), "404": "no such asset"},
        path("name", "asset name", enum("index.html", "live.css", "live.js", "logs.js")),
        need=Need.PUBLIC,
    ),
    "get /api/openapi.json": op("This document", {"200": m.Document}, need=Need.PUBLIC),
    "get /api/health": op("Worker health and counters", {"200": m.Health}, need=Need.PUBLIC),
    "get /metrics": op(
        "Prometheus text exposition of the pipeline's own metrics",
        {"200": {"text/plain": STR}},
        need=Need.PUBLIC,
    ),
    "get /api/overview": op(
        "The live page's data: headline values of every host and service, with the closed "
        "windows before the open one (all workers)",
        {"200": m.Overview},
        KIND,
        query("tenant", "only this tenant's hosts (the live page's tenant switcher)"),
        LOCAL,
        need=Need.VIEWER,
    ),
    "get /api/hosts": op(
        "Hosts with window state (all workers)", {"200": m.Hosts}, LOCAL, need=Need.VIEWER
    ),
    "get /api/hosts/{host}/windows": op(
        "The open window of a host, per series",
        {"200": m.Window, "404": "unknown host"},
        *(HOST, KIND, MATCH),
        need=Need.VIEWER,
    ),
    "get /api/hosts/{host}/recent": op(
        "The last closed windows of a host, per series",
        {"200": m.Recent, "404": "unknown host"},
        *(HOST, KIND, MATCH, LIMIT),
        need=Need.VIEWER,
    ),
    "get /api/hosts/{host}/series/{series}": op(
        "One series of a host: its open window and its last closed windows",
        {"200": m.SeriesDetail, "404": "unknown host or series"},
        *(HOST, path("series", "series name as /api/series lists it, URL-encoded"), KIND, LIMIT),
        need=Need.VIEWER,
    ),
    "get /api/services/{service}/windows": op(
        "The open error-rate window of a service on each host that serves it (all workers)",
        {"200": m.ServiceWindows, "404": "no host has an open window of the service"},
        *(path("service", "service name"), KIND, LOCAL),
        need=Need.VIEWER,
    ),
    "get /api/series": op(
        "Series names (all workers, or one host's)",
        {"200": m.SeriesNames, "404": "unknown host"},
        *(query("host", "only this host's series"), LOCAL),
        need=Need.VIEWER,
    ),
    "post /api/ingest/metrics": op(
        "Telegraf JSON (single or batch), line protocol or NDJSON metrics",
        {"202": Reply(ACCEPTED, m.MetricsAccepted), **INGEST_ERRORS},
        query("host", "host tag for metrics that have none"),
        body={
            JSON: {"anyOf": [ref(m.TelegrafMetric), ref(m.TelegrafBatch)]},
            NDJSON: STR,
            "text/plain": {**STR, "description": "InfluxDB line protocol"},
        },
        need=Need.INGEST,
    ),
    "post /api/ingest/logs": op(
        "Application JSON logs, or nginx lines with ?type=nginx&host=H",
        {"202": Reply(ACCEPTED, m.Accepted), **INGEST_ERRORS},
        query("type", "log format", enum("app", "nginx")),
        query("host", "host of the lines (required for nginx)"),
        body={
            JSON: {
                "anyOf": [ref(m.AppLog), {"type": "array", "minItems": 1, "items": ref(m.AppLog)}]
            },
            NDJSON: STR,
            "text/plain": {**STR, "description": "nginx access or error lines"},
        },
        need=Need.INGEST,
    ),
    "get /api/logs/patterns": op(
        "Mined log message templates with counts, first/last seen and an example (all workers)",
        {"200": m.Patterns},
        query("service", "only this service's patterns"),
        query("since", "only patterns seen at or after this time (epoch seconds or ISO 8601)"),
        query("tenant", "only lines of these tenants (comma list; within the caller's)"),
        LOCAL,
        need=Need.VIEWER,
    ),
    "get /api/alerts": op(
        "Alert instances (all workers)",
        {"200": m.Alerts},
        *(query("status", "only alerts in this state", enum(*get_args(m.AlertStatus))), LOCAL),
        need=Need.VIEWER,
    ),
    "get /api/alerts/{fingerprint}": op(
        "One alert instance (whichever worker has it)",
        {"200": m.Alert, "404": "no such alert"},
        *(FINGERPRINT, LOCAL),
        need=Need.VIEWER,
    ),
    "post /api/alerts/{fingerprint}/ack": op(
        "Acknowledge a firing alert (forwarded to the worker that has it)",
        {
            "200": Reply("acknowledged", m.AckReply),
            "400": "bad body",
            "404": "no such alert",
            "409": Reply("not firing, or already acknowledged", m.AckReply),
        },
        *(FINGERPRINT, LOCAL),
        body=Ack,
        need=Need.OPERATOR,
    ),
    "get /api/incidents": op(
        "Incidents: firing episodes with open, ack and resolve times (all workers)",
        {"200": m.Incidents},
        LOCAL,
        need=Need.VIEWER,
    ),
    "get /api/incidents/{incident_id}": op(
        "One incident",
        {"200": m.Incident, "404": "no such incident"},
        *(path("incident_id", "incident id (fingerprint:episode)"), LOCAL),
        need=Need.VIEWER,
    ),
    "get /api/silences": op("Silences", {"200": m.Silences}, need=Need.VIEWER),
    "post /api/silences": op(
        "Create a silence",
        {"201": Reply("created", m.Silence), "400": "bad body"},
        body=NewSilence,
        need=Need.OPERATOR,
    ),
    "delete /api/silences/{silence_id}": op(
        "Delete a silence",
        {"200": Reply("deleted", m.Deleted), "404": "no such silence"},
        path("silence_id", "silence id"),
        need=Need.OPERATOR,
    ),
    "get /api/rules": op("Alert rules", {"200": m.Rules}, need=Need.VIEWER),
    "get /api/notifications": op(
        "The notification outbox, newest first (pending, sent, failed, held back)",
        {"200": m.Notifications, "503": "PostgreSQL is not reachable"},
        query("status", "only this status", enum(*get_args(m.NotifyStatus))),
        query("receiver", "only this receiver"),
        query("limit", "rows", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}),
        need=Need.VIEWER,
    ),
    "get /api/logs/search": op(
        "Search log lines, newest first, with highlights; page on with cursor",
        {"200": m.LogPage, **LOG_ERRORS},
        *LOG_FILTERS,
        query("limit", "lines", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        query("cursor", "the cursor of the previous page (same q, from, to and filters)"),
        need=Need.VIEWER,
    ),
    "get /api/logs/stats": op(
        "Log volume over time, split by level, service, host, status class or pattern",
        {"200": m.LogStats, **LOG_ERRORS},
        *LOG_FILTERS,
        query("interval", "bucket width (30s, 5m, 1h) or auto"),
        query("split", "split field", enum(*SPLITS, default="level")),
        query("top", "top values of the split", {"type": "integer", "minimum": 1, "maximum": 50}),
        need=Need.VIEWER,
    ),
    "get /api/logs/tail": op(
        "Live tail (Server-Sent Events) of the log topics, same filters; resumes at Last-Event-ID",
        {
            "200": Reply("the event stream", SSE),
            "400": Reply("a parameter or Last-Event-ID is wrong", m.BadParameter),
            "429": Reply(
                "too many tails open for this caller",
                headers={"Retry-After": {"schema": STR, "description": "seconds"}},
            ),
            "503": "the broker is not reachable",
        },
        *LOG_FILTERS,
        {
            "name": "Last-Event-ID",
            "in": "header",
            "description": "resume after this event (sent by EventSource on reconnect)",
            "schema": STR,
        },
        need=Need.VIEWER,
    ),
    "post /api/rules/reload": op(
        "Reload the rules files (on every worker)",
        {
            "200": Reply("reloaded", m.Reloaded),
            "400": "a rules file is wrong; the old rules stay",
        },
        LOCAL,
        need=Need.ADMIN,
    ),
    "post /api/auth/login": op(
        "Sign in: an access token (JWT) and a refresh token",
        {
            "200": im.Tokens,
            "400": "bad body",
            "401": "wrong user name or password (the same answer for an unknown user)",
            "429": Reply("too many failed sign-ins; retry later", headers=RETRY_AFTER),
            "503": "sign-in is off (no LOOKOUT_JWT_SECRET) or PostgreSQL is not reachable",
        },
        body=im.Login,
        need=Need.PUBLIC,
    ),
    "post /api/auth/refresh": op(
        "A new access token for a refresh token (the refresh token is rotated)",
        {
            "200": im.Tokens,
            "400": "bad body",
            "401": "refresh token unknown, expired, logged out, or its user disabled",
            "503": "sign-in is off or PostgreSQL is not reachable",
        },
        body=im.RefreshToken,
        need=Need.PUBLIC,
    ),
    "post /api/auth/logout": op(
        "Revoke a refresh token",
        {
            "200": im.Done,
            "400": "bad body",
            "503": "sign-in is off or PostgreSQL is not reachable",
        },
        body=im.RefreshToken,
        need=Need.PUBLIC,
    ),
    "get /api/auth/me": op("The caller and its roles", {"200": im.Me}, need=Need.USER),
    "get /api/tenants": op(
        "Tenants the caller sees, with its role in each",
        {"200": im.Tenants, "503": "PostgreSQL is not reachable"},
        need=Need.USER,
    ),
    "post /api/tenants": op(
        "Create a tenant (server admin)",
        {
            "201": Reply("created", im.Done),
            "400": "bad body",
            "409": "the tenant exists",
            "503": "PostgreSQL is not reachable",
        },
        body=im.NewTenant,
        need=Need.SERVER_ADMIN,
    ),
    "get /api/keys": op(
        "Ingest keys of the tenants the caller administers (never their secrets)",
        {"200": im.Keys, "503": "PostgreSQL is not reachable"},
        need=Need.ADMIN,
    ),
    "post /api/keys": op(
        "Create an ingest key of a tenant; its secret is in this answer only",
        {
            "201": Reply("created", im.CreatedKey),
            "400": "bad body",
            "404": "no such tenant (or not one the caller administers)",
            "503": "PostgreSQL is not reachable",
        },
        body=im.NewKey,
        need=Need.ADMIN,
    ),
    "delete /api/keys/{key_id}": op(
        "Revoke an ingest key",
        {
            "200": Reply("revoked", im.Done),
            "404": "no such live key in the caller's tenants",
            "503": "PostgreSQL is not reachable",
        },
        path("key_id", "key id (the part after lk_)"),
        need=Need.ADMIN,
    ),
    "get /api/users": op(
        "Users of the tenants the caller administers, with their roles there",
        {"200": im.Users, "503": "PostgreSQL is not reachable"},
        need=Need.ADMIN,
    ),
    "post /api/users": op(
        "Create a user with a role in one tenant the caller administers",
        {
            "201": Reply("created", im.Done),
            "400": "bad body",
            "404": "no such tenant (or not one the caller administers)",
            "409": "the user exists",
            "503": "PostgreSQL is not reachable",
        },
        body=im.NewUser,
        need=Need.ADMIN,
    ),
    "post /api/users/{username}/roles": op(
        "Give a user a role in a tenant the caller administers, or take it away",
        {
            "200": Reply("done", im.Done),
            "400": "bad body",
            "404": "no such user or tenant",
            "503": "PostgreSQL is not reachable",
        },
        path("username", "user name"),
        body=im.RoleGrant,
        need=Need.ADMIN,
    ),
    "get /api/audit": op(
        "Audit log of the tenants the caller administers, newest first",
        {"200": im.AuditLog, "503": "PostgreSQL is not reachable"},
        query("action", "only this action (login, refresh, ack, silence, ...)"),
        query("limit", "rows", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}),
        need=Need.ADMIN,
    ),
}
SECURITY_SCHEMES = {
    "apiToken": {"type": "http", "scheme": "bearer", "description": "LOOKOUT_API_TOKEN"},
    "userToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an access token from POST /api/auth/login (docs/AUTH.md)",
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
}


@cache
def _spec() -> Doc:
    _, top = models_json_schema([(model, "validation") for model in MODELS], ref_template=REF)
    paths: Doc = {}
    for route, operation in ROUTES.items():
        method, where = route.split(" ", 1)
        paths.setdefault(where, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lookout worker API",
            "version": "0.1.0",
            "description": "Live window state, alerts, health, metrics and ingest of a Lookout "
            "worker. Any worker answers for any host (requests are routed to the owner); errors "
            'are JSON {"error": "..."}.',
        },
        "components": {"schemas": top["$defs"], "securitySchemes": SECURITY_SCHEMES},
        "paths": paths,
    }


def spec() -> Doc:
    """The whole document (built once; each call gets its own copy)."""
    return copy.deepcopy(_spec())
