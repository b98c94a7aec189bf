"""Annotation templates of a rule: checking and rendering ``{labels.x}``, ``{value:.1%}`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from string import Formatter
from typing import Any

from alerting.rules import Rule

TEMPLATE_FIELDS = frozenset(
    {"rule", "severity", "value", "score", "threshold", "recovery", "baseline", "aggregate"}
    | {"window", "kind", "down_at", "up_at", "duration"}
)


def template_problem(template: str) -> str | None:
    """Why ``template`` cannot render (unbalanced braces, unknown field), or None."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError as exc:
        return f"bad template {template!r}: {exc} (write {{{{ and }}}} for literal braces)"
    for _lit, name, _spec, _conv in parts:
        if name is None:
            continue
        if name.startswith("labels.") and len(name) > len("labels."):
            continue
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(sorted(TEMPLATE_FIELDS | {"labels.NAME"}))
            return f"unknown placeholder {{{name}}} in {template!r}; known: {known}"
    return None


def _show(value: Any, spec: str) -> str:
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 1e6 else f"{value:.4g}"
    return str(value)


def render(template: str, context: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """Fill ``{labels.x}``, ``{value}``, ``{value:.1%}``... A missing label or value gives a
    visible placeholder (``<no labels.path>``, ``<no value>``), never an exception."""
    try:
        parts = list(Formatter().parse(template))
    except ValueError:
        return template
    out: list[str] = []
    for literal, name, spec, conv in parts:
        out.append(literal)
        if name is None:
            continue
        if name.startswith("labels."):
            value: Any = labels.get(name[len("labels.") :])
        elif name in context:
            value = context[name]
        else:
            out.append(f"<unknown {name}>")
            continue
        if value is None:
            out.append(f"<no {name}>")
            continue
        if conv == "r":
            value = repr(value)
        out.append(_show(value, spec or ""))
    return "".join(out)


def iso(ts: float | None) -> str | None:
    """Event time as ISO 8601 UTC text (``2026-03-29T00:01:00Z``), None stays None."""
    if ts is None:
        return None
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def render_annotations(rule: Rule, labels: Mapping[str, str], **values: Any) -> dict[str, str]:
    """Every annotation of ``rule`` rendered with the labels and ``values`` (value, score, ...)."""
    context: dict[str, Any] = {
        "rule": rule.name,
        "severity": rule.severity,
        "threshold": rule.threshold,
        "recovery": rule.recovery,
        "aggregate": rule.aggregate,
        "window": rule.window,
        "kind": rule.kind.value,
        "value": None,
        "score": None,
        "baseline": None,
        "down_at": None,
        "up_at": None,
        "duration": None,
    }
    context.update(values)
    for key in ("down_at", "up_at"):
        if isinstance(context[key], int | float):
            context[key] = iso(float(context[key]))
    return {k: render(t, context, labels) for k, t in rule.annotations.items()}
