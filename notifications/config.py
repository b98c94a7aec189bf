"""The notify file (YAML) -> :class:`NotifyConfig`, checked at start with clear errors.

Format (docs/NOTIFY-CONTRACT.md; example: notify/notify.yaml)::

    defaults: {live_url: ..., grafana_url: ...}       # optional, ${VAR} expanded
    receivers: [{name: ops-slack, slack: {...}}, {name: ops-email, email: {...}}]
    route:                                            # the root route = the default route
      receiver: ops-slack
      group_by: [rule, host]                          # ['...']: every label
      group_wait: 30s                                 # defaults: 30s, 5m, 4h, true, notify
      group_interval: 5m
      repeat_interval: 4h
      send_resolved: true
      catch_up: notify                                # skip: a deliberate historical backfill
      routes:                                         # first match wins unless continue: true
        - match: {severity: critical}                 # exact values
          match_re: {service: "shop|api"}             # regular expressions (full match)
          receiver: ops-email
          continue: true                              # the rest is inherited when omitted
    inhibit_rules:
      - source_match: {rule: host_down}               # also source_match_re
        target_match_re: {rule: ".*"}                 # also target_match; none: every alert
        equal: [host]

Labels an alert has for matching: its ``labels`` plus ``rule`` and ``severity``. Every problem
raises :class:`NotifyConfigError` naming the file, the place in the document (e.g.
``route.routes[0].receiver``), the problem and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerting.labels import Matcher, MatchOp, RuleInvalid
from alerting.yaml_types import Duration, label_texts
from app.config_errors import closest, describe, location, unknown_hint
from app.settings import ConfigError, Settings
from notifications.delivery import RetryPolicy
from notifications.groups import Policy
from notifications.reasons import CatchUp
from notifications.receivers import Receiver, expand_env
from notifications.stages import ALL_LABELS, InhibitRule, Route, RouteSpec, build

TOP_LEVEL = ("defaults", "receivers", "route", "inhibit_rules", "retry")
_RECEIVER_ERROR = re.compile(r"^receiver '[^']*': ([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


class NotifyConfigError(ConfigError):
    """The notify file is wrong; the message names the file, the place, the problem, the fix."""


@dataclass(frozen=True, slots=True)
class Defaults:
    """Links put into every message."""

    live_url: str | None = None
    grafana_url: str | None = None


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Everything the notify file says."""

    receivers: list[Receiver]
    route: Route
    inhibit_rules: tuple[InhibitRule, ...] = ()
    defaults: Defaults = field(default_factory=Defaults)
    path: Path | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def receiver(self, name: str) -> Receiver | None:
        """The receiver called ``name``."""
        return next((r for r in self.receivers if r.name == name), None)

    @property
    def policy(self) -> Policy:
        """The routes and inhibit rules, for the grouping stages."""
        return Policy(self.route, self.inhibit_rules)


# ---- the document as written -----------------------------------------------------------------


class _RouteDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    receiver: str | None = None
    group_by: list[str] | None = None
    group_wait: Duration | None = Field(None, ge=0, le=86_400)
    group_interval: Duration | None = Field(None, ge=1, le=7 * 86_400)
    repeat_interval: Duration | None = Field(None, ge=1, le=365 * 86_400)
    send_resolved: bool | None = None
    catch_up: CatchUp | None = None
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(False, alias="continue")
    routes: list[_RouteDoc] = Field(default_factory=list)

    _labels = field_validator("match", "match_re", mode="before")(label_texts)

    @field_validator("group_by")
    @classmethod
    def _check_group_by(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and ALL_LABELS in value and len(value) > 1:
            raise ValueError("'...' means every label: use it alone ([...])")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a label is listed twice")
        return value


class _InhibitDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_match: dict[str, str] = Field(default_factory=dict)
    source_match_re: dict[str, str] = Field(default_factory=dict)
    target_match: dict[str, str] = Field(default_factory=dict)
    target_match_re: dict[str, str] = Field(default_factory=dict)
    equal: list[str] = Field(default_factory=list)

    _labels = field_validator(
        "source_match", "source_match_re", "target_match", "target_match_re", mode="before"
    )(label_texts)


class _RetryDoc(BaseModel):
    """``retry:``: backoff with full jitter between ``initial`` and ``max_delay``; a message is
    given up (status failed) after ``max_attempts`` attempts or ``give_up_after`` in the outbox."""

    model_config = ConfigDict(extra="forbid")

    initial: Duration = Field(1.0, gt=0, le=3600)
    max_delay: Duration = Field(300.0, gt=0, le=86_400)
    max_attempts: int = Field(20, ge=1, le=100)
    give_up_after: Duration = Field(3600.0, gt=0, le=7 * 86_400)


class _DefaultsDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    live_url: str | None = None
    grafana_url: str | None = None


# ---- errors -----------------------------------------------------------------------------------


def _fields(model: type[BaseModel]) -> list[str]:
    return sorted(f.alias or n for n, f in model.model_fields.items())


class _Where:
    """Builds errors for one file."""

    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, path: str, problem: str) -> NotifyConfigError:
        place = f"{self.where}: {path}" if path else self.where
        return NotifyConfigError(f"{place}: {problem}")

    def pydantic(
        self, prefix: str, exc: ValidationError, model: type[BaseModel], *, secret: bool = False
    ) -> NotifyConfigError:
        err = exc.errors()[0]
        path = location(err.get("loc") or (), prefix, {"continue_": "continue"})
        problem = describe(err, _fields(model), echo_input=not secret)
        # receivers.py words its own errors "receiver 'NAME': FIELD: problem"
        own = _RECEIVER_ERROR.match(problem)
        if own is not None:
            path, problem = f"{path}.{own.group(1)}", own.group(2)
        return self.error(path, problem)


# ---- parsing ----------------------------------------------------------------------------------


def _matchers(
    w: _Where, path: str, exact: Mapping[str, str], regex: Mapping[str, str]
) -> tuple[Matcher, ...]:
    out = [Matcher(k, MatchOp.EQ, v) for k, v in exact.items()]
    for label, pattern in regex.items():
        try:
            out.append(Matcher(label, MatchOp.RE, pattern))
        except RuleInvalid as exc:
            raise w.error(f"{path}.{label}", f"{exc.message}; fix the regular expression") from None
    return tuple(out)


def _route_spec(w: _Where, doc: _RouteDoc, path: str, receivers: list[str]) -> RouteSpec:
    if doc.receiver is not None and doc.receiver not in receivers:
        close = closest(doc.receiver, receivers)
        hint = f"; did you mean '{close}'?" if close else ""
        raise w.error(
            f"{path}.receiver",
            f"unknown receiver {doc.receiver!r} (receivers: {', '.join(receivers) or 'none'}"
            f"{hint}); add it under receivers: or fix the name",
        )
    return RouteSpec(
        receiver=doc.receiver,
        group_by=tuple(doc.group_by) if doc.group_by is not None else None,
        group_wait=doc.group_wait,
        group_interval=doc.group_interval,
        repeat_interval=doc.repeat_interval,
        send_resolved=doc.send_resolved,
        catch_up=doc.catch_up,
        match=_matchers(w, f"{path}.match_re", doc.match, doc.match_re),
        continue_=doc.continue_,
        routes=tuple(
            _route_spec(w, child, f"{path}.routes[{i}]", receivers)
            for i, child in enumerate(doc.routes)
        ),
    )


def _receivers(w: _Where, raw: Any, environ: Mapping[str, str]) -> list[Receiver]:
    if not isinstance(raw, list) or not raw:
        raise w.error("receivers", "expected a list of receivers (name plus slack: or email:)")
    out: list[Receiver] = []
    for i, item in enumerate(raw):
        try:
            receiver = Receiver.model_validate(item, context={"environ": environ})
        except ValidationError as exc:
            raise w.pydantic(f"receivers[{i}]", exc, Receiver, secret=True) from None
        if any(r.name == receiver.name for r in out):
            raise w.error(
                f"receivers[{i}].name", f"{receiver.name!r} is used twice: give each a new name"
            )
        out.append(receiver)
    return out


def _defaults(w: _Where, raw: Any, environ: Mapping[str, str]) -> Defaults:
    try:
        doc = _DefaultsDoc.model_validate(raw or {})
    except ValidationError as exc:
        raise w.pydantic("defaults", exc, _DefaultsDoc) from None
    values: dict[str, str | None] = {}
    for name in ("live_url", "grafana_url"):
        text = getattr(doc, name)
        if text is None:
            values[name] = None
            continue
        try:
            values[name] = expand_env(text, environ, receiver="defaults", field=name)
        except ValueError as exc:
            problem = str(exc).removeprefix(f"receiver 'defaults': {name}: ")
            raise w.error(f"defaults.{name}", problem) from None
        if not re.match(r"^https?://", values[name] or ""):
            raise w.error(f"defaults.{name}", "expected an http:// or https:// URL")
    return Defaults(**values)


def _retry(w: _Where, raw: Any) -> RetryPolicy:
    try:
        doc = _RetryDoc.model_validate(raw or {})
    except ValidationError as exc:
        raise w.pydantic("retry", exc, _RetryDoc) from None
    if doc.max_delay < doc.initial:
        raise w.error("retry.max_delay", "must be at least retry.initial")
    return RetryPolicy(
        base=float(doc.initial),
        cap=float(doc.max_delay),
        max_attempts=doc.max_attempts,
        max_age=float(doc.give_up_after),
    )


def _inhibit(w: _Where, raw: Any) -> tuple[InhibitRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise w.error("inhibit_rules", "expected a list of rules (source_match, equal, ...)")
    rules = []
    for i, item in enumerate(raw):
        path = f"inhibit_rules[{i}]"
        try:
            doc = _InhibitDoc.model_validate(item)
        except ValidationError as exc:
            raise w.pydantic(path, exc, _InhibitDoc) from None
        if not doc.source_match and not doc.source_match_re:
            raise w.error(
                path,
                "needs source_match or source_match_re: which alerts mute others "
                "(e.g. source_match: {rule: host_down})",
            )
        source = _matchers(w, f"{path}.source_match_re", doc.source_match, doc.source_match_re)
        target = _matchers(w, f"{path}.target_match_re", doc.target_match, doc.target_match_re)
        rules.append(InhibitRule(source, target, tuple(doc.equal)))
    return tuple(rules)


def parse_notify_config(
    text: str, where: str = "<notify>", environ: Mapping[str, str] | None = None
) -> NotifyConfig:
    """A config from YAML text; ``where`` (the file name) starts every error."""
    env = os.environ if environ is None else environ
    w = _Where(where)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise w.error("", f"not valid YAML{at}: {problem}") from None
    if not isinstance(doc, Mapping):
        raise w.error("", "expected a mapping with receivers: and route: (see notify/notify.yaml)")
    for key in doc:
        if key not in TOP_LEVEL:
            raise w.error(str(key), f"unknown top-level key ({unknown_hint(str(key), TOP_LEVEL)})")
    receivers = _receivers(w, doc.get("receivers"), env)
    names = [r.name for r in receivers]
    if not isinstance(doc.get("route"), Mapping):
        raise w.error("route", "required: the root route, at least {receiver: NAME}")
    try:
        route_doc = _RouteDoc.model_validate(doc["route"])
    except ValidationError as exc:
        raise w.pydantic("route", exc, _RouteDoc) from None
    if route_doc.receiver is None:
        raise w.error("route.receiver", f"required on the root route (one of {', '.join(names)})")
    if route_doc.match or route_doc.match_re or route_doc.continue_:
        raise w.error(
            "route", "the root route matches every alert: move match/match_re/continue to routes:"
        )
    spec = _route_spec(w, route_doc, "route", names)
    return NotifyConfig(
        receivers=receivers,
        route=build(spec),
        inhibit_rules=_inhibit(w, doc.get("inhibit_rules")),
        defaults=_defaults(w, doc.get("defaults"), env),
        retry=_retry(w, doc.get("retry")),
    )


def load_notify_config(path: str | Path, environ: Mapping[str, str] | None = None) -> NotifyConfig:
    """The config in file ``path``; raises :class:`NotifyConfigError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotifyConfigError(f"{file}: cannot read: {exc}") from None
    config = parse_notify_config(text, str(file), environ)
    return NotifyConfig(
        config.receivers,
        config.route,
        config.inhibit_rules,
        config.defaults,
        path=file,
        retry=config.retry,
    )


def from_settings(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> NotifyConfig | None:
    """The config named by ``LOOKOUT_NOTIFY_FILE`` (None when notifications are off).

    Errors name the setting too: ``LOOKOUT_NOTIFY_FILE=notify/x.yaml: route.receiver: ...``.
    """
    if not settings.notify_enabled or settings.notify_file is None:
        return None
    try:
        return load_notify_config(settings.notify_file, environ)
    except NotifyConfigError as exc:
        raise NotifyConfigError(
            f"LOOKOUT_NOTIFY_FILE={exc}\n  fix the file, point LOOKOUT_NOTIFY_FILE elsewhere, "
            "or set LOOKOUT_NOTIFY=off"
        ) from None
