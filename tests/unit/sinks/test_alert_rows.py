"""lookout.alerts records -> ordered, idempotent Postgres operations."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from app.tenancy import TenantMap
from sinks.alert_rows import SQL, alert_ops
from sinks.pg_rows import RowError

T = 1_800_000_000.0


def transition(to_state: str, **extra: object) -> bytes:
    rec = {
        "type": "transition",
        "id": f"fp:{to_state}:1",
        "rule": "host_down",
        "fingerprint": "fp",
        "labels": {"host": "web-1", "alertname": "host_down"},
        "from_state": "inactive",
        "to_state": to_state,
        "event_time": T + 100,
        "value": 65.0,
        "severity": "critical",
        "annotations": {"summary": "web-1 is down"},
        "incident_id": "fp:1",
    }
    rec.update(extra)
    return orjson.dumps(rec)


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_firing_host_down_writes_history_incident_and_downtime() -> None:
    ops = alert_ops(transition("firing", down_at=T))
    assert [op[0] for op in ops] == ["history", "open", "down"]
    assert ops[1][1] == "fp:1" and ops[1][6] == "web-1 is down"
    assert ops[2][1:3] == ("web-1", at(T))
    assert ops[2][-1] == "default"  # a record from before tenants: the host's tenant


def test_a_downtime_row_has_the_alerts_tenant() -> None:
    labels = {"host": "web-1", "alertname": "host_down", "tenant": "acme"}
    ops = alert_ops(transition("firing", down_at=T, labels=labels), TenantMap("d"))
    assert ops[2][-1] == "acme"
    ops = alert_ops(transition("firing", down_at=T), TenantMap("d", {"web-1": "beta"}))
    assert ops[2][-1] == "beta"


def test_resolved_closes_incident_and_downtime() -> None:
    ops = alert_ops(transition("resolved", down_at=T, up_at=T + 130, down_for_s=130))
    assert [op[0] for op in ops] == ["history", "resolve", "up"]
    assert ops[2] == ("up", "web-1", at(T), at(T + 130))


def test_ack_record() -> None:
    rec = {"type": "ack", "incident_id": "fp:1", "by": "ann", "comment": "on it", "at": T + 5}
    (op,) = alert_ops(orjson.dumps(rec))
    assert op == ("ack", "fp:1", at(T + 5), "ann", "on it")


def test_pending_writes_history_only() -> None:
    assert [op[0] for op in alert_ops(transition("pending"))] == ["history"]


@pytest.mark.parametrize("bad", [b"not json", b"[1]", b'{"type": "transition"}'])
def test_bad_records_are_refused(bad: bytes) -> None:
    with pytest.raises(RowError):
        alert_ops(bad)


def test_every_statement_is_idempotent_sql() -> None:
    for name, sql in SQL.items():
        assert "ON CONFLICT" in sql or sql.startswith("UPDATE"), name
        assert "$1" in sql
