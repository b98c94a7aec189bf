"""Alert rules from YAML: loading and validation with clear errors (the Postgres mirror is
sinks/rules_mirror.py).

``load_rules(path)`` reads one YAML file or every ``*.yaml``/``*.yml`` file of a folder (sorted
by name) and returns pure :class:`alerting.rules.Rule` objects. Everything is checked at
start; the first problem raises :class:`RuleError` naming the file, the rule, the field and the
fix, e.g.::

    rules/default.yaml: rule 'nginx_5xx': field 'window': must be 'tumbling' or 'hopping'
    (given 'hoping'; did you mean 'hopping'?)

Rule names are unique across all files. ``sinks.rules_mirror.mirror_rules(dsn, rules)`` upserts
them into ``alert_configuration`` and deletes the rows of rules that are gone.

Format (a file holds ``rules:`` with a list, or just the list)::

    rules:
      - name: nginx_5xx_error_rate      # unique; letters, digits, _ . : -
        kind: threshold                 # threshold (default) | rate_of_change | anomaly | absence
                                        #   | new_pattern
        source: log                     # metric (default) | log | pattern
        match:                          # label matchers, all must hold (Prometheus semantics)
          service: "=~shop|api"         #   "x" or "=x" equal, "!=x", "=~regex", "!~regex"
          host: "!=canary-1"            #   (regexes are fully anchored)
        aggregate: http_error_rate      # a key of the window result (see below)
        window: hopping                 # tumbling | hopping (sizes: LOOKOUT_*_SIZE settings)
        window_size: 5m                 # optional; checked against the configured size
        op: ">"                         # > (default) | >= | < | <=
        threshold: 0.05
        recovery: 0.02                  # optional hysteresis: resolves only at or below 0.02
        for: 1m                         # pending this long before firing (default 0)
        keep_firing_for: 2m             # keep firing this long after it clears (default 0)
        no_data: keep                   # keep (default) | ok | alerting: a window without value
        min_samples: 20                 # fewer requests (values) in the window: no data
        evaluate: open                  # open | closed (default: see below)
        severity: critical              # free text; routes use it (default warning)
        labels: {team: web}             # added to the alert's labels
        enabled: true                   # false: loaded and mirrored, never evaluated
        annotations:                    # templates: {labels.NAME} {value} {score} {threshold}
          summary: "{labels.service} on {labels.host}: {value:.1%} 5xx"  # {rule} {severity} ...

      - name: cpu_saturation            # metric rules name the measurement and field
        measurement: cpu
        field: usage_active
        match: {cpu: cpu-total}
        aggregate: mean
        window: tumbling
        threshold: 90
        recovery: 80
        for: 2m

      - name: host_down                 # absence: no data from a host for absent_for
        kind: absence
        absent_for: 60s
        match: {host: "=~.+"}           # hosts only

      - name: disk_filling              # rate_of_change: change per minute between windows
        kind: rate_of_change
        measurement: disk
        field: used_percent
        aggregate: mean
        threshold: 2                    # rises by more than 2 points a minute

      - name: request_rate_anomaly      # anomaly: z-score against a per-series EWMA baseline
        kind: anomaly
        source: log
        aggregate: req_rate
        deviations: 3                   # fires at 3 deviations (recovery: in deviations too)
        direction: both                 # both | up | down
        alpha: 0.1                      # EWMA weight of the newest window
        min_history: 10                 # windows seen before any verdict
        min_change: 30%                 # and never for a change under 30% of the baseline

      - name: error_pattern_spike       # source pattern: one series per (service, host, pattern_id)
        kind: anomaly
        source: pattern
        match: {pattern_id: "!=0123456789abcdef"}
        aggregate: errors               # count errors rate error_share share
        deviations: 4

      - name: new_error_pattern         # new_pattern: a pattern first seen in the window
        kind: new_pattern               # (source: pattern implied)
        aggregate: errors               # count (default) | errors
        threshold: 3                    # at least 3 such lines in the window (default 1)
        learning: 1h                    # patterns of the service's first hour are not new

Durations: a number of seconds or ``90s``, ``5m``, ``1h``, ``1m30s``. Aggregates: metrics
count sum min max mean last p50 p95 p99 (gauges) or increase rate samples resets intervals
rate_min rate_max rate_mean rate_p95 (counter fields, ``LOOKOUT_COUNTER_FIELDS``); logs
requests s2xx s3xx s4xx s5xx other bytes log_lines error_lines warn_lines error_rate
http_error_rate (5xx / requests, no data without requests) log_error_rate (error lines / lines)
client_error_rate req_rate latency_p50/p95/p99 upstream_p50/p95/p99; patterns count errors rate
error_share share (:mod:`alerting.patterns`, closed windows only). ``evaluate: open`` judges
the open window each time it changes; ``closed`` judges final records only. The default is
``closed`` for rate_of_change, anomaly and aggregates that grow while a window fills (count,
sum, increase, requests, error_lines, req_rate, ...), ``open`` otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerting.annotations import template_problem
from alerting.labels import Matcher, RuleInvalid
from alerting.rules import COUNTER_AGGREGATES, GAUGE_AGGREGATES, Rule, RuleKind
from alerting.yaml_types import Duration, Fraction, Labels
from app.config_errors import describe_plainly, location

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_LABELS = ("alertname", "severity")
# Field names of the pure Rule mapped back to their YAML names, for messages.
_YAML_NAME = {
    "for_s": "for",
    "keep_firing_for_s": "keep_firing_for",
    "absent_for_s": "absent_for",
    "window_size_s": "window_size",
    "learning_s": "learning",
    "matchers": "match",
}


class RuleError(ValueError):
    """A rules file is wrong; the message names the file, the rule, the field and the fix."""


class RuleSpec(BaseModel):
    """One rule as written in YAML (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    kind: Literal["threshold", "absence", "rate_of_change", "anomaly", "new_pattern"] = "threshold"
    source: Literal["metric", "log", "pattern"] = "metric"
    measurement: str | None = None
    field: str | None = None
    match: Labels = Field(default_factory=dict)
    aggregate: str | None = None
    window: Literal["tumbling", "hopping"] = "tumbling"
    window_size: Duration | None = None
    op: Literal[">", ">=", "<", "<="] = ">"
    threshold: float | None = None
    recovery: float | None = None
    deviations: float | None = None
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    severity: str = "warning"
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    no_data: Literal["keep", "ok", "alerting"] = "keep"
    evaluate: Literal["open", "closed"] | None = None
    absent_for: Duration = 60.0
    alpha: float = 0.1
    min_history: int = 10
    min_change: Fraction = 0.0
    direction: Literal["both", "up", "down"] = "both"
    min_samples: int = 0
    learning: Duration = 0.0
    enabled: bool = True

    def to_rule(self) -> Rule:
        """The pure rule; raises :class:`RuleInvalid` naming the YAML field."""
        kind = RuleKind(self.kind)
        self._check_kind_fields(kind)
        for label in self.labels:
            if not _LABEL.match(label):
                raise RuleInvalid(f"labels.{label}", "label names are letters, digits and _")
            if label in _RESERVED_LABELS:
                raise RuleInvalid(
                    f"labels.{label}", f"'{label}' is set by Lookout (use the rule's name/severity)"
                )
        matchers = []
        for label, spec in self.match.items():
            if not _LABEL.match(label):
                raise RuleInvalid(f"match.{label}", "label names are letters, digits and _")
            try:
                matchers.append(Matcher.parse(label, spec))
            except RuleInvalid as exc:
                raise RuleInvalid(f"match.{label}", exc.message) from None
        for key, template in self.annotations.items():
            problem = template_problem(template)
            if problem:
                raise RuleInvalid(f"annotations.{key}", problem)
        threshold = self.deviations if kind is RuleKind.ANOMALY else self.threshold
        if kind is RuleKind.ABSENCE:
            threshold = self.absent_for
        source, aggregate, op = self.source, self.aggregate or "mean", self.op
        if kind is RuleKind.NEW_PATTERN:
            given = self.model_fields_set
            source = self.source if "source" in given else "pattern"
            aggregate = self.aggregate or "count"
            op = self.op if "op" in given else ">="
            threshold = 1.0 if threshold is None else threshold
        return Rule(
            name=self.name,
            kind=kind,
            source=source,  # type: ignore[arg-type]
            measurement=self.measurement,
            field=self.field,
            matchers=tuple(matchers),
            aggregate=aggregate,
            window=self.window,
            window_size_s=self.window_size,
            op=op,  # type: ignore[arg-type]
            threshold=float(threshold if threshold is not None else 3.0),
            recovery=self.recovery,
            for_s=self.for_,
            keep_firing_for_s=self.keep_firing_for,
            severity=self.severity,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            no_data=self.no_data,  # type: ignore[arg-type]
            evaluate=self.evaluate,  # type: ignore[arg-type]
            absent_for_s=self.absent_for,
            alpha=self.alpha,
            min_history=self.min_history,
            min_change=self.min_change,
            min_samples=self.min_samples,
            learning_s=self.learning,
            direction=self.direction,  # type: ignore[arg-type]
            enabled=self.enabled,
        )

    def _check_kind_fields(self, kind: RuleKind) -> None:
        given = self.model_fields_set
        if kind is RuleKind.ABSENCE:
            for name in ("aggregate", "threshold", "recovery", "deviations", "for_", "source"):
                if name in given:
                    shown = "for" if name == "for_" else name
                    raise RuleInvalid(shown, "an absence rule has no " + shown + ": drop it")
            return
        if kind is RuleKind.NEW_PATTERN:
            if "deviations" in given:
                raise RuleInvalid("deviations", "only anomaly rules have deviations: drop it")
            return
        if self.aggregate is None:
            raise RuleInvalid("aggregate", "required (e.g. mean, p95, error_rate, req_rate)")
        if kind is RuleKind.ANOMALY:
            if "threshold" in given:
                raise RuleInvalid("threshold", "an anomaly rule uses 'deviations' (e.g. 3)")
        elif self.threshold is None:
            raise RuleInvalid("threshold", "required: the value the aggregate is compared with")
        elif "deviations" in given:
            raise RuleInvalid("deviations", "only anomaly rules have deviations: drop it")


def _describe_error(err: Mapping[str, Any]) -> tuple[str, str]:
    names = sorted(f.alias or n for n, f in RuleSpec.model_fields.items())
    return location(err.get("loc", ())) or "rule", describe_plainly(err, names)


def _rule_from(raw: Any, where: str, index: int) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: rule #{index + 1}: expected a mapping with name, kind, ...")
    name = raw.get("name")
    who = f"rule {name!r}" if isinstance(name, str) and name else f"rule #{index + 1}"
    try:
        spec = RuleSpec.model_validate(raw)
        return spec.to_rule()
    except ValidationError as exc:
        field, message = _describe_error(exc.errors()[0])
        raise RuleError(f"{where}: {who}: field '{field}': {message}") from None
    except RuleInvalid as exc:
        field = _YAML_NAME.get(exc.field, exc.field)
        raise RuleError(f"{where}: {who}: field '{field}': {exc.message}") from None


def parse_rules(text: str, where: str = "<rules>") -> list[Rule]:
    """Rules from YAML text; ``where`` (the file name) prefixes every error."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleError(f"{where}: not valid YAML{at}: {problem}") from None
    if doc is None:
        return []
    if isinstance(doc, Mapping):
        extra = sorted(set(doc) - {"rules"})
        if extra:
            raise RuleError(
                f"{where}: unknown top-level key {extra[0]!r}: put rules under 'rules:'"
            )
        doc = doc.get("rules") or []
    if not isinstance(doc, list):
        raise RuleError(f"{where}: expected a list of rules under 'rules:'")
    return [_rule_from(raw, where, i) for i, raw in enumerate(doc)]


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise RuleError(f"{path}: no *.yaml files in this folder (add one, or name a file)")
        return files
    if path.is_file():
        return [path]
    raise RuleError(f"{path}: no such file or folder (set the rules path to a YAML file or folder)")


def _check_environment(
    rule: Rule,
    where: str,
    window_sizes: Mapping[str, float] | None,
    counter_fields: frozenset[str] | None,
) -> None:
    who = f"{where}: rule {rule.name!r}"
    if window_sizes is not None and rule.window_size_s is not None:
        size = window_sizes.get(rule.window)
        if size is not None and float(size) != rule.window_size_s:
            raise RuleError(
                f"{who}: field 'window_size': {rule.window} windows are {size:g}s here "
                f"(LOOKOUT_{rule.window.upper()}_SIZE), not {rule.window_size_s:g}s; "
                "drop window_size or change the setting"
            )
    if counter_fields is None or rule.measurement is None or rule.kind is RuleKind.ABSENCE:
        return
    is_counter = f"{rule.measurement}.{rule.field}" in counter_fields
    if is_counter and rule.aggregate not in COUNTER_AGGREGATES:
        raise RuleError(
            f"{who}: field 'aggregate': {rule.measurement}.{rule.field} is a counter "
            f"(LOOKOUT_COUNTER_FIELDS); use one of {', '.join(sorted(COUNTER_AGGREGATES))}"
        )
    if not is_counter and rule.aggregate not in GAUGE_AGGREGATES:
        raise RuleError(
            f"{who}: field 'aggregate': {rule.measurement}.{rule.field} is a gauge; use one of "
            f"{', '.join(sorted(GAUGE_AGGREGATES))} (or list it in LOOKOUT_COUNTER_FIELDS)"
        )


def load_rules(
    path: str | Path,
    *,
    window_sizes: Mapping[str, float] | None = None,
    counter_fields: Iterable[str] | None = None,
) -> list[Rule]:
    """Every rule of a YAML file or folder, validated; raises :class:`RuleError`.

    ``window_sizes`` (``{"tumbling": 60, "hopping": 300}``) checks ``window_size``;
    ``counter_fields`` (``measurement.field`` names) checks gauge vs counter aggregates.
    """
    counters = None if counter_fields is None else frozenset(counter_fields)
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for file in _files(Path(path)):
        where = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"{where}: cannot read: {exc}") from None
        for rule in parse_rules(text, where):
            if rule.name in seen:
                other = seen[rule.name]
                place = "earlier in this file" if other == where else f"in {other}"
                raise RuleError(
                    f"{where}: rule {rule.name!r}: field 'name': duplicate, already defined "
                    f"{place} (rule names must be unique)"
                )
            seen[rule.name] = where
            _check_environment(rule, where, window_sizes, counters)
            rules.append(rule)
    return rules
