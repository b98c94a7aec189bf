"""Bad input and attacks on users, tokens, keys and tenants, against a real worker.

Tenant isolation (another tenant's things answer 404), acks and silences scoped to a tenant,
refresh and logout, a disabled user, revoked and foreign ingest keys (401/403, nothing on the
topics), the audit log, and sign-in throttling without user enumeration (last: it throttles
the test's address).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.api_client import wait_for
from tests.integration.auth_stack import (
    PASSWORD,
    AuthStack,
    keys_on_topic,
)

pytestmark = pytest.mark.integration


def alert_of(auth_stack: AuthStack, host: str) -> dict[str, str]:
    alerts = auth_stack.worker.get("/api/alerts?status=firing")["alerts"]
    return next(a for a in alerts if a["labels"]["host"] == host)


def test_each_tenant_sees_only_its_own(auth_stack: AuthStack) -> None:
    hosts = {who: auth_stack.call("GET", "/api/hosts", who=who).json()["hosts"] for who in
             ("viewer-a", "viewer-b", "server-admin")}  # fmt: skip
    assert hosts == {
        "viewer-a": ["web-a"],
        "viewer-b": ["web-b"],
        "server-admin": ["web-a", "web-b"],
    }
    alerts = auth_stack.call("GET", "/api/alerts", who="viewer-b").json()["alerts"]
    assert [(a["labels"]["host"], a["labels"]["tenant"]) for a in alerts] == [("web-b", "tenant-b")]
    overview = auth_stack.call("GET", "/api/overview", who="viewer-a").json()
    assert [(h["host"], h["tenant"]) for h in overview["hosts"]] == [("web-a", "tenant-a")]
    tenant_b = auth_stack.call("GET", "/api/overview?tenant=tenant-b", who="server-admin").json()
    assert [h["host"] for h in tenant_b["hosts"]] == ["web-b"]
    a = alert_of(auth_stack, "web-a")
    for path in ["/api/hosts/web-a/windows", f"/api/alerts/{a['fingerprint']}",
                 "/api/series?host=web-a", "/api/services/shop/windows"]:  # fmt: skip
        reply = auth_stack.call("GET", path, who="viewer-b")
        assert reply.status == 404, (path, reply.status, reply.text)
    assert auth_stack.call("GET", "/api/hosts/web-a/windows", who="viewer-a").status == 200
    incidents = auth_stack.call("GET", "/api/incidents", who="viewer-b").json()["incidents"]
    assert {i["host"] for i in incidents} == {"web-b"}


def test_acks_and_silences_are_scoped_to_the_tenant(auth_stack: AuthStack) -> None:
    grant = {"tenant": "tenant-b", "role": "operator"}
    assert auth_stack.call("POST", "/api/users/viewer-b/roles", grant, "server-admin").status == 200
    auth_stack.tokens["viewer-b"] = auth_stack.login("viewer-b").json()["access_token"]  # new roles
    a, b = alert_of(auth_stack, "web-a"), alert_of(auth_stack, "web-b")
    # an operator of B does not find A's alert; the ack is recorded under the user's own name
    assert (
        auth_stack.call(
            "POST", f"/api/alerts/{a['fingerprint']}/ack", {"by": "x"}, "viewer-b"
        ).status
        == 404
    )
    acked = auth_stack.call(
        "POST", f"/api/alerts/{b['fingerprint']}/ack", {"by": "someone else"}, "viewer-b"
    )
    assert acked.status == 200, acked.text
    assert alert_of(auth_stack, "web-b")["ack_by"] == "viewer-b"
    # a silence of an operator of B is B's only; naming another tenant is refused
    body = {"matchers": {"alertname": "hot"}, "duration": 600, "created_by": "b"}
    made = auth_stack.call("POST", "/api/silences", body, "viewer-b")
    assert made.status == 201 and ["tenant", "=", "tenant-b"] in made.json()["matchers"]
    other = {**body, "matchers": {"alertname": "hot", "tenant": "tenant-a"}}
    assert auth_stack.call("POST", "/api/silences", other, "viewer-b").status == 400
    silences = auth_stack.call("GET", "/api/silences", who="operator-a").json()["silences"]
    assert made.json()["id"] not in {s["id"] for s in silences}
    gone = auth_stack.call("DELETE", f"/api/silences/{made.json()['id']}", who="operator-a")
    assert gone.status == 404
    wait_for(lambda: alert_of(auth_stack, "web-b")["silenced_by"], 10, "B's alert silenced")
    assert not alert_of(auth_stack, "web-a")["silenced_by"]


def test_refresh_rotates_logout_revokes_disabled_stops(auth_stack: AuthStack) -> None:
    first = auth_stack.refresh["viewer-a"]
    renewed = auth_stack.call("POST", "/api/auth/refresh", {"refresh_token": first})
    assert renewed.status == 200, renewed.text
    assert auth_stack.call("POST", "/api/auth/refresh", {"refresh_token": first}).status == 401
    second = renewed.json()["refresh_token"]
    fresh = renewed.json()["access_token"]
    assert auth_stack.call("GET", "/api/hosts", who=None).status == 401
    auth_stack.tokens["viewer-a-2"] = fresh
    assert auth_stack.call("GET", "/api/auth/me", who="viewer-a-2").json()["name"] == "viewer-a"
    assert auth_stack.call("POST", "/api/auth/logout", {"refresh_token": second}).status == 200
    assert auth_stack.call("POST", "/api/auth/refresh", {"refresh_token": second}).status == 401
    # disabled: its refresh token stops at once, its access token at the next reload (1 s)
    refresh = auth_stack.refresh["disabled-a"]
    assert auth_stack.call("POST", "/api/auth/refresh", {"refresh_token": refresh}).status == 401
    assert auth_stack.call("GET", "/api/hosts", who="disabled-a").status == 401
    assert auth_stack.login("disabled-a").status == 401


def test_revoked_and_foreign_ingest_keys_write_nothing(auth_stack: AuthStack) -> None:
    made = auth_stack.call("POST", "/api/keys", {"tenant": "tenant-a", "name": "old"}, "admin-a")
    key, key_id = made.json()["key"], made.json()["key_id"]
    assert auth_stack.ingest(key, "web-a2").status == 202
    assert auth_stack.call("DELETE", f"/api/keys/{key_id}", who="admin-a").status == 200
    assert auth_stack.call("DELETE", f"/api/keys/{key_id}", who="admin-a").status == 404
    assert auth_stack.ingest(key, "revoked-host").status == 401
    # a key of A cannot write B's host, nor B's key A's host
    refused = auth_stack.ingest(auth_stack.keys["tenant-a"], "web-b")
    assert refused.status == 403, refused.text
    assert auth_stack.ingest(auth_stack.keys["tenant-b"], "web-a").status == 403
    # admin of A cannot revoke or even see B's keys
    keys_b = auth_stack.call("GET", "/api/keys", who="server-admin").json()["keys"]
    b_id = next(k["key_id"] for k in keys_b if k["tenant"] == "tenant-b")
    assert auth_stack.call("DELETE", f"/api/keys/{b_id}", who="admin-a").status == 404
    assert {
        k["tenant"] for k in auth_stack.call("GET", "/api/keys", who="admin-a").json()["keys"]
    } == {"tenant-a"}
    topic = auth_stack.env["LOOKOUT_TOPIC_PREFIX"] + "telegraf.metrics"
    keys = asyncio.run(
        keys_on_topic(auth_stack.env["LOOKOUT_BROKER_URL"].removeprefix("kafka://"), topic)
    )
    assert b"revoked-host" not in keys
    assert keys.count(b"web-b") == 1 and keys.count(b"web-a") == 1  # from the set-up only
    assert b"web-a2" in keys


def test_the_audit_log_has_logins_keys_acks_and_silences(auth_stack: AuthStack) -> None:
    rows = auth_stack.call("GET", "/api/audit?limit=500", who="server-admin").json()["audit"]
    seen = {(r["action"], r["user"], r["success"]) for r in rows}
    for row in [
        ("login", "admin-a", True),
        ("login", "disabled-a", False),
        ("key.create", "admin-a", True),
        ("key.revoke", "admin-a", True),
        ("ack", "viewer-b", True),
        ("silence.create", "viewer-b", True),
        ("user.create", "admin-a", True),
        ("tenant.create", "api-token", True),
        ("refresh", "viewer-a", True),
        ("user.disable", next(r["user"] for r in rows if r["user"].startswith("cli:")), True),
    ]:
        assert row in seen, row
    ack = next(r for r in rows if r["action"] == "ack" and r["success"])
    assert ack["tenant"] == "tenant-b" and ack["address"] == "127.0.0.1" and ack["target"]
    # an admin of A sees A's rows only; a viewer none
    mine = auth_stack.call("GET", "/api/audit", who="admin-a").json()["audit"]
    assert mine and {r["tenant"] for r in mine} == {"tenant-a"}
    assert auth_stack.call("GET", "/api/audit", who="viewer-a").status == 403


def test_sign_in_is_throttled_without_telling_who_exists(auth_stack: AuthStack) -> None:
    rows = auth_stack.call("GET", "/api/audit?action=login&limit=500", who="server-admin").json()
    earlier = sum(1 for r in rows["audit"] if not r["success"])  # all within the last minute
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    answers = set()
    for i in range(10 - earlier):
        name, kind = ("nobody-here", "unknown") if i % 2 else ("viewer-a", "wrong")
        started = time.perf_counter()
        reply = auth_stack.login(name, "not-the-password")
        timings[kind].append(time.perf_counter() - started)
        answers.add((reply.status, reply.text))
    assert answers == {(401, '{"error":"wrong user name or password"}')}
    # the fastest of each: what the server spends itself (a busy machine only ever adds to it)
    unknown, wrong = min(timings["unknown"]), min(timings["wrong"])
    assert abs(unknown - wrong) < max(0.05, 0.5 * min(unknown, wrong)), timings
    # the 11th attempt from this address within the minute: 429, even with the right password
    assert min(len(t) for t in timings.values()) >= 3
    throttled = auth_stack.login("viewer-a", PASSWORD)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    assert auth_stack.login("nobody-here", "x").status == 429
