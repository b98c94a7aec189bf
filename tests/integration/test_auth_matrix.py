"""The authorization matrix: every operation of the OpenAPI document x every kind of caller.

The operations come from the running worker's /api/openapi.json; each must have a row in
:data:`ROWS` (the role it needs, and how to call it), so a new endpoint without a row fails this
test, and the role the document states must be the row's. Callers: no token, an expired token,
a token signed with another key, ``alg: none``, an unknown ``kid``, viewer/operator/admin of
tenant A, viewer of B, a disabled user (token signed before it was disabled), the server admin.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from typing import Any

import jwt
import pytest

from tests.integration.api_client import Reply, call
from tests.integration.auth_stack import (
    SECRET,
    TOKEN,
    AuthStack,
)

pytestmark = pytest.mark.integration

FORGED = ["none", "expired", "other-key", "alg-none", "unknown-kid", "disabled-a"]
USERS = ["viewer-a", "operator-a", "admin-a", "viewer-b", "server-admin"]
CALLERS = FORGED + USERS
RANK = {"viewer": 0, "operator": 1, "admin": 2}
ROLE_OF = {"viewer-a": "viewer", "operator-a": "operator", "admin-a": "admin", "viewer-b": "viewer"}
# Operations on one of tenant A's things: a caller of tenant B is told it does not exist.
OF_TENANT_A = {
    "get /api/hosts/{host}/windows",
    "get /api/hosts/{host}/recent",
    "get /api/hosts/{host}/series/{series}",
    "get /api/alerts/{fingerprint}",
    "get /api/incidents/{incident_id}",
    "get /api/services/{service}/windows",
}


def b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def forged(kind: str, auth_stack: AuthStack) -> str | None:
    """A bad credential of the given kind (None: no Authorization header)."""
    now = int(time.time())
    claims = {"iss": "lookout", "aud": "lookout-api", "sub": "1", "name": "admin-a", "sa": True}
    claims |= {"roles": {"tenant-a": "admin"}, "iat": now, "exp": now + 300}
    if kind == "none":
        return None
    if kind == "expired":
        claims |= {"iat": now - 900, "exp": now - 600}
        return jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k1"})
    if kind == "other-key":
        return jwt.encode(claims, "x" * 40, algorithm="HS256", headers={"kid": "k1"})
    if kind == "alg-none":
        return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{b64(claims)}."
    if kind == "unknown-kid":
        return jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k9"})
    return auth_stack.tokens[kind]  # disabled-a: a real token, signed before the user was disabled


def metric() -> bytes:
    return json.dumps({"name": "temp", "tags": {"host": "web-a"}, "fields": {"c": 1}}).encode()


# operation -> (the role it needs, path parameters and query, body); bodies are callables so
# writes that create things make new ones each time.
ROWS: dict[str, tuple[str, dict[str, str], Any]] = {
    "get /": ("public", {}, None),
    "get /static/{name}": ("public", {"name": "live.js"}, None),
    "get /api/openapi.json": ("public", {}, None),
    "get /api/health": ("public", {}, None),
    "get /metrics": ("public", {}, None),
    "post /api/auth/login": ("public", {}, lambda: {"username": "", "password": ""}),
    "post /api/auth/refresh": ("public", {}, lambda: {"refresh_token": "rt_nope"}),
    "post /api/auth/logout": ("public", {}, lambda: {"refresh_token": "rt_nope"}),
    "get /api/auth/me": ("user", {}, None),
    "get /api/overview": ("viewer", {}, None),
    "get /api/hosts": ("viewer", {}, None),
    "get /api/hosts/{host}/windows": ("viewer", {"host": "web-a"}, None),
    "get /api/hosts/{host}/recent": ("viewer", {"host": "web-a"}, None),
    "get /api/hosts/{host}/series/{series}": (
        "viewer",
        {"host": "web-a", "series": urllib.parse.quote("temp,host=web-a c", safe="")},
        None,
    ),
    "get /api/services/{service}/windows": ("viewer", {"service": "shop"}, None),
    "get /api/series": ("viewer", {}, None),
    "post /api/ingest/metrics": ("ingest", {}, metric),
    "post /api/ingest/logs": ("ingest", {}, lambda: {"message": "x", "host": "web-a"}),
    "get /api/alerts": ("viewer", {}, None),
    "get /api/alerts/{fingerprint}": ("viewer", {"fingerprint": "A"}, None),
    "post /api/alerts/{fingerprint}/ack": ("operator", {"fingerprint": "A"}, lambda: {"by": "x"}),
    "get /api/incidents": ("viewer", {}, None),
    "get /api/incidents/{incident_id}": ("viewer", {"incident_id": "A"}, None),
    "get /api/silences": ("viewer", {}, None),
    "post /api/silences": (
        "operator",
        {},
        lambda: {"matchers": {"alertname": "nothing"}, "duration": 60, "created_by": "t"},
    ),
    "delete /api/silences/{silence_id}": ("operator", {"silence_id": "nope"}, None),
    "get /api/rules": ("viewer", {}, None),
    "get /api/notifications": ("viewer", {}, None),
    "post /api/rules/reload": ("admin", {}, None),
    "get /api/tenants": ("user", {}, None),
    "post /api/tenants": ("server_admin", {}, lambda: {"name": f"t-{uuid.uuid4().hex[:8]}"}),
    "get /api/keys": ("admin", {}, None),
    "post /api/keys": ("admin", {}, lambda: {"tenant": "tenant-a"}),
    "delete /api/keys/{key_id}": ("admin", {"key_id": "nope"}, None),
    "get /api/users": ("admin", {}, None),
    "post /api/users": (
        "admin",
        {},
        lambda: {
            "username": f"u-{uuid.uuid4().hex[:8]}",
            "password": "p" * 10,
            "tenant": "tenant-a",
        },
    ),
    "post /api/users/{username}/roles": (
        "admin",
        {"username": "viewer-a"},
        lambda: {"tenant": "tenant-a", "role": "viewer"},
    ),
    "get /api/audit": ("admin", {}, None),
    # a viewer reads its tenants' logs (test_auth_attacks: never another tenant's lines)
    "get /api/logs/search": ("viewer", {}, None),
    "get /api/logs/stats": ("viewer", {}, None),
    "get /api/logs/tail": ("viewer", {}, None),
    "get /api/logs/patterns": ("viewer", {}, None),
}


def expected(need: str, caller: str, operation: str) -> str:
    """``denied-401``, ``denied-403``, ``hidden-404``, ``ok`` (any answer below 500 but those),
    or ``public`` (the credential plays no part: below 500, never 403; 401 is the body's)."""
    if need == "public":
        return "public"
    if need == "ingest" or caller in FORGED:
        return "denied-401"  # no user token is an ingest key; forged tokens are no one
    if caller == "server-admin":
        return "ok"
    if need == "server_admin":
        return "denied-403"
    if need != "user" and RANK[ROLE_OF[caller]] < RANK[need]:
        return "denied-403"
    if caller == "viewer-b" and operation in OF_TENANT_A:
        return "hidden-404"
    return "ok"


def operations(auth_stack: AuthStack) -> dict[str, dict[str, Any]]:
    doc = call("GET", auth_stack.worker.url + "/api/openapi.json").json()
    return {f"{m} {p}": op for p, item in doc["paths"].items() for m, op in item.items()}


def test_every_operation_has_a_row_and_states_its_role(auth_stack: AuthStack) -> None:
    ops = operations(auth_stack)
    assert set(ops) == set(ROWS), "an operation without a row (or a row without one)"
    for name, op in ops.items():
        assert op["x-lookout-role"] == ROWS[name][0], name


def request(auth_stack: AuthStack, operation: str, credential: str | None) -> Reply:
    method, template = operation.split(" ", 1)
    _, params, body = ROWS[operation]
    firing = auth_stack.worker.get("/api/alerts?status=firing")["alerts"]
    of_a = next(a for a in firing if a["labels"].get("tenant") == "tenant-a")
    incident = next(
        i for i in auth_stack.worker.get("/api/incidents")["incidents"] if i["host"] == "web-a"
    )
    values = dict(params)
    if values.get("fingerprint") == "A":
        values["fingerprint"] = of_a["fingerprint"]
    if values.get("incident_id") == "A":
        values["incident_id"] = incident["incident_id"]
    path = template.format(**values)
    return call(
        method.upper(), auth_stack.worker.url + path, body() if body else None, token=credential
    )


@pytest.mark.parametrize("caller", CALLERS)
def test_the_matrix(auth_stack: AuthStack, caller: str) -> None:
    wrong = []
    credential = TOKEN if caller == "server-admin" else forged(caller, auth_stack)
    if caller in USERS and caller != "server-admin":
        credential = auth_stack.tokens[caller]
    for operation, op in sorted(operations(auth_stack).items()):
        want = expected(op["x-lookout-role"], caller, operation)
        reply = request(auth_stack, operation, credential)
        got = reply.status
        ok = {
            "denied-401": got == 401,
            "denied-403": got == 403,
            "hidden-404": got == 404,
            "ok": got < 500 and got not in (401, 403),
            "public": got < 500 and got != 403,
        }[want]
        if not ok:
            wrong.append(f"{operation}: {got} (wanted {want}) {reply.text[:120]}")
    assert not wrong, f"{caller}:\n" + "\n".join(wrong)
