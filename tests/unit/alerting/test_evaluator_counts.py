"""Alerting counts its evaluations and transitions per rule (read into /metrics at scrape time)."""

from __future__ import annotations

from pathlib import Path

from alerting.config import load_rules
from alerting.evaluator import Alerting
from tables.engine import WindowEngine
from tables.windows import WindowConfig

T0 = 1_800_000_000.0
RULES = """
rules:
  - name: host_down
    kind: absence
    absent_for: 60s
    severity: critical
"""


def test_absence_rule_counts_evaluations_and_one_transition_per_state_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    engine = WindowEngine(WindowConfig(tumbling=60, hopping=300, step=60, grace=30.0, idle=30.0))
    alerting = Alerting(engine, load_rules(path))
    hs = engine.host("h1", 0, T0)
    hs.max_ts = T0
    alerting.tick([hs], T0 + 10)  # heard from recently: nothing to evaluate
    assert alerting.evaluations == {}
    for step in range(3):
        alerting.tick([hs], T0 + 61 + step)  # silent for over a minute
    assert alerting.evaluations["host_down"] == 3
    assert sum(alerting.transitions.values()) >= 1
    assert {rule for rule, _ in alerting.transitions} == {"host_down"}
    assert len(alerting.collect().records) == sum(alerting.transitions.values())
