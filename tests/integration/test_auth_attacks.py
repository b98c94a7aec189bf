"""Bad input and attacks on users, tokens, keys and tenants, against a real worker.

Tenant isolation (another tenant's things answer 404, another tenant's log lines are never
found, counted, tailed or mined into what a caller sees), acks and silences scoped to a tenant,
refresh and logout, a disabled user, revoked and foreign ingest keys (401/403, nothing on the
topics), the audit log, and sign-in throttling without user enumeration (last: it throttles
the test's address).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from typing import Any

import orjson
import pytest

from app.settings import load_settings
from app.topics import TopicNames
from logsearch.positions import event_id, parse_event_id
from tests.integration.api_client import call, wait_for
from tests.integration.auth_stack import (
    PASSWORD,
    TOKEN,
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


A_LINES = ["vault opened for account 11", "vault opened for account 12", "alpha key 3 rotated"]
B_LINES = ["vault opened for account 99"]


def send_logs(auth_stack: AuthStack, tenant: str, host: str, lines: list[str]) -> None:
    now = time.time()
    body = [{"timestamp": now, "level": "error", "service": "vault", "host": host, "message": m}
            for m in lines]  # fmt: skip
    url = auth_stack.worker.url + "/api/ingest/logs"
    reply = call("POST", url, orjson.dumps(body), token=auth_stack.keys[tenant])
    assert reply.status == 202, reply.text


def logs(auth_stack: AuthStack, what: str, who: str, **params: str) -> Any:
    query = urllib.parse.urlencode({"from": "-1h", "service": "vault", **params})
    reply = auth_stack.call("GET", f"/api/logs/{what}?{query}", who=who)
    assert reply.status == 200, (what, who, reply.status, reply.text)
    return reply.json()


def messages(auth_stack: AuthStack, who: str, **params: str) -> list[str]:
    return sorted(e["doc"]["message"] for e in logs(auth_stack, "search", who, **params)["entries"])


def tail_from_the_start(auth_stack: AuthStack, who: str) -> tuple[list[str], dict[Any, int]]:
    """The vault lines a tail resumed at offset 0 of every log partition shows ``who`` before it
    ends (LOOKOUT_LOGS_TAIL_MAX_SECONDS=1), and the positions it reached."""
    settings = load_settings(auth_stack.env)
    topics = TopicNames.from_settings(settings)
    parts = range(settings.partitions)
    start = {(t, p): 0 for t in (topics.logs_nginx, topics.logs_app) for p in parts}
    reply = call(
        "GET",
        auth_stack.worker.url + "/api/logs/tail?service=vault",
        token=TOKEN if who == "server-admin" else auth_stack.tokens[who],
        headers={"Last-Event-ID": event_id(start)},
        timeout=20,
    )
    assert reply.status == 200, reply.text
    seen: list[str] = []
    reached: dict[Any, int] = dict(start)
    for block in reply.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields and fields.get("event") == "logs":
            seen += [e["doc"]["message"] for e in orjson.loads(fields["data"])["entries"]]
        if "id" in fields:
            reached = parse_event_id(fields["id"], (topics.logs_nginx, topics.logs_app))
    return sorted(seen), reached


def test_another_tenants_log_lines_are_never_found_counted_tailed_or_mined(
    auth_stack: AuthStack,
) -> None:
    send_logs(auth_stack, "tenant-a", "web-a", A_LINES)
    send_logs(auth_stack, "tenant-b", "web-b", B_LINES)
    both = sorted(A_LINES + B_LINES)
    wait_for(lambda: messages(auth_stack, "server-admin") == both, 30, "the sink to store all")
    # search: each viewer its own tenant's lines; naming the other tenant finds nothing
    assert messages(auth_stack, "viewer-a") == sorted(A_LINES)
    assert messages(auth_stack, "viewer-b") == B_LINES
    assert messages(auth_stack, "viewer-b", tenant="tenant-a") == []
    assert messages(auth_stack, "viewer-b", q="alpha") == []
    assert messages(auth_stack, "viewer-a", tenant="tenant-a,tenant-b") == sorted(A_LINES)
    assert messages(auth_stack, "server-admin", tenant="tenant-b") == B_LINES
    docs = logs(auth_stack, "search", "viewer-a")["entries"]
    assert {(e["doc"]["host"], e["doc"]["tenant"]) for e in docs} == {("web-a", "tenant-a")}
    # stats: counts of the caller's lines only
    stats = logs(auth_stack, "stats", "viewer-b", split="host")
    assert stats["total"] == 1 and [t["key"] for t in stats["top"]] == ["web-b"]
    assert logs(auth_stack, "stats", "viewer-b", tenant="tenant-a")["total"] == 0
    assert logs(auth_stack, "stats", "viewer-a")["total"] == 3

    # patterns: a shared template shows B only B's count and example; A's own template not at all
    def patterns(who: str, **params: str) -> dict[str, tuple[int, str]]:
        rows = logs(auth_stack, "patterns", who, **params)["patterns"]
        return {r["template"]: (r["count"], r["example"]) for r in rows}

    wait_for(lambda: len(patterns("viewer-a")) == 2, 30, "A's lines mined")
    assert patterns("viewer-b") == {"vault opened for account <NUM>": (1, B_LINES[0])}
    assert patterns("viewer-b", tenant="tenant-a") == {}
    mine = patterns("viewer-a")
    assert mine["vault opened for account <NUM>"] == (2, A_LINES[0])
    assert sum(n for n, _ in patterns("server-admin").values()) == 4

    # tail: resumed from the start of every partition, past the lines of both tenants
    def admin_tail() -> tuple[list[str], dict[Any, int]] | None:
        seen, reached = tail_from_the_start(auth_stack, "server-admin")
        return (seen, reached) if seen == both else None

    admin = wait_for(admin_tail, 30, "an admin's tail to show every line")
    assert tail_from_the_start(auth_stack, "viewer-a")[0] == sorted(A_LINES)

    def b_tail() -> list[str] | None:
        seen, reached = tail_from_the_start(auth_stack, "viewer-b")
        caught_up = all(reached.get(tp, 0) >= offset for tp, offset in admin[1].items())
        return seen if caught_up else None  # it read every line the admin's tail read

    assert wait_for(b_tail, 30, "B's tail to read past A's lines") == B_LINES


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
