"""Payloads shaped as the grouping side writes them (docs/NOTIFY-CONTRACT.md), for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# 2025-11-22 14:10:22 UTC: the alerts below started 14:03:10 (7m 12s earlier).
NOW = datetime(2025, 11, 22, 14, 10, 22, tzinfo=UTC).timestamp()
START = datetime(2025, 11, 22, 14, 3, 10, tzinfo=UTC).timestamp()


def alert(
    service: str = "shop",
    *,
    severity: str = "critical",
    state: str = "firing",
    value: float | None = 0.31,
    threshold: float | None = 0.05,
    starts_at: float | None = START,
    ends_at: float | None = None,
    acknowledged: bool = False,
    summary: str | None = None,
    description: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert entry of a payload."""
    annotations = {"summary": summary or f"{service} on web-1: 31.0% of requests fail with 5xx"}
    if description:
        annotations["description"] = description
    return {
        "fingerprint": f"fp-{service}",
        "rule": "nginx_5xx_error_rate",
        "severity": severity,
        "labels": {"host": "web-1", "service": service, **labels},
        "annotations": annotations,
        "value": value,
        "threshold": threshold,
        "state": state,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "incident_id": f"inc-{service}",
        "acknowledged": acknowledged,
    }


def payload(
    *alerts: dict[str, Any],
    kind: str = "firing",
    receiver: str = "ops-slack",
    truncated: int = 0,
    status: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A payload for the group rule=nginx_5xx_error_rate, host=web-1."""
    entries = list(alerts) or [alert()]
    firing = any(a["state"] == "firing" for a in entries)
    body = {
        "version": 1,
        "receiver": receiver,
        "group_key": f"{receiver}|rule=nginx_5xx_error_rate,host=web-1",
        "group_labels": {"rule": "nginx_5xx_error_rate", "host": "web-1"},
        "status": status or ("firing" if firing else "resolved"),
        "kind": kind,
        "alerts": entries,
        "truncated": truncated,
        "live_url": "http://localhost:6066/",
        "grafana_url": "http://localhost:3000/d/lookout-alerts",
    }
    body.update(extra)
    return body


def resolved(service: str = "shop", **kw: Any) -> dict[str, Any]:
    """A resolved alert that lasted 7m 12s."""
    return alert(service, state="resolved", ends_at=NOW, **kw)
