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
from alerting.requests import ack_from, silence_from
from alerting.rules import expression
from alerting.suppression import AckResult
from app.api import auth
from app.api.models import AlertStatus
from app.api.peers import Peers
from app.api.windows import is_local
from sinks.rules_mirror import mirror_rules_when_possible

if TYPE_CHECKING:
    from agents.runtime import Lookout
    from alerting.evaluator import Alerting

REFUSALS = {
    auth.Denied.DISABLED: "write endpoints are disabled: set LOOKOUT_API_TOKEN",
    auth.Denied.MISSING: "missing bearer token (Authorization: Bearer TOKEN)",
    auth.Denied.WRONG: "wrong bearer token",
}
STATUSES: tuple[str, ...] = get_args(AlertStatus)


def register_alert_views(lk: Lookout) -> None:
    """Add the alerting views to the worker's web server."""
    app, store, settings, stats = lk.app, lk.store, lk.settings, lk.stats
    keys = auth.single_key(settings.api_token)
    silences_topic = app.topic(lk.topics.silences, key_serializer="raw", value_serializer="raw")
    peers = Peers(app, stats)

    def refuse(view: web.View, request: Any) -> web.Response | None:
        _, denied = auth.check(keys, request.headers)
        if denied is None:
            return None
        if denied is not auth.Denied.DISABLED:
            stats.inc("lookout_api_unauthorized_total")
        return view.json(
            {"error": REFUSALS[denied]},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="lookout"'},
        )

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
                for other in await peers.get_all("/api/alerts", params):
                    items.extend(other.get("alerts", []))
            return self.json({"alerts": items})

    @app.page("/api/alerts/{fingerprint}")
    class AlertOne(web.View):
        async def get(self, request: web.Request, fingerprint: str) -> web.Response:
            local = is_local(request)
            for item in alerting.listing():
                if item["fingerprint"] == fingerprint:
                    return self.json(item)
            if not local:
                for other in await peers.get_all(f"/api/alerts/{fingerprint}"):
                    return self.json(other)
            return self.error(404, f"no alert {fingerprint!r}")

    @app.page("/api/alerts/{fingerprint}/ack")
    class Ack(web.View):
        async def post(self, request: web.Request, fingerprint: str) -> web.Response:
            refusal = refuse(self, request)
            if refusal is not None:
                return refusal
            local = is_local(request)
            doc = await body_json(request)
            if doc is None:
                return self.error(400, "body must be a JSON object")
            try:
                by, comment = ack_from(doc)
            except ValueError as exc:
                return self.error(400, str(exc))
            if fingerprint in alerting.states:
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
                return self.json({"records": list(alerting.recent)})
            return self.json({"incidents": incidents_from(await all_records())})

    async def all_records() -> list[dict[str, Any]]:
        records = list(alerting.recent)
        for other in await peers.get_all("/api/incidents"):
            records.extend(other.get("records", []))
        return records

    @app.page("/api/incidents/{incident_id}")
    class IncidentOne(web.View):
        async def get(self, request: web.Request, incident_id: str) -> web.Response:
            records = list(alerting.recent) if is_local(request) else await all_records()
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
            refusal = refuse(self, request)
            if refusal is not None:
                return refusal
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
            ]
            return self.json({"silences": items})

        async def post(self, request: web.Request) -> web.Response:
            refusal = refuse(self, request)
            if refusal is not None:
                return refusal
            doc = await body_json(request)
            if doc is None:
                return self.error(400, "body must be a JSON object")
            try:
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
            refusal = refuse(self, request)
            if refusal is not None:
                return refusal
            if silence_id not in alerting.silences:
                return self.error(404, f"no silence {silence_id!r}")
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
