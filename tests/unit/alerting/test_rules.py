"""Rules: matchers, selection, labels, fingerprints, observations, templates, validation."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from alerting.annotations import iso, render, render_annotations, template_problem
from alerting.labels import Matcher, MatchOp, RuleInvalid, fingerprint
from alerting.observation import Condition, SeriesHistory, classify, observe, sample_count
from alerting.rules import (
    COUNTER_AGGREGATES,
    GAUGE_AGGREGATES,
    LOG_AGGREGATES,
    Comparison,
    Direction,
    Evaluate,
    Rule,
    RuleKind,
    Source,
    alert_labels,
    expression,
    select,
    select_host,
)
from tables.aggregates import CounterAgg, LogAgg, MetricAgg
from tables.series import describe_series, log_series, metric_series_base

T0 = 1_700_000_040.0
CPU = {
    "type": "metric",
    "measurement": "cpu",
    "field": "usage_active",
    "tags": {"cpu": "cpu-total", "host": "web-1"},
}
SHOP = {"type": "log", "service": "shop", "host": "web-1"}


def cpu_rule(**kw: Any) -> Rule:
    base: dict[str, Any] = {
        "name": "cpu_hot",
        "measurement": "cpu",
        "field": "usage_active",
        "aggregate": "mean",
        "threshold": 90.0,
    }
    base.update(kw)
    return Rule(**base)


def log_rule(**kw: Any) -> Rule:
    base: dict[str, Any] = {
        "name": "errors",
        "source": Source.LOG,
        "aggregate": "error_rate",
        "threshold": 0.05,
    }
    base.update(kw)
    return Rule(**base)


# ---- matchers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "pattern", "value", "expected"),
    [
        ("=", "web-1", "web-1", True),
        ("=", "web-1", "web-10", False),
        ("=", "", None, True),  # a missing label is the empty string
        ("!=", "web-1", "web-2", True),
        ("!=", "web-1", "web-1", False),
        ("!=", "/boot", None, True),
        ("=~", "web-.*", "web-12", True),
        ("=~", "web-.*", "my-web-1", False),  # fully anchored, like Prometheus
        ("=~", "web", "web-1", False),
        ("=~", "shop|api", "api", True),
        ("=~", ".*", None, True),
        ("=~", ".+", None, False),
        ("!~", "web-.*", "db-1", True),
        ("!~", "web-.*", "web-1", False),
        ("!~", "canary.*", None, True),
    ],
)
def test_matcher(op: str, pattern: str, value: str | None, expected: bool) -> None:
    assert Matcher("host", MatchOp(op), pattern).matches(value) is expected


@pytest.mark.parametrize(
    ("spec", "op", "value"),
    [
        ("web-1", MatchOp.EQ, "web-1"),
        ("=web-1", MatchOp.EQ, "web-1"),
        ("==x", MatchOp.EQ, "=x"),
        ("!=web-1", MatchOp.NE, "web-1"),
        ("=~web-.*", MatchOp.RE, "web-.*"),
        ("!~web-.*", MatchOp.NRE, "web-.*"),
        ("/", MatchOp.EQ, "/"),
    ],
)
def test_matcher_parse(spec: str, op: MatchOp, value: str) -> None:
    m = Matcher.parse("host", spec)
    assert (m.op, m.value) == (op, value)


def test_bad_regex_names_the_label() -> None:
    with pytest.raises(RuleInvalid) as exc:
        Matcher("host", MatchOp.RE, "web-(")
    assert exc.value.field == "host" and "regular expression" in exc.value.message


def test_matcher_text() -> None:
    assert str(Matcher("host", MatchOp.RE, "web-.*")) == 'host=~"web-.*"'


# ---- selection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "description", "expected"),
    [
        (cpu_rule(), CPU, True),
        (cpu_rule(matchers=(Matcher("cpu", MatchOp.EQ, "cpu-total"),)), CPU, True),
        (cpu_rule(matchers=(Matcher("cpu", MatchOp.EQ, "cpu0"),)), CPU, False),
        (cpu_rule(matchers=(Matcher("host", MatchOp.NRE, "web-.*"),)), CPU, False),
        (cpu_rule(field="usage_idle"), CPU, False),
        (cpu_rule(measurement="mem"), CPU, False),
        (cpu_rule(enabled=False), CPU, False),
        (cpu_rule(), SHOP, False),
        (log_rule(), SHOP, True),
        (log_rule(), CPU, False),
        (log_rule(matchers=(Matcher("service", MatchOp.RE, "shop|api"),)), SHOP, True),
        (log_rule(matchers=(Matcher("service", MatchOp.NE, "shop"),)), SHOP, False),
        (Rule(name="down", kind=RuleKind.ABSENCE), CPU, False),
    ],
)
def test_select(rule: Rule, description: dict[str, Any], expected: bool) -> None:
    assert select(rule, description) is expected


def test_select_on_engine_series_ids() -> None:
    sid = metric_series_base("disk", {"host": "h1", "path": "/", "device": "sda1"}) + "\x1f"
    disk = Rule(
        name="disk",
        measurement="disk",
        field="used_percent",
        aggregate="last",
        threshold=90,
        matchers=(Matcher("path", MatchOp.EQ, "/"),),
    )
    assert select(disk, describe_series(sid + "used_percent"))
    assert not select(disk, describe_series(sid + "free"))
    assert select(log_rule(), describe_series(log_series("shop", "h1")))


def test_select_host() -> None:
    down = Rule(
        name="down", kind=RuleKind.ABSENCE, matchers=(Matcher("host", MatchOp.RE, "web-.*"),)
    )
    assert select_host(down, "web-3") and not select_host(down, "db-1")
    assert not select_host(cpu_rule(), "web-3")


# ---- labels and fingerprints --------------------------------------------------------------


def test_alert_labels() -> None:
    rule = cpu_rule(labels={"team": "ops", "host": "overridden"}, severity="critical")
    assert alert_labels(rule, CPU) == {
        "cpu": "cpu-total",
        "host": "overridden",  # rule labels win over series labels (as in Prometheus)
        "team": "ops",
        "alertname": "cpu_hot",
        "severity": "critical",
    }
    assert alert_labels(log_rule(), SHOP) == {
        "service": "shop",
        "host": "web-1",
        "alertname": "errors",
        "severity": "warning",
    }


def test_fingerprint_is_stable_and_order_independent() -> None:
    a = {"host": "web-1", "cpu": "cpu-total", "alertname": "cpu_hot"}
    b = dict(reversed(list(a.items())))
    assert list(a) != list(b)
    assert fingerprint(a) == fingerprint(b)
    assert len(fingerprint(a)) == 16 and int(fingerprint(a), 16) >= 0


def test_fingerprint_golden_value() -> None:
    # the same in every process and version: sha256 of the canonical JSON of sorted labels
    expected = hashlib.sha256(b'[["alertname","x"],["host","h"]]').hexdigest()[:16]
    assert fingerprint({"host": "h", "alertname": "x"}) == expected


@pytest.mark.parametrize(
    "other",
    [
        {**CPU, "tags": {"cpu": "cpu-total", "host": "web-2"}},
        {**CPU, "tags": {"cpu": "cpu0", "host": "web-1"}},
        {**CPU, "tags": {"cpu": "cpu-total", "host": "web-1", "dc": "x"}},
    ],
)
def test_fingerprint_unique_per_series(other: dict[str, Any]) -> None:
    rule = cpu_rule()
    assert fingerprint(alert_labels(rule, CPU)) != fingerprint(alert_labels(rule, other))


def test_fingerprint_unique_per_rule_and_label_values() -> None:
    fps = {
        fingerprint(alert_labels(cpu_rule(), CPU)),
        fingerprint(alert_labels(cpu_rule(name="cpu_hot2"), CPU)),
        fingerprint(alert_labels(cpu_rule(severity="critical"), CPU)),
        fingerprint(alert_labels(cpu_rule(labels={"team": "a"}), CPU)),
        # no ambiguity from separators inside values
        fingerprint({"a": "b,c", "d": "e"}),
        fingerprint({"a": "b", "c,d": "e"}),
    }
    assert len(fps) == 6


# ---- classify and observe -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "threshold", "recovery", "score", "expected"),
    [
        (">", 90, None, 90.1, Condition.FIRING),
        (">", 90, None, 90, Condition.RECOVERED),
        (">=", 90, None, 90, Condition.FIRING),
        (">", 90, 80, 85, Condition.HOLD),
        (">", 90, 80, 80, Condition.RECOVERED),
        (">", 90, 80, 80.01, Condition.HOLD),
        ("<", 10, None, 9, Condition.FIRING),
        ("<", 10, None, 10, Condition.RECOVERED),
        ("<=", 10, None, 10, Condition.FIRING),
        ("<", 10, 15, 12, Condition.HOLD),
        ("<", 10, 15, 15, Condition.RECOVERED),
    ],
)
def test_classify(
    op: str, threshold: float, recovery: float | None, score: float, expected: Condition
) -> None:
    rule = cpu_rule(op=Comparison(op), threshold=threshold, recovery=recovery)
    assert classify(rule, score) is expected


@pytest.mark.parametrize(
    ("result", "condition", "value"),
    [
        ({"mean": 95.0}, Condition.FIRING, 95.0),
        ({"mean": 95}, Condition.FIRING, 95.0),
        ({"mean": 50.0}, Condition.RECOVERED, 50.0),
        ({"mean": None}, Condition.NO_DATA, None),
        ({"max": 99.0}, Condition.NO_DATA, None),  # aggregate missing from the result
        ({"mean": float("nan")}, Condition.NO_DATA, None),
        ({"mean": "95"}, Condition.NO_DATA, None),
        ({"mean": True}, Condition.NO_DATA, None),
        (None, Condition.NO_DATA, None),  # the series has no result in this window
    ],
)
def test_observe_threshold(result: Any, condition: Condition, value: float | None) -> None:
    obs = observe(cpu_rule(), result, CPU, T0)
    assert (obs.condition, obs.value) == (condition, value)
    assert obs.fingerprint == fingerprint(obs.labels)
    assert obs.event_time == T0


def test_observe_refuses_absence_rules() -> None:
    with pytest.raises(ValueError, match="step_absence"):
        observe(Rule(name="down", kind=RuleKind.ABSENCE), {}, CPU, T0)


def roc_rule(**kw: Any) -> Rule:
    return cpu_rule(**{"kind": RuleKind.RATE_OF_CHANGE, "threshold": 5.0, **kw})


def test_rate_of_change_between_consecutive_windows() -> None:
    # window end   +60     +120    +180    +300
    # mean         50      54      64      64
    # per minute   -       4       10      0
    # condition    learn   rec.    firing  rec.
    rule = roc_rule()
    hist: SeriesHistory | None = None
    seen = []
    for t, v in [(60, 50.0), (120, 54.0), (180, 64.0), (300, 64.0)]:
        obs = observe(rule, {"mean": v}, CPU, T0 + t, hist)
        hist = obs.history
        seen.append((obs.score, obs.condition))
    assert seen == [
        (None, Condition.LEARNING),
        (4.0, Condition.RECOVERED),
        (10.0, Condition.FIRING),
        (0.0, Condition.RECOVERED),
    ]


def test_rate_of_change_stale_and_no_data_keep_history() -> None:
    rule = roc_rule()
    first = observe(rule, {"mean": 50.0}, CPU, T0 + 60)
    stale = observe(rule, {"mean": 99.0}, CPU, T0 + 60, first.history)
    assert stale.condition is Condition.LEARNING and stale.history == first.history
    gap = observe(rule, {"mean": None}, CPU, T0 + 120, first.history)
    assert gap.condition is Condition.NO_DATA and gap.history == first.history
    falling = observe(
        roc_rule(op=Comparison.LT, threshold=-5.0), {"mean": 30.0}, CPU, T0 + 180, first.history
    )
    assert falling.score == pytest.approx(-10.0) and falling.condition is Condition.FIRING


def anomaly_rule(**kw: Any) -> Rule:
    base: dict[str, Any] = {
        "name": "rps",
        "kind": RuleKind.ANOMALY,
        "source": Source.LOG,
        "aggregate": "req_rate",
        "threshold": 3.0,
        "min_history": 5,
        "alpha": 0.2,
    }
    base.update(kw)
    return Rule(**base)


def feed_anomaly(rule: Rule, values: list[float]) -> list[tuple[Condition, float | None]]:
    hist: SeriesHistory | None = None
    out = []
    for i, v in enumerate(values):
        obs = observe(rule, {"req_rate": v}, SHOP, T0 + 60 * i, hist)
        hist = obs.history
        out.append((obs.condition, obs.score))
    return out


def test_anomaly_learns_then_fires_on_a_spike() -> None:
    # req_rate 10 11 10 11 10 | 10.5 | 30 (spike) | 9.5
    # verdict  learning (5)   | ok   | firing     | ok
    seen = feed_anomaly(anomaly_rule(), [10, 11, 10, 11, 10, 10.5, 30, 10.5])
    assert [c for c, _ in seen[:5]] == [Condition.LEARNING] * 5
    assert seen[5][0] is Condition.RECOVERED
    assert seen[6][0] is Condition.FIRING and seen[6][1] is not None and seen[6][1] > 3
    assert seen[7][0] in (Condition.RECOVERED, Condition.HOLD)


@pytest.mark.parametrize(
    ("direction", "value", "expected"),
    [
        (Direction.BOTH, 30.0, Condition.FIRING),
        (Direction.BOTH, 0.0, Condition.FIRING),
        (Direction.UP, 0.0, Condition.RECOVERED),
        (Direction.DOWN, 30.0, Condition.RECOVERED),
        (Direction.DOWN, 0.0, Condition.FIRING),
    ],
)
def test_anomaly_direction(direction: Direction, value: float, expected: Condition) -> None:
    seen = feed_anomaly(anomaly_rule(direction=direction), [10, 11, 10, 11, 10, value])
    assert seen[-1][0] is expected


def test_anomaly_recovery_band_and_baseline() -> None:
    rule = anomaly_rule(recovery=1.0)
    hist = None
    for i, v in enumerate([10.0, 12.0, 10.0, 12.0, 10.0]):
        hist = observe(rule, {"req_rate": v}, SHOP, T0 + i, hist).history
    obs = observe(rule, {"req_rate": 13.0}, SHOP, T0 + 10, hist)
    assert obs.baseline is not None and 10 < obs.baseline < 12
    assert obs.condition is Condition.HOLD  # between 1 and 3 deviations
    assert obs.history.ewma is not None and obs.history.ewma.n == 6
    assert hist is not None and hist.ewma is not None and hist.ewma.n == 5  # input untouched


def test_series_history_round_trip() -> None:
    obs = observe(anomaly_rule(), {"req_rate": 4.0}, SHOP, T0)
    state = obs.history.to_state()
    assert SeriesHistory.from_state(state) == obs.history
    assert SeriesHistory.from_state(None) == SeriesHistory()


# ---- aggregates exist in the engine's results ---------------------------------------------


def test_aggregate_names_are_result_keys() -> None:
    gauge, counter, log = MetricAgg(), CounterAgg(), LogAgg()
    gauge.add(1.0, T0)
    counter.add(1.0, T0)
    counter.add(2.0, T0 + 1)
    log.add_request(200, 10, 0.1, T0)
    assert set(GAUGE_AGGREGATES) <= set(gauge.result())
    assert set(COUNTER_AGGREGATES) <= set(counter.result())
    assert set(LOG_AGGREGATES) <= set(log.result(window_seconds=60))


# ---- templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{labels.host} at {value:.1%}", "web-1 at 7.1%"),
        ("{labels.path} full", "<no labels.path> full"),  # missing label: visible placeholder
        ("{baseline:.1f}", "<no baseline>"),  # no value: placeholder, not a crash
        ("{labels.host:.1f}", "web-1"),  # a format that does not fit: shown as is
        ("{rule} {severity} > {threshold}", "errors warning > 0.05"),
        ("{value}", "0.07123"),
        ("{{literal}} {value:.2f}", "{literal} 0.07"),
        ("{nope}", "<unknown nope>"),
        ("{value", "{value"),  # unbalanced: the template itself
        ("{labels.host!r}", "'web-1'"),
    ],
)
def test_render(template: str, expected: str) -> None:
    rule = log_rule(annotations={"summary": template})
    labels = alert_labels(rule, SHOP)
    assert render_annotations(rule, labels, value=0.071234)["summary"] == expected


def test_render_times_and_big_numbers() -> None:
    rule = Rule(name="down", kind=RuleKind.ABSENCE, annotations={"s": "{down_at} {duration}"})
    out = render_annotations(rule, {}, down_at=T0, duration=12_345_678.9)
    assert out == {"s": "2023-11-14T22:14:00Z 12345679"}
    assert iso(T0 + 0.25) == "2023-11-14T22:14:00.250Z"
    assert iso(None) is None
    assert render("{x}", {"x": 3}, {}) == "3"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{labels.host} {value:.1%} {threshold} {rule} {down_at}", None),
        ("{valeu}", "unknown placeholder {valeu}"),
        ("{labels.}", "unknown placeholder {labels.}"),
        ("{value", "bad template"),
        ("}", "bad template"),
    ],
)
def test_template_problem(template: str, problem: str | None) -> None:
    found = template_problem(template)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


# ---- rule validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"window": "hoping"}, "window"),
        ({"for_s": -1.0}, "for_s"),
        ({"measurement": None}, "measurement"),
        ({"field": None}, "field"),
        ({"aggregate": "avg"}, "aggregate"),
        ({"aggregate": "error_rate"}, "aggregate"),  # a log aggregate on a metric rule
        ({"recovery": 95.0}, "recovery"),  # above the threshold for '>'
        ({"op": Comparison.LT, "recovery": 85.0}, "recovery"),
        ({"threshold": float("inf")}, "threshold"),
        ({"kind": RuleKind.RATE_OF_CHANGE, "evaluate": Evaluate.OPEN}, "evaluate"),
    ],
)
def test_rule_problems(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleInvalid) as exc:
        cpu_rule(**kw)
    assert exc.value.field == field


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"measurement": "nginx"}, "measurement"),
        ({"aggregate": "mean"}, "aggregate"),
        ({"matchers": (Matcher("path", MatchOp.EQ, "/"),)}, "match"),
        ({"kind": RuleKind.ANOMALY, "threshold": 0.0, "aggregate": "req_rate"}, "deviations"),
        ({"kind": RuleKind.ANOMALY, "alpha": 1.5, "aggregate": "req_rate"}, "alpha"),
        ({"kind": RuleKind.ANOMALY, "min_history": 0, "aggregate": "req_rate"}, "min_history"),
        ({"kind": RuleKind.ANOMALY, "recovery": 5.0, "threshold": 3.0}, "recovery"),
    ],
)
def test_log_and_anomaly_rule_problems(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleInvalid) as exc:
        log_rule(**kw)
    assert exc.value.field == field


def test_absence_rule_matches_hosts_only() -> None:
    with pytest.raises(RuleInvalid) as exc:
        Rule(name="down", kind=RuleKind.ABSENCE, matchers=(Matcher("cpu", MatchOp.EQ, "x"),))
    assert exc.value.field == "match"
    with pytest.raises(RuleInvalid):
        Rule(name="down", kind=RuleKind.ABSENCE, absent_for_s=0)


@pytest.mark.parametrize(
    ("rule", "evaluate"),
    [
        (cpu_rule(), Evaluate.OPEN),
        (cpu_rule(aggregate="count"), Evaluate.CLOSED),
        (log_rule(aggregate="requests"), Evaluate.CLOSED),
        (log_rule(aggregate="req_rate"), Evaluate.CLOSED),
        (log_rule(aggregate="latency_p95"), Evaluate.OPEN),
        (cpu_rule(aggregate="count", evaluate=Evaluate.OPEN), Evaluate.OPEN),
        (cpu_rule(kind=RuleKind.RATE_OF_CHANGE), Evaluate.CLOSED),
    ],
)
def test_default_evaluation(rule: Rule, evaluate: Evaluate) -> None:
    assert rule.evaluate is evaluate


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        (
            cpu_rule(matchers=(Matcher("cpu", MatchOp.EQ, "cpu-total"),)),
            'mean(cpu.usage_active{cpu="cpu-total"}) over tumbling > 90',
        ),
        (log_rule(window="hopping"), "error_rate(log{}) over hopping > 0.05"),
        (log_rule(min_samples=20), "error_rate(log{}) over tumbling > 0.05 with samples >= 20"),
        (
            anomaly_rule(min_change=0.3),
            "anomaly(req_rate(log{}) over tumbling, alpha=0.2, min_history=5) |z| >= 3 "
            "deviations and change >= 30%",
        ),
        (
            Rule(name="d", kind=RuleKind.ABSENCE, matchers=(Matcher("host", MatchOp.RE, "w.*"),)),
            'absent(host{host=~"w.*"}) for 60s',
        ),
        (roc_rule(), "rate_of_change(mean(cpu.usage_active{}) over tumbling) per minute > 5"),
        (
            anomaly_rule(direction=Direction.UP),
            "anomaly(req_rate(log{}) over tumbling, alpha=0.2, min_history=5) z up >= 3 deviations",
        ),
    ],
)
def test_expression(rule: Rule, text: str) -> None:
    assert expression(rule) == text


# ---- guards: min_samples, min_change ------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "count"),
    [
        ({"count": 3, "mean": 1.0}, 3),
        ({"samples": 5, "rate": 1.0}, 5),
        ({"requests": 7, "log_lines": 100}, 7),
        ({"requests": 0, "log_lines": 30}, 30),  # error_rate falls back to log lines
        ({"mean": 1.0}, None),
    ],
)
def test_sample_count(result: dict[str, Any], count: int | None) -> None:
    assert sample_count(result) == count


@pytest.mark.parametrize(
    ("result", "condition"),
    [
        ({"error_rate": 0.5, "requests": 2, "log_lines": 0}, Condition.NO_DATA),  # 1 of 2 failed
        ({"error_rate": 0.5, "requests": 20, "log_lines": 0}, Condition.FIRING),
        ({"error_rate": 0.5, "requests": 0, "log_lines": 25}, Condition.FIRING),
        ({"error_rate": 0.5}, Condition.FIRING),  # the result does not say: no guard
    ],
)
def test_min_samples(result: dict[str, Any], condition: Condition) -> None:
    assert observe(log_rule(min_samples=20), result, SHOP, T0).condition is condition


def test_min_change_keeps_small_relative_swings_quiet() -> None:
    # a very steady series: 20% up is many deviations, but under min_change 30%
    calm = [100.0, 100.5, 99.5, 100.0, 100.5, 99.5]
    assert feed_anomaly(anomaly_rule(), [*calm, 120.0])[-1][0] is Condition.FIRING
    quiet = anomaly_rule(min_change=0.3)
    assert feed_anomaly(quiet, [*calm, 120.0])[-1][0] is Condition.RECOVERED
    assert feed_anomaly(quiet, [*calm, 135.0])[-1][0] is Condition.FIRING
    assert feed_anomaly(quiet, [*calm, 65.0])[-1][0] is Condition.FIRING


def test_min_change_only_for_anomaly_rules() -> None:
    with pytest.raises(RuleInvalid) as exc:
        cpu_rule(min_change=0.3)
    assert exc.value.field == "min_change"
    with pytest.raises(RuleInvalid) as exc:
        cpu_rule(min_samples=-1)
    assert exc.value.field == "min_samples"
