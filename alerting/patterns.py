"""Pattern rules: one closed window of a (service, host)'s pattern counts -> one result per
pattern (pure).

A ``source: pattern`` rule reads the series ``pat|service|host`` (a
:class:`tables.aggregates.PatternAgg`), whose window result counts lines per pattern id. Each
pattern becomes a series of its own for the rule, with labels service, host and pattern_id and
the result::

    count        lines of the pattern in the window
    errors       error-level lines of the pattern
    rate         count per second of window
    error_share  errors / count
    share        count / all mined lines of the (service, host) in the window
    new          first seen in this window (after the rule's learning period)

so threshold, rate_of_change and anomaly rules work on it as on any series. ``new_pattern``
rules read the aggregate only while the pattern is new and 0 otherwise, so the alert fires in the
window that brings a new pattern at least ``threshold`` times and resolves in the next one.

A pattern missing from a window (no lines) reads 0 when the rule has a live alert for it
(``active``), so an alert on a pattern that stops resolves instead of hanging on its last window.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from alerting.labels import matches_all
from alerting.rules import Rule, RuleKind

_ZERO = {"count": 0, "errors": 0, "first_seen": None}


def is_new(rule: Rule, first_seen: float | None, since: float | None, start: float) -> bool:
    """True if a pattern first seen at ``first_seen`` is new in the window starting at
    ``start``: first seen inside it, and at least ``learning_s`` after the service's first line
    (``since``)."""
    if first_seen is None or first_seen < start:
        return False
    return since is None or first_seen >= since + rule.learning_s


def pattern_views(
    rule: Rule,
    result: Mapping[str, Any],
    description: Mapping[str, Any],
    start: float,
    end: float,
    active: Collection[str] = (),
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(pattern_id, description, result)`` per pattern of a closed window ``[start, end)``
    that ``rule`` reads (its pattern_id matchers applied); ``active`` ids read 0 when absent."""
    counts: Mapping[str, Mapping[str, Any]] = result.get("patterns") or {}
    lines = int(result.get("lines") or 0)
    since = result.get("since")
    seconds = end - start
    matchers = tuple(m for m in rule.matchers if m.label == "pattern_id")
    pids = list(counts)
    pids.extend(sorted(pid for pid in active if pid not in counts))
    for pid in pids:
        if matchers and not matches_all(matchers, {"pattern_id": pid}):
            continue
        entry = counts.get(pid, _ZERO)
        n, errors = int(entry["count"]), int(entry["errors"])
        new = is_new(rule, entry["first_seen"], since, start)
        view: dict[str, Any] = {
            "count": n,
            "errors": errors,
            "rate": n / seconds if seconds > 0 else None,
            "error_share": errors / n if n else None,
            "share": n / lines if lines else None,
            "new": new,
        }
        if rule.kind is RuleKind.NEW_PATTERN and not new:
            view[rule.aggregate] = 0
        desc = {
            "type": "pattern",
            "service": description["service"],
            "host": description["host"],
            "pattern_id": pid,
        }
        yield pid, desc, view
