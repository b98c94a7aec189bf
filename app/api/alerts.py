"""HTTP API for alerting: alerts, ack, incidents, silences, rules (writes need the bearer token).

Alert state lives on the worker that owns the alert's host; list endpoints fan out to every
worker (``?local=1`` answers for this worker only) and an ack is forwarded to the worker that
has the alert. Silences are written to the ``lookout.silences`` topic, which every worker reads.
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import TYPE_CHECKING, Any, get_args

import orjson
from faust import web

from agents.runtime import load_alert_rules
from alerting.config import RuleError
from alerting.labels import MatchOp
from alerting.requests import ack_from, silence_from
from alerting.rules import expression
from alerting.silences import Silence
from alerting.suppression import AckResult
from app.api.access import Access, audit_note, caller
from app.api.models import AlertStatus
from app.api.peers import Peers
from app.api.windows import is_local
from app.roles import Principal, Role
from sinks.rules_mirror import mirror_rules_when_possible

if TYPE_CHECKING:
    from agents.runtime import Lookout
    from alerting.evaluator import Alerting

STATUSES: tuple[str, ...] = get_args(AlertStatus)


def silence_tenant(silence: Silence) -> str | None:
    """The tenant a silence is scoped to (its ``tenant="T"`` matcher), or None: every tenant."""
    for m in silence.matchers:
        if m.label == "tenant" and m.op is MatchOp.EQ:
            return m.value
    return None


def scope_silence(doc: dict[str, Any], who: Principal) -> str | None:
    """Scope a new silence to a tenant the caller operates (adds the ``tenant`` matcher).

    A server admin may silence every tenant; anyone else names one tenant where they are an
    operator (or has exactly one). ValueError (400) otherwise.
    """
    matchers = doc.get("matchers")
    if who.server_admin or not isinstance(matchers, dict):
        return None
    given = matchers.get("tenant")
    mine = sorted(t for t in who.roles if who.can(Role.OPERATOR, t))
    if given is None and len(mine) == 1:
        given = mine[0]
    if not isinstance(given, str) or given.startswith(("!", "=~")):
        raise ValueError('\'matchers\' must name your tenant: "tenant": "NAME"')
    tenant = given.removeprefix("=")
    if tenant not in mine:
        raise ValueError('\'matchers\' must name your tenant: "tenant": "NAME"')
    matchers["tenant"] = tenant
    return tenant


def register_alert_views(lk: Lookout, access: Access) -> None:
    """Add the alerting views to the worker's web server (the middleware checks the caller).

    Alerts, incidents and silences of tenants the caller does not see are left out of lists and
    answer 404 one by one; acks and silences are scoped to the caller's tenants.
    """
    app, store, settings, stats = lk.app, lk.store, lk.settings, lk.stats
    silences_topic = app.topic(lk.topics.silences, key_serializer="raw", value_serializer="raw")
    peers = Peers(app, stats)

    def sees_silence(request: Any, silence: Silence) -> bool:
        tenant = silence_tenant(silence)
        who = caller(request)
        return who.server_admin or who.read_all or (tenant is not None and who.sees(tenant))

    async def body_json(request: Any) -> dict[str, Any] | None:
        raw = await request.content.read(65536)
        if not raw.strip():
            return {}
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return doc if isinstance(doc, dict) else None

    if store.alerting is None:
        return
    alerting: Alerting = store.alerting

    @app.page("/api/alerts")
    class Alerts(web.View):
        async def get(self, request: web.Request) -> web.Response:
            status = request.query.get("status")
            if status is not None and status not in STATUSES:
                return self.error(400, f"status must be one of {', '.join(STATUSES)}")
            items = alerting.listing(status)
            if not is_local(request):
                params = {"status": status} if status else {}
                for other in await peers.get_all("/api/alerts", params, request=request):
                    items.extend(other.get("alerts", []))
            items = [i for i in items if access.visible_labels(request, i.get("labels"))]
            return self.json({"alerts": items})

    @app.page("/api/alerts/{fingerprint}")
    class AlertOne(web.View):
        async def get(self, request: web.Request, fingerprint: str) -> web.Response:
            local = is_local(request)
            for item in alerting.listing():
                if item["fingerprint"] == fingerprint and access.visible_labels(
                    request, item.get("labels")
                ):
                    return self.json(item)
            if not local:
                path = f"/api/alerts/{fingerprint}"
                for other in await peers.get_all(path, request=request):
                    if access.visible_labels(request, other.get("labels")):
                        return self.json(other)
            return self.error(404, f"no alert {fingerprint!r}")

    @app.page("/api/alerts/{fingerprint}/ack")
    class Ack(web.View):
        async def post(self, request: web.Request, fingerprint: str) -> web.Response:
            local = is_local(request)
            doc = await body_json(request)
            if doc is None:
                return self.error(400, "body must be a JSON object")
            try:
                by, comment = ack_from(doc)
            except ValueError as exc:
                return self.error(400, str(exc))
            who = caller(request)
            if who.user_id is not None:
                by = who.name  # a signed-in user acks as themselves
            state = alerting.states.get(fingerprint)
            if state is not None:
                tenant = state.labels.get("tenant") or lk.tenants.of(state.labels.get("host", ""))
                if not who.can(Role.OPERATOR, tenant):
                    return self.error(404, f"no alert {fingerprint!r}")
                audit_note(request, tenant=tenant)
                async with store.lock:
                    result = alerting.ack(fingerprint, by, comment, time.time())
                    await store.flush()
                code = 200 if result is AckResult.ACKNOWLEDGED else 409
                return self.json({"fingerprint": fingerprint, "result": result.value}, status=code)
            if not local:
                found = await peers.post(
                    f"/api/alerts/{fingerprint}/ack",
                    body=orjson.dumps(doc),
                    authorization=request.headers.get("Authorization", ""),
                    until=lambda status: status != 404,
                )
                if found is not None:
                    return self.json(found[1], status=found[0])
            return self.error(404, f"no alert {fingerprint!r}")

    @app.page("/api/incidents")
    class Incidents(web.View):
        async def get(self, request: web.Request) -> web.Response:
            if is_local(request):
                return self.json({"records": visible_records(request, list(alerting.recent))})
            return self.json({"incidents": incidents_from(await all_records(request))})

    def visible_records(request: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in records if access.visible_labels(request, r.get("labels"))]

    async def all_records(request: Any) -> list[dict[str, Any]]:
        records = list(alerting.recent)
        for other in await peers.get_all("/api/incidents", request=request):
            records.extend(other.get("records", []))
        return visible_records(request, records)

    @app.page("/api/incidents/{incident_id}")
    class IncidentOne(web.View):
        async def get(self, request: web.Request, incident_id: str) -> web.Response:
            if is_local(request):
                records = visible_records(request, list(alerting.recent))
            else:
                records = await all_records(request)
            for incident in incidents_from(records):
                if incident["incident_id"] == incident_id:
                    return self.json(incident)
            return self.error(404, f"no incident {incident_id!r}")

    @app.page("/api/rules")
    class Rules(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.json(
                {
                    "rules": [
                        {
                            "name": r.name,
                            "kind": r.kind.value,
                            "expression": expression(r),
                            "severity": r.severity,
                            "for_s": r.for_s,
                            "keep_firing_for_s": r.keep_firing_for_s,
                            "labels": r.labels,
                        }
                        for r in alerting.rules
                    ]
                }
            )

    async def reload_rules() -> int:
        rules = load_alert_rules(settings)  # RuleError: keep the old rules
        async with store.lock:
            alerting.set_rules(rules)
            await store.flush()
        if lk.postgres_dsn is not None:
            app.loop.create_task(mirror_rules_when_possible(lk.postgres_dsn, rules))
        return len(rules)

    @app.page("/api/rules/reload")
    class ReloadRules(web.View):
        async def post(self, request: web.Request) -> web.Response:
            local = is_local(request)
            try:
                count = await reload_rules()
            except RuleError as exc:
                return self.error(400, str(exc))
            if not local:
                await peers.post(
                    "/api/rules/reload", authorization=request.headers.get("Authorization", "")
                )
            return self.json({"rules": count})

    def on_sighup() -> None:
        async def go() -> None:
            try:
                await reload_rules()
            except RuleError as exc:
                app.log.error("rules not reloaded: %s", exc)

        app.loop.create_task(go())

    @app.task
    async def install_sighup() -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
            app.loop.add_signal_handler(signal.SIGHUP, on_sighup)

    @app.page("/api/silences")
    class Silences(web.View):
        async def get(self, request: web.Request) -> web.Response:
            now = time.time()
            items = [
                {**s.to_state(), "active": s.active(now)}
                for s in sorted(alerting.silences.values(), key=lambda s: s.starts_at)
                if sees_silence(request, s)
            ]
            return self.json({"silences": items})

        async def post(self, request: web.Request) -> web.Response:
            doc = await body_json(request)
            if doc is None:
                return self.error(400, "body must be a JSON object")
            try:
                audit_note(request, tenant=scope_silence(doc, caller(request)))
                silence = silence_from(doc, time.time())
            except ValueError as exc:
                return self.error(400, str(exc))
            fut = await silences_topic.send(
                key=silence.id.encode(), value=orjson.dumps(silence.to_state())
            )
            await fut
            async with store.lock:
                current = dict(alerting.silences)
                current[silence.id] = silence
                alerting.set_silences(current.values(), time.time())
                await store.flush()
            return self.json(silence.to_state(), status=201)

    @app.page("/api/silences/{silence_id}")
    class SilenceOne(web.View):
        async def delete(self, request: web.Request, silence_id: str) -> web.Response:
            found = alerting.silences.get(silence_id)
            if found is None or not sees_silence(request, found):
                return self.error(404, f"no silence {silence_id!r}")
            tenant = silence_tenant(found)
            who = caller(request)
            if not who.server_admin and (tenant is None or not who.can(Role.OPERATOR, tenant)):
                return self.error(404, f"no silence {silence_id!r}")
            audit_note(request, tenant=tenant)
            fut = await silences_topic.send(key=silence_id.encode(), value=None)
            await fut
            async with store.lock:
                current = {k: v for k, v in alerting.silences.items() if k != silence_id}
                alerting.set_silences(current.values(), time.time())
                await store.flush()
            return self.json({"deleted": silence_id})


def incidents_from(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group transition and ack records into incidents (one per firing episode)."""
    by_id: dict[str, dict[str, Any]] = {}
    for rec in sorted(records, key=lambda r: r.get("event_time") or r.get("at") or 0):
        iid = rec.get("incident_id")
        if not iid:
            continue
        inc = by_id.setdefault(
            iid,
            {
                "incident_id": iid,
                "rule": rec.get("rule"),
                "labels": rec.get("labels"),
                "host": rec.get("host"),
                "status": "pending",
                "opened_at": None,
                "resolved_at": None,
                "acknowledged_by": None,
                "acknowledged_at": None,
                "summary": None,
            },
        )
        if rec.get("type") == "ack":
            inc["acknowledged_by"], inc["acknowledged_at"] = rec.get("by"), rec.get("at")
        elif rec.get("to_state") == "firing":
            inc["status"], inc["opened_at"] = "firing", rec.get("event_time")
            inc["summary"] = (rec.get("annotations") or {}).get("summary")
        elif rec.get("to_state") == "resolved":
            inc["status"], inc["resolved_at"] = "resolved", rec.get("event_time")
    out = [i for i in by_id.values() if i["opened_at"] is not None]
    return sorted(out, key=lambda i: i["opened_at"], reverse=True)
