"""Alert rules mirrored into PostgreSQL ``alert_configuration`` (for BI), retried while away."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from alerting.rules import Rule, RuleKind, expression
from app.backoff import Backoff
from sinks import migrations

log = logging.getLogger(__name__)


def to_config_rows(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """Rows for ``alert_configuration`` (labels/annotations as JSON text)."""
    return [
        {
            "rule": r.name,
            "kind": r.kind.value,
            "expression": expression(r),
            "threshold": r.absent_for_s if r.kind is RuleKind.ABSENCE else r.threshold,
            "for_seconds": r.for_s,
            "keep_firing_for_seconds": r.keep_firing_for_s,
            "recovery_threshold": r.recovery,
            "severity": r.severity,
            "labels": json.dumps(r.labels, sort_keys=True),
            "annotations": json.dumps(r.annotations, sort_keys=True),
            "enabled": r.enabled,
        }
        for r in rules
    ]


_COLUMNS = (
    "rule",
    "kind",
    "expression",
    "threshold",
    "for_seconds",
    "keep_firing_for_seconds",
    "recovery_threshold",
    "severity",
    "labels",
    "annotations",
    "enabled",
)
_UPSERT = f"""
INSERT INTO alert_configuration ({", ".join(_COLUMNS)}, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, now())
ON CONFLICT (rule) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])}, updated_at = now()
WHERE ({", ".join(f"alert_configuration.{c}" for c in _COLUMNS[1:])})
    IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _COLUMNS[1:])})
"""
_DELETE_GONE = "DELETE FROM alert_configuration WHERE NOT (rule = ANY($1::text[]))"


async def mirror_rules(dsn: str, rules: Iterable[Rule]) -> int:
    """Upsert ``rules`` into ``alert_configuration`` and delete rows of rules no longer present,
    in one transaction; rows that did not change keep their ``updated_at``. Returns the number
    of rows deleted."""
    rows = to_config_rows(rules)
    conn = await migrations.connect(dsn, "rules")  # clear error naming the server and fix
    try:
        async with conn.transaction():
            if rows:
                await conn.executemany(_UPSERT, [tuple(r[c] for c in _COLUMNS) for r in rows])
            status = await conn.execute(_DELETE_GONE, [r["rule"] for r in rows])
        return int(str(status).rsplit(" ", 1)[-1])
    finally:
        await conn.close()


async def mirror_rules_when_possible(
    dsn: str, rules: Iterable[Rule], backoff: Backoff = Backoff(base=2.0, cap=60.0)
) -> None:
    """Mirror ``rules`` into ``alert_configuration``; retry while Postgres is away or unmigrated."""
    rules = list(rules)
    attempt = 0
    while True:
        try:
            await mirror_rules(dsn, rules)
            log.info("rules mirrored into alert_configuration")
            return
        except Exception as exc:  # Postgres down or not migrated yet: alerts do not wait for it
            delay = backoff.delay(attempt)
            log.warning("could not mirror rules into Postgres (%s); retrying in %.0f s", exc, delay)
            attempt += 1
            await asyncio.sleep(delay)
