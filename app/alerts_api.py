"""HTTP API for alerting: alerts, ack, incidents, silences, rules (writes need the bearer token).

Alert state lives on the worker that owns the alert's host; list endpoints fan out to every
worker (``?local=1`` answers for this worker only) and an ack is forwarded to the worker that
has the alert. Silences are written to the ``lookout.silences`` topic, which every worker reads.
"""

from __future__ import annotations

import contextlib
import hmac
import signal
import time
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from faust import web

from app.rules import RuleError
from tables.alert_rules import Matcher, expression
from tables.alert_state import AckResult, Silence

if TYPE_CHECKING:
    from agents.alerting import Alerting
    from app.faust_app import Lookout


def token_ok(expected: str | None, headers: Any) -> bool:
    """Constant-time check of ``Authorization: Bearer TOKEN``."""
    if not expected:
        return False
    auth = headers.get("Authorization", "")
    if not auth.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(auth[7:].strip().encode(), expected.encode())


def register_alert_views(lk: Lookout) -> None:
    """Add the alerting views to the worker's web server."""
    app, store, settings, stats = lk.app, lk.store, lk.settings, lk.stats
    token = settings.api_token.get_secret_value() if settings.api_token else None
    silences_topic = app.topic(lk.topics.silences, key_serializer="raw", value_serializer="raw")

    def refuse(view: web.View, request: Any) -> web.Response | None:
        if token is None:
            return view.json(
                {"error": "write endpoints are disabled: set LOOKOUT_API_TOKEN"}, status=401
            )
        if not token_ok(token, request.headers):
            stats.inc("lookout_api_unauthorized_total")
            return view.json({"error": "missing or wrong bearer token"}, status=401)
        return None

    async def body_json(request: Any) -> dict[str, Any] | None:
        raw = await request.content.read(65536)
        if not raw.strip():
            return {}
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return doc if isinstance(doc, dict) else None

    def others() -> list[str]:
        me = str(app.conf.canonical_url).rstrip("/")
        try:
            urls = {str(u).rstrip("/") for u in app.router.tables_metadata()}
        except Exception:
            return []
        return sorted(u for u in urls if u != me)

    async def fan_get(path: str) -> list[Any]:
        out: list[Any] = []
        timeout = aiohttp.ClientTimeout(total=3)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for url in others():
                try:
                    async with session.get(url + path, params={"local": "1"}) as resp:
                        if resp.status == 200:
                            out.append(await resp.json())
                except (TimeoutError, aiohttp.ClientError):
                    stats.inc("lookout_web_fanout_errors_total")
        return out

    if store.alerting is None:
        return
    alerting: Alerting = store.alerting

    @app.page("/api/alerts")
    class Alerts(web.View):
        async def get(self, request: web.Request) -> web.Response:
            status = request.query.get("status")
            items = alerting.listing(status)
            if request.query.get("local") != "1":
                for other in await fan_get("/api/alerts" + (f"?status={status}" if status else "")):
                    items.extend(other.get("alerts", []))
            return self.json({"alerts": items})

    @app.page("/api/alerts/{fingerprint}/ack")
    class Ack(web.View):
        async def post(self, request: web.Request, fingerprint: str) -> web.Response:
            refusal = refuse(self, request)
            if refusal is not None:
                return refusal
            doc = await body_json(request)
            if doc is None:
                return self.json({"error": "body must be a JSON object"}, status=400)
            by = str(doc.get("by") or "").strip()
            if not by:
                return self.json(
                    {"error": "'by' (who acknowledges) is required", "field": "by"}, status=400
                )
            comment = str(doc.get("comment") or "")
            if fingerprint in alerting.states:
                async with store.lock:
                    result = alerting.ack(fingerprint, by, comment, time.time())
                    await store.flush()
                code = 200 if result is AckResult.ACKNOWLEDGED else 409
                return self.json({"fingerprint": fingerprint, "result": result.value}, status=code)
            if request.query.get("local") != "1":
                timeout = aiohttp.ClientTimeout(total=5)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    for url in others():
                        try:
                            async with session.post(
                                f"{url}/api/alerts/{fingerprint}/ack",
                                params={"local": "1"},
                                data=orjson.dumps(doc),
                                headers={"Authorization": request.headers.get("Authorization", "")},
                            ) as resp:
                                if resp.status != 404:
                                    return self.json(await resp.json(), status=resp.status)
                        except (TimeoutError, aiohttp.ClientError):
                            stats.inc("lookout_web_fanout_errors_total")
            return self.json({"error": f"no alert {fingerprint!r}"}, status=404)

    @app.page("/api/incidents")
    class Incidents(web.View):
        async def get(self, request: web.Request) -> web.Response:
            records = list(alerting.recent)
            if request.query.get("local") != "1":
                for other in await fan_get("/api/incidents"):
                    records.extend(other.get("records", []))
            if request.query.get("local") == "1":
                return self.json({"records": records})
            return self.json({"incidents": incidents_from(records)})

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
        from app.faust_app import load_alert_rules, mirror_rules_when_possible

        rules = load_alert_rules(settings)  # RuleError: keep the old rules
        async with store.lock:
            alerting.set_rules(rules)
            await store.flush()
        app.loop.create_task(mirror_rules_when_possible(lk))
        return len(rules)

    @app.page("/api/rules/reload")
    class ReloadRules(web.View):
        async def post(self, request: web.Request) -> web.Response:
            refusal = refuse(self, request)
            if refusal is not None:
                return refusal
            try:
                count = await reload_rules()
            except RuleError as exc:
                return self.json({"error": str(exc)}, status=400)
            if request.query.get("local") != "1":
                timeout = aiohttp.ClientTimeout(total=5)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    for url in others():
                        try:
                            async with session.post(
                                f"{url}/api/rules/reload",
                                params={"local": "1"},
                                headers={"Authorization": request.headers.get("Authorization", "")},
                            ):
                                pass
                        except (TimeoutError, aiohttp.ClientError):
                            stats.inc("lookout_web_fanout_errors_total")
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
                return self.json({"error": "body must be a JSON object"}, status=400)
            try:
                silence = silence_from(doc, time.time())
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
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
                return self.json({"error": f"no silence {silence_id!r}"}, status=404)
            fut = await silences_topic.send(key=silence_id.encode(), value=None)
            await fut
            async with store.lock:
                current = {k: v for k, v in alerting.silences.items() if k != silence_id}
                alerting.set_silences(current.values(), time.time())
                await store.flush()
            return self.json({"deleted": silence_id})


def silence_from(doc: dict[str, Any], now: float) -> Silence:
    """A silence from an API body: matchers {label: spec}, and ends_at or duration (s)."""
    raw = doc.get("matchers")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(
            "'matchers' must be a non-empty object of label: value (or !=x, =~re, !~re)"
        )
    matchers = tuple(Matcher.parse(str(k), str(v)) for k, v in raw.items())
    starts = float(doc.get("starts_at") or now)
    if doc.get("ends_at") is not None:
        ends = float(doc["ends_at"])
    elif doc.get("duration") is not None:
        ends = starts + float(doc["duration"])
    else:
        raise ValueError("give 'ends_at' (epoch seconds) or 'duration' (seconds)")
    created_by = str(doc.get("created_by") or "").strip()
    if not created_by:
        raise ValueError("'created_by' is required")
    return Silence(
        id=str(doc.get("id") or uuid.uuid4().hex[:12]),
        matchers=matchers,
        starts_at=starts,
        ends_at=ends,
        created_by=created_by,
        comment=str(doc.get("comment") or ""),
    )


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
