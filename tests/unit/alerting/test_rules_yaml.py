"""Rules YAML: the shipped defaults, every error naming file/rule/field, the Postgres mirror."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import alerting.config
import sinks.migrations
from alerting.config import (
    RuleError,
    RuleSpec,
    load_rules,
    parse_rules,
)
from alerting.labels import MatchOp
from alerting.rules import Comparison, Direction, Evaluate, NoData, RuleKind, Source
from alerting.yaml_types import parse_duration
from app.settings import DEFAULT_COUNTER_FIELDS
from sinks.rules_mirror import mirror_rules, to_config_rows

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = ROOT / "rules"
SIZES = {"tumbling": 60, "hopping": 300}


def test_default_rules_load_with_the_default_settings() -> None:
    rules = load_rules(DEFAULTS, window_sizes=SIZES, counter_fields=DEFAULT_COUNTER_FIELDS)
    by_name = {r.name: r for r in rules}
    assert list(by_name) == [
        "nginx_5xx_error_rate",
        "nginx_latency_p95",
        "cpu_saturation",
        "memory_used",
        "disk_used",
        "host_down",
        "request_rate_anomaly",
        "error_pattern_spike",
        "new_error_pattern",
    ]
    spike, new = by_name["error_pattern_spike"], by_name["new_error_pattern"]
    assert (spike.kind, spike.source, spike.aggregate, spike.direction) == (
        RuleKind.ANOMALY,
        Source.PATTERN,
        "errors",
        Direction.UP,
    )
    assert (new.kind, new.source, new.aggregate, new.op, new.threshold, new.learning_s) == (
        RuleKind.NEW_PATTERN,
        Source.PATTERN,
        "errors",
        Comparison.GE,
        3.0,
        3600.0,
    )
    e = by_name["nginx_5xx_error_rate"]
    assert (e.source, e.aggregate, e.window, e.op, e.threshold, e.recovery, e.for_s) == (
        Source.LOG,
        "http_error_rate",
        "hopping",
        Comparison.GT,
        0.05,
        0.02,
        60.0,
    )
    cpu = by_name["cpu_saturation"]
    assert (cpu.measurement, cpu.field, cpu.aggregate, cpu.window) == (
        "cpu",
        "usage_active",
        "mean",
        "tumbling",
    )
    assert [(m.label, m.op, m.value) for m in cpu.matchers] == [("cpu", MatchOp.EQ, "cpu-total")]
    assert (cpu.threshold, cpu.recovery, cpu.for_s) == (90.0, 80.0, 120.0)
    assert by_name["nginx_latency_p95"].threshold == 1.0
    disk = by_name["disk_used"]
    assert [(m.label, m.value) for m in disk.matchers] == [("path", "/")]
    down = by_name["host_down"]
    assert (down.kind, down.absent_for_s, down.severity) == (RuleKind.ABSENCE, 60.0, "critical")
    anomaly = by_name["request_rate_anomaly"]
    assert (anomaly.kind, anomaly.aggregate, anomaly.threshold, anomaly.min_history) == (
        RuleKind.ANOMALY,
        "req_rate",
        3.0,
        10,
    )
    assert anomaly.evaluate is Evaluate.CLOSED and anomaly.direction is Direction.BOTH
    assert anomaly.min_change == 0.3
    assert e.min_samples == 20 and by_name["nginx_latency_p95"].min_samples == 20


def write(tmp_path: Path, text: str, name: str = "default.yaml") -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


GOOD = """
rules:
  - name: nginx_5xx
    source: log
    aggregate: error_rate
    window: hopping
    threshold: 0.05
"""


def test_the_example_error_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, GOOD.replace("window: hopping", "window: hoping"))
    with pytest.raises(RuleError) as exc:
        load_rules("rules/default.yaml")
    assert str(exc.value) == (
        "rules/default.yaml: rule 'nginx_5xx': field 'window': must be 'tumbling' or 'hopping' "
        "(given 'hoping'; did you mean 'hopping'?)"
    )


BASE = "- {name: r1, measurement: cpu, field: usage_active, aggregate: mean, threshold: 90"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE + ", thresold: 1}",
            "rule 'r1': field 'thresold': unknown field (did you mean 'threshold'?)",
        ),
        (
            "- {measurement: cpu, field: x, aggregate: mean, threshold: 1}",
            "rule #1: field 'name': required: add it",
        ),
        (BASE.replace(", threshold: 90", "") + "}", "rule 'r1': field 'threshold': required"),
        (BASE + "}", None),
        (BASE.replace("90", "abc") + "}", "field 'threshold': must be a number (given 'abc')"),
        (
            BASE + ", for: 5 minutes}",
            "field 'for': expected a duration like 60s, 5m, 1h or 1m30s (given '5 minutes')",
        ),
        (BASE + ", keep_firing_for: -5}", "field 'keep_firing_for': a duration must be >= 0"),
        (BASE + ", op: '=>'}", "field 'op': must be '>', '>=', '<' or '<='"),
        (BASE + ", recovery: 95}", "field 'recovery': must be <= threshold 90 for '>'"),
        (
            BASE + ", match: {host: '=~web-('}}",
            "field 'match.host': bad regular expression 'web-('",
        ),
        (BASE + ", match: {'bad-label': x}}", "field 'match.bad-label': label names are letters"),
        (
            BASE + ", labels: {severity: x}}",
            "field 'labels.severity': 'severity' is set by Lookout",
        ),
        (
            BASE + ", annotations: {summary: '{valeu}'}}",
            "field 'annotations.summary': unknown placeholder {valeu}",
        ),
        (BASE + ", annotations: {summary: '{value'}}", "field 'annotations.summary': bad template"),
        (BASE + ", no_data: nothing}", "field 'no_data': must be 'keep', 'ok' or 'alerting'"),
        (BASE.replace("mean", "avg") + "}", "field 'aggregate': unknown 'avg'"),
        (BASE.replace("aggregate: mean, ", "") + "}", "field 'aggregate': required"),
        (
            BASE.replace("field: usage_active, ", "") + "}",
            "field 'field': a metric rule needs a field",
        ),
        (
            "- {name: r1, source: log, measurement: nginx, aggregate: error_rate, threshold: 1}",
            "field 'measurement': a log rule selects by service and host",
        ),
        (
            "- {name: r1, source: log, aggregate: error_rate, threshold: 1, match: {path: /}}",
            "field 'match': a log rule matches 'service' and 'host' only",
        ),
        (
            "- {name: r1, kind: anomaly, source: log, aggregate: req_rate, threshold: 3}",
            "field 'threshold': an anomaly rule uses 'deviations'",
        ),
        (
            "- {name: r1, kind: anomaly, source: log, aggregate: req_rate, deviations: 0}",
            "field 'deviations': must be > 0",
        ),
        (
            "- {name: r1, kind: anomaly, source: log, aggregate: req_rate, evaluate: open}",
            "field 'evaluate': an anomaly rule needs closed windows",
        ),
        (BASE + ", deviations: 3}", "field 'deviations': only anomaly rules have deviations"),
        (
            "- {name: r1, kind: absence, aggregate: mean}",
            "field 'aggregate': an absence rule has no aggregate",
        ),
        ("- {name: r1, kind: absence, absent_for: 0}", "field 'absent_for': must be > 0"),
        (
            "- {name: r1, kind: absence, match: {cpu: x}}",
            "field 'match': an absence rule matches hosts only",
        ),
        (
            "- {name: 'two words', kind: absence}",
            "rule 'two words': field 'name': must start with a letter",
        ),
        (
            "- {name: r1, kind: alarm}",
            "field 'kind': must be 'threshold', 'absence', 'rate_of_change', 'anomaly' or "
            "'new_pattern'",
        ),
        (
            "- {name: r1, kind: anomaly, source: log, aggregate: req_rate, min_change: 'x%'}",
            "field 'min_change': expected a fraction like 0.3 or 30%",
        ),
        (BASE + ", min_change: 30%}", "field 'min_change': only anomaly rules have min_change"),
        (
            BASE + ", min_samples: many}",
            "field 'min_samples': must be a whole number (given 'many')",
        ),
        ("- just text", "rule #1: expected a mapping"),
        ("rules: {a: 1}", "expected a list of rules under 'rules:'"),
        ("alerts: []", "unknown top-level key 'alerts': put rules under 'rules:'"),
        ("- {name: a\n  x: [", "not valid YAML at line 2, column 4"),
    ],
)
def test_errors_name_file_rule_field(tmp_path: Path, text: str, message: str | None) -> None:
    folder = write(tmp_path, text, "team.yaml")
    if message is None:
        load_rules(folder)
        return
    with pytest.raises(RuleError) as exc:
        load_rules(folder)
    assert str(exc.value).startswith(f"{folder / 'team.yaml'}: ")
    assert message in str(exc.value)


def test_duplicate_names_refused_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    folder = write(tmp_path, GOOD, "b.yml")
    with pytest.raises(RuleError) as exc:
        load_rules(folder)
    assert str(exc.value) == (
        f"{folder / 'b.yml'}: rule 'nginx_5xx': field 'name': duplicate, already defined in "
        f"{folder / 'a.yaml'} (rule names must be unique)"
    )


def test_duplicate_names_refused_in_one_file(tmp_path: Path) -> None:
    folder = write(tmp_path, GOOD + GOOD.replace("rules:\n", ""))
    with pytest.raises(RuleError, match="already defined earlier in this file"):
        load_rules(folder)


def test_folder_reads_yaml_files_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("nginx_5xx", "zz"), "b.yaml")
    write(tmp_path, GOOD.replace("nginx_5xx", "aa"), "a.yml")
    folder = write(tmp_path, "not yaml rules", "notes.txt")
    write(tmp_path, "", "empty.yaml")
    assert [r.name for r in load_rules(folder)] == ["aa", "zz"]


def test_a_plain_list_is_accepted() -> None:
    rules = parse_rules("- {name: down, kind: absence}\n", "x.yaml")
    assert rules[0].kind is RuleKind.ABSENCE and rules[0].absent_for_s == 60.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.yaml", "no such file or folder"),
        (lambda p: p, "no *.yaml files in this folder"),
    ],
)
def test_bad_paths(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        load_rules(make(tmp_path))


def test_window_size_checked_against_the_settings(tmp_path: Path) -> None:
    folder = write(
        tmp_path, GOOD.replace("window: hopping", "window: hopping\n    window_size: 10m")
    )
    assert load_rules(folder)[0].window_size_s == 600.0  # not checked without the sizes
    with pytest.raises(RuleError) as exc:
        load_rules(folder, window_sizes=SIZES)
    assert "field 'window_size': hopping windows are 300s here (LOOKOUT_HOPPING_SIZE)" in str(
        exc.value
    )


@pytest.mark.parametrize(
    ("field", "aggregate", "message"),
    [
        ("bytes_recv", "mean", "net.bytes_recv is a counter (LOOKOUT_COUNTER_FIELDS); use one of"),
        ("bytes_recv", "rate", None),
        ("err_in_percent", "rate", "net.err_in_percent is a gauge; use one of"),
    ],
)
def test_counter_fields_need_counter_aggregates(
    tmp_path: Path, field: str, aggregate: str, message: str | None
) -> None:
    text = f"- {{name: n, measurement: net, field: {field}, aggregate: {aggregate}, threshold: 1}}"
    folder = write(tmp_path, text)
    if message is None:
        assert load_rules(folder, counter_fields=DEFAULT_COUNTER_FIELDS)
        return
    with pytest.raises(RuleError, match=re.escape(message)):
        load_rules(folder, counter_fields=DEFAULT_COUNTER_FIELDS)


def test_full_rule_maps_every_field() -> None:
    text = """
rules:
  - name: api_errors
    kind: threshold
    source: log
    match: {service: "=~shop|api", host: "!=canary-1", port: 8080}
    aggregate: error_rate
    window: hopping
    window_size: 5m
    op: ">="
    threshold: 0.1
    recovery: 0.05
    for: 1m30s
    keep_firing_for: 2m
    no_data: ok
    evaluate: closed
    severity: page
    labels: {team: web, tier: 1}
    annotations: {summary: "{labels.service} {value:.0%}"}
    enabled: false
"""
    with pytest.raises(RuleError, match="field 'match': a log rule matches"):
        parse_rules(text, "x.yaml")
    rule = parse_rules(text.replace(", port: 8080", ""), "x.yaml")[0]
    assert [(m.label, m.op, m.value) for m in rule.matchers] == [
        ("service", MatchOp.RE, "shop|api"),
        ("host", MatchOp.NE, "canary-1"),
    ]
    assert (rule.op, rule.threshold, rule.recovery) == (Comparison.GE, 0.1, 0.05)
    assert (rule.for_s, rule.keep_firing_for_s, rule.window_size_s) == (90.0, 120.0, 300.0)
    assert (rule.no_data, rule.evaluate, rule.severity) == (NoData.OK, Evaluate.CLOSED, "page")
    assert rule.labels == {"team": "web", "tier": "1"}
    assert rule.enabled is False


DURATIONS = [(60, 60.0), (1.5, 1.5), ("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0)]
DURATIONS += [("1m30s", 90.0), ("1h2m3s", 3723.0), ("0.5m", 30.0), ("0", 0.0)]


@pytest.mark.parametrize(("given", "seconds"), DURATIONS)
def test_parse_duration(given: Any, seconds: float) -> None:
    assert parse_duration(given) == seconds


@pytest.mark.parametrize("given", ["", "5 minutes", "1d", "m", True, "-1s", "inf"])
def test_parse_duration_refuses(given: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(given)


# ---- PostgreSQL mirror ---------------------------------------------------------------------


def table_columns(sql: str, table: str) -> set[str]:
    body = sql.split(f"CREATE TABLE {table} (", 1)[1].split("\n);", 1)[0]
    names = {line.split()[0] for line in body.splitlines() if line.strip()}
    return {n for n in names if n.islower() and n not in ("constraint",)}


def test_config_rows_match_the_table() -> None:
    rules = load_rules(DEFAULTS)
    rows = to_config_rows(rules)
    sql = (ROOT / "infra" / "migrations" / "0001_core.sql").read_text()
    assert set(rows[0]) == table_columns(sql, "alert_configuration") - {"updated_at"}
    by_rule = {r["rule"]: r for r in rows}
    assert by_rule["cpu_saturation"]["expression"] == (
        'mean(cpu.usage_active{cpu="cpu-total"}) over tumbling > 90'
    )
    assert by_rule["host_down"]["threshold"] == 60.0
    assert by_rule["nginx_5xx_error_rate"]["recovery_threshold"] == 0.02
    assert json.loads(by_rule["nginx_5xx_error_rate"]["annotations"])["summary"].startswith(
        "{labels.service}"
    )


class FakeConn:
    """Records what mirror_rules sends (the SQL itself runs in the integration tier)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closed = False

    def transaction(self) -> FakeConn:
        return self

    async def __aenter__(self) -> None:
        self.calls.append(("begin", None))

    async def __aexit__(self, *exc: object) -> None:
        self.calls.append(("commit", None))

    async def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.calls.append((sql, rows))

    async def execute(self, sql: str, *args: Any) -> str:
        self.calls.append((sql, args))
        return "DELETE 2"

    async def close(self) -> None:
        self.closed = True


async def test_mirror_rules_upserts_then_deletes_gone_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = FakeConn()

    async def fake_connect(dsn: str, purpose: str) -> FakeConn:
        assert (dsn, purpose) == ("postgresql://x/db", "rules")
        return conn

    monkeypatch.setattr(sinks.migrations, "connect", fake_connect)
    rules = load_rules(DEFAULTS)
    deleted = await mirror_rules("postgresql://x/db", rules)
    assert deleted == 2 and conn.closed
    begin, (upsert, rows), (delete, args), commit = conn.calls
    assert begin[0] == "begin" and commit[0] == "commit"
    assert "ON CONFLICT (rule) DO UPDATE" in upsert and "$11" in upsert
    assert "IS DISTINCT FROM" in upsert  # unchanged rows keep their updated_at
    assert [r[0] for r in rows] == [r.name for r in rules]
    assert delete.startswith("DELETE FROM alert_configuration") and "$1" in delete
    assert args == ([r.name for r in rules],)


def test_rule_spec_documents_every_yaml_key() -> None:
    doc = alerting.config.__doc__ or ""
    for name, info in RuleSpec.model_fields.items():
        assert f"{info.alias or name}:" in doc, name
