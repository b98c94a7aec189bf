"""Pattern rules: the rule model, YAML, per-pattern views and timelines through the evaluator.

Timelines use tumbling windows of 60 s; each closed window of ``pat|shop|web-1`` is one final::

    t=0        60        120       180       240
    |--- w0 ---|--- w1 ---|--- w2 ---|--- w3 ---|
"""

from __future__ import annotations

import pytest

from alerting.config import RuleError, parse_rules
from alerting.evaluator import Alerting
from alerting.labels import Matcher, RuleInvalid
from alerting.patterns import pattern_views
from alerting.rules import Comparison, Evaluate, Rule, RuleKind, Source, expression, select
from alerting.transitions import Status
from tables.engine import WindowEngine
from tables.records import Final
from tables.series import describe_series, log_series, pattern_series
from tables.windows import WindowConfig

SID = pattern_series("shop", "web-1")
DESC = describe_series(SID)


def one(yaml_rule: str) -> Rule:
    (rule,) = parse_rules("rules:\n" + yaml_rule, "test.yaml")
    return rule


def window(start: int, patterns: dict[str, tuple[int, int, float]], since: float = 0.0) -> Final:
    """A closed tumbling window [start, start + 60) with (count, errors, first_seen) per id."""
    result = {
        "lines": sum(n for n, _, _ in patterns.values()),
        "overflow": 0,
        "since": since,
        "patterns": {
            p: {"count": n, "errors": e, "first_seen": f} for p, (n, e, f) in patterns.items()
        },
    }
    return Final("web-1", 0, SID, "tumbling", start, start + 60, result)


def statuses(alerting: Alerting) -> dict[str, str]:
    """Live alert states by pattern id (resolved ones are forgotten)."""
    return {st.labels["pattern_id"]: st.status.value for st in alerting.states.values()}


def transitions(alerting: Alerting) -> list[tuple[str, str]]:
    """(pattern id, to_state) of the transitions since the last collect."""
    return [(r["labels"]["pattern_id"], r["to_state"]) for _, _, r in alerting.collect().records]


# ---- model and YAML --------------------------------------------------------------------------


def test_new_pattern_defaults_from_yaml() -> None:
    rule = one("  - name: new_error_pattern\n    kind: new_pattern\n    learning: 1h\n")
    assert rule.kind is RuleKind.NEW_PATTERN
    assert rule.source is Source.PATTERN
    assert (rule.aggregate, rule.op, rule.threshold) == ("count", Comparison.GE, 1.0)
    assert rule.learning_s == 3600.0
    assert rule.evaluate is Evaluate.CLOSED
    assert (
        expression(rule)
        == "new_pattern(count(pattern{}) over tumbling) after 3600s of learning >= 1"
    )


def test_pattern_threshold_rule_from_yaml() -> None:
    rule = one(
        "  - name: spike\n    source: pattern\n    aggregate: errors\n    threshold: 50\n"
        "    match: {service: shop, pattern_id: '!=abc'}\n"
    )
    assert rule.evaluate is Evaluate.CLOSED
    assert select(rule, DESC)
    assert not select(rule, describe_series(log_series("shop", "web-1")))
    assert not select(rule, describe_series(pattern_series("api", "web-1")))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("kind: new_pattern\n    source: log", "field 'source': a new_pattern rule reads pattern"),
        (
            "source: pattern\n    aggregate: p95\n    threshold: 1",
            "field 'aggregate': unknown 'p95'",
        ),
        ("source: pattern\n    aggregate: cont\n    threshold: 1", "did you mean 'count'?"),
        (
            "source: pattern\n    aggregate: count\n    threshold: 1\n    match: {path: x}",
            "drop 'path'",
        ),
        (
            "source: pattern\n    aggregate: count\n    threshold: 1\n    evaluate: open",
            "closed windows",
        ),
        (
            "source: log\n    aggregate: log_lines\n    threshold: 1\n    learning: 1h",
            "field 'learning'",
        ),
        ("kind: new_pattern\n    threshold: 0", "N >= 1"),
        ("kind: new_pattern\n    op: '>'", "N >= 1"),
        ("kind: new_pattern\n    recovery: 0", "no recovery"),
        ("kind: new_pattern\n    aggregate: share", "'count' or 'errors'"),
        ("kind: new_pattern\n    deviations: 3", "field 'deviations'"),
        ("kind: new_pattern\n    learning: -5", "field 'learning'"),
    ],
)
def test_bad_pattern_rules_name_the_field_and_fix(body: str, message: str) -> None:
    with pytest.raises(RuleError) as err:
        one(f"  - name: r\n    {body}\n")
    assert "test.yaml: rule 'r': " in str(err.value)
    assert message in str(err.value)


def test_rule_model_refuses_a_new_pattern_on_metrics() -> None:
    with pytest.raises(RuleInvalid):
        Rule(name="r", kind=RuleKind.NEW_PATTERN, measurement="cpu", field="x", op=Comparison.GE)


# ---- views -----------------------------------------------------------------------------------


def test_views_per_pattern_with_rates_shares_and_new() -> None:
    rule = one("  - name: r\n    source: pattern\n    aggregate: count\n    threshold: 5\n")
    final = window(120, {"a": (30, 3, 10.0), "b": (10, 10, 130.0)})
    views = {pid: (d, r) for pid, d, r in pattern_views(rule, final.result, DESC, 120, 180, {"z"})}
    assert views["a"][0] == {
        "type": "pattern",
        "service": "shop",
        "host": "web-1",
        "pattern_id": "a",
    }
    assert views["a"][1] == {
        "count": 30, "errors": 3, "rate": 0.5, "error_share": 0.1, "share": 0.75, "new": False,
    }  # fmt: skip
    assert views["b"][1]["new"] is True
    assert views["z"][1] == {
        "count": 0, "errors": 0, "rate": 0.0, "error_share": None, "share": 0.0, "new": False,
    }  # fmt: skip
    only = Rule(
        name="r",
        source=Source.PATTERN,
        aggregate="count",
        matchers=(Matcher.parse("pattern_id", "b"),),
    )
    assert [pid for pid, _, _ in pattern_views(only, final.result, DESC, 120, 180)] == ["b"]


def test_new_pattern_views_read_zero_unless_new_after_learning() -> None:
    rule = one("  - name: r\n    kind: new_pattern\n    threshold: 2\n    learning: 5m\n")
    result = window(300, {"old": (9, 0, 20.0), "early": (4, 0, 310.0)}, since=100.0).result
    views = {p: r for p, _, r in pattern_views(rule, result, DESC, 300, 360)}
    assert views["old"]["count"] == 0  # seen before this window
    assert views["early"]["count"] == 0  # first seen 210 s after the service: still learning
    result = window(420, {"late": (4, 0, 430.0)}, since=100.0).result
    assert next(pattern_views(rule, result, DESC, 420, 480))[2]["count"] == 4


# ---- timelines through the evaluator ---------------------------------------------------------


def alerting_for(rule_yaml: str) -> Alerting:
    return Alerting(WindowEngine(WindowConfig()), parse_rules("rules:\n" + rule_yaml))


def test_error_spike_fires_per_pattern_and_resolves_when_the_pattern_stops() -> None:
    alerting = alerting_for(
        "  - name: spike\n    source: pattern\n    aggregate: errors\n    threshold: 50\n"
    )
    alerting.on_finals([window(0, {"a": (60, 60, 0.0), "b": (5, 5, 0.0)})], now=70.0)
    assert statuses(alerting) == {"a": "firing"}
    alerting.on_finals([window(60, {"a": (70, 70, 0.0)})], now=130.0)
    assert statuses(alerting) == {"a": "firing"}
    alerting.on_finals([window(120, {"b": (1, 1, 0.0)})], now=190.0)  # a is gone: reads 0
    assert statuses(alerting) == {}
    assert transitions(alerting) == [("a", "firing"), ("a", "resolved")]
    assert alerting.pattern_alerts == {}


def test_new_pattern_timeline_with_learning() -> None:
    # since=0; learning 120 s: w0 and w1 are the learning period
    alerting = alerting_for(
        "  - name: new\n    kind: new_pattern\n    threshold: 3\n    learning: 2m\n"
    )
    alerting.on_finals([window(0, {"a": (50, 0, 0.0)})], now=70.0)
    alerting.on_finals([window(60, {"a": (50, 0, 0.0), "b": (5, 0, 65.0)})], now=130.0)
    assert statuses(alerting) == {}  # b is new but inside the learning period
    alerting.on_finals([window(120, {"a": (50, 0, 0.0), "c": (2, 0, 150.0)})], now=190.0)
    assert statuses(alerting) == {}  # c is new but seen only twice
    alerting.on_finals([window(180, {"c": (9, 0, 150.0), "d": (3, 0, 200.0)})], now=250.0)
    assert statuses(alerting) == {"d": "firing"}  # c is no longer new
    alerting.on_finals([window(240, {"a": (50, 0, 0.0)})], now=310.0)
    assert transitions(alerting) == [("d", "firing"), ("d", "resolved")]


def test_restore_rebuilds_the_live_pattern_alerts() -> None:
    rule_yaml = "  - name: spike\n    source: pattern\n    aggregate: count\n    threshold: 5\n"
    first = alerting_for(rule_yaml)
    first.on_finals([window(0, {"a": (9, 0, 0.0)})], now=70.0)
    changes = first.collect()
    second = alerting_for(rule_yaml)
    for host, _, state in changes.states:
        second.restore(host, state.fingerprint, state.to_state())
    assert second.pattern_alerts == {("spike", SID): {"a"}}
    second.on_finals([window(60, {"b": (1, 0, 0.0)})], now=130.0)
    assert transitions(second) == [("a", Status.RESOLVED.value)]
