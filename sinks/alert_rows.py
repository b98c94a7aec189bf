"""``lookout.alerts`` records -> PostgreSQL statements (pure: no I/O).

Each record becomes ordered, idempotent operations, applied in the sink's batch transaction:

* every transition -> one ``alert_history`` row (key: the transition id);
* ``firing`` opens an incident (``INSERT ... ON CONFLICT DO NOTHING``), ``resolved`` closes it,
  an ``ack`` record stamps who and when (only the first ack of an incident counts);
* host down (transitions that carry ``down_at``): firing inserts a ``downtime_logs`` row,
  resolved sets its ``up_at`` (the table computes the duration).

A replay re-runs the same statements and changes nothing.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.tenancy import TenantMap
from sinks.pg_values import RowError, clean, number, to_json, to_time

OPS = "alert_ops"

SQL: dict[str, str] = {
    "history": (
        "INSERT INTO alert_history (transition_id, fingerprint, rule, labels, from_state,"
        " to_state, value, event_time) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)"
        " ON CONFLICT (transition_id) DO NOTHING"
    ),
    "open": (
        "INSERT INTO incidents (incident_id, fingerprint, rule, severity, labels, summary,"
        " opened_at, status) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, 'open')"
        " ON CONFLICT (incident_id) DO NOTHING"
    ),
    "ack": (
        "UPDATE incidents SET acknowledged_at = GREATEST($2, opened_at), acknowledged_by = $3,"
        " ack_comment = $4, status = CASE WHEN status = 'open' THEN 'acknowledged'"
        " ELSE status END WHERE incident_id = $1 AND acknowledged_at IS NULL"
    ),
    "resolve": (
        "UPDATE incidents SET resolved_at = GREATEST($2, opened_at), status = 'resolved'"
        " WHERE incident_id = $1"
    ),
    "down": (
        "INSERT INTO downtime_logs (host, down_at, reason, rule, tenant)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host, down_at) DO NOTHING"
    ),
    "up": (
        "UPDATE downtime_logs SET up_at = GREATEST($3, down_at)"
        " WHERE host = $1 AND down_at = $2 AND up_at IS NULL"
    ),
}


def alert_ops(value: bytes, tenants: TenantMap | None = None) -> list[tuple[Any, ...]]:
    """The operations of one ``lookout.alerts`` record; raises RowError for a bad record.

    A host's downtime row takes the alert's ``tenant`` label (records from before tenants: the
    host's tenant in ``tenants``, else the default tenant).
    """
    try:
        rec = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RowError(f"alert record is not JSON: {exc}") from None
    if not isinstance(rec, dict):
        raise RowError("alert record is not an object")
    try:
        if rec.get("type") == "ack":
            return [
                (
                    "ack",
                    rec["incident_id"],
                    to_time(float(rec["at"])),
                    clean(str(rec.get("by") or "")),
                    clean(str(rec.get("comment") or "")),
                )
            ]
        return _transition_ops(rec, tenants or TenantMap("default"))
    except (KeyError, TypeError, ValueError) as exc:
        raise RowError(f"alert record: {type(exc).__name__}: {exc}") from None


def _transition_ops(rec: dict[str, Any], tenants: TenantMap) -> list[tuple[Any, ...]]:
    labels = rec.get("labels") or {}
    at = to_time(float(rec["event_time"]))
    ops: list[tuple[Any, ...]] = [
        (
            "history",
            rec["id"],
            rec["fingerprint"],
            rec["rule"],
            to_json(labels),
            rec["from_state"],
            rec["to_state"],
            number(rec.get("value")),
            at,
        )
    ]
    to_state = rec["to_state"]
    if to_state == "firing":
        summary = (rec.get("annotations") or {}).get("summary")
        ops.append(
            (
                "open",
                rec["incident_id"],
                rec["fingerprint"],
                rec["rule"],
                str(rec.get("severity") or "warning"),
                to_json(labels),
                clean(summary),
                at,
            )
        )
    elif to_state == "resolved":
        ops.append(("resolve", rec["incident_id"], at))
    down_at = rec.get("down_at")
    host = labels.get("host")
    if down_at is not None and host:
        if to_state == "firing":
            reason = f"no data for {rec.get('value') or 0:.0f} s"
            tenant = clean(str(labels.get("tenant") or tenants.of(host)))
            ops.append(("down", host, to_time(float(down_at)), reason, rec["rule"], tenant))
        elif to_state == "resolved" and rec.get("up_at") is not None:
            ops.append(("up", host, to_time(float(down_at)), to_time(float(rec["up_at"]))))
    return ops
