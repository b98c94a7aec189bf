"""Reads of live window state: open windows, series clocks and results (HTTP API, alerting).

Functions over a :class:`~tables.engine.WindowEngine` that never change its window state (reads
of open log windows keep a cache on the host, ``HostState.log_merges``; see :func:`_log_result`).
"""

from __future__ import annotations

from collections.abc import Iterable
from math import inf
from typing import Any

from tables.aggregates import LogAgg, merged_result
from tables.engine import HostState, WindowEngine
from tables.panes import Pane, merge_panes
from tables.series import series_type
from tables.windows import KINDS


def current_window(engine: WindowEngine, host: str, kind: str) -> dict[str, Any]:
    """The open window of ``kind`` at the host's latest event time, per series.

    Metric series are read at the latest metric time, log series at the latest log time
    (their topics progress separately); ``start``/``end`` are those of the metric window,
    or of the log window when the host has only logs.
    """
    hs = engine.hosts.get(host)
    if hs is None or hs.max_ts == -inf:
        return {}
    out: dict[str, Any] = {}
    for typ in ("l", "m"):
        start = current_start(engine, host, kind, typ)
        if start is None:
            continue
        win = window(engine, hs, kind, start)
        keep = {s: v for s, v in win["series"].items() if series_type(s) == typ}
        out.update({k: v for k, v in win.items() if k != "series"})
        out.setdefault("series", {}).update(keep)
    return out


def window(engine: WindowEngine, hs: HostState, kind: str, start: int) -> dict[str, Any]:
    """Results of window ``(kind, start)`` of a host, per series (open or not yet expired)."""
    size = engine.config.size(kind)
    panes = (hs.panes.get(p) for p in engine.config.panes_of(kind, start))
    merged = merge_panes(pane for pane in panes if pane is not None)
    out = {sid: agg.result(window_seconds=size) for sid, agg in merged.items()}
    return {"kind": kind, "start": start, "end": start + size, "series": out}


def series_clock(engine: WindowEngine, hs: HostState, typ: str) -> float | None:
    """Event time up to which the host's metric (``m``) or log (``l``) series are complete.

    The smallest watermark of the topics that feed that type of series (nginx and app logs
    both feed log series and progress separately), leaving out topics quiet for the idle
    allowance; None before any record of that type.
    """
    topics = hs.type_topics.get(typ)
    if not topics:
        return hs.typed.get(typ)
    if len(topics) == 1:  # one topic feeds the type: its watermark, idle or not
        for topic in topics:
            return hs.wms.get(topic)
    idle = engine.config.idle
    now = engine.now
    marks = [hs.wms[t] for t in topics if t in hs.wms and now - hs.recv.get(t, now) < idle]
    if not marks:
        marks = [hs.wms[t] for t in topics if t in hs.wms]
    return min(marks) if marks else None


def current_start(engine: WindowEngine, host: str, kind: str, typ: str = "m") -> int | None:
    """Start of the open window of ``kind`` at the host's metric (or log) clock."""
    hs = engine.hosts.get(host)
    if hs is None:
        return None
    ts = series_clock(engine, hs, typ)
    if ts is None:
        return None
    config = engine.config
    size = config.size(kind)
    step = config.tumbling if kind == KINDS[0] else config.step
    start = int(ts // step) * step
    return start if kind == KINDS[0] else start - size + step


def series_results(
    engine: WindowEngine,
    host: str,
    kind: str,
    start: int,
    sids: Iterable[str],
    *,
    keys: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Results of window ``(kind, start)`` of a host for the given series only (``keys``: the
    result keys the reader needs, so costly percentiles can be left out; None: all)."""
    hs = engine.hosts.get(host)
    if hs is None:
        return {}
    size = engine.config.size(kind)
    panes = [hs.panes[p] for p in engine.config.panes_of(kind, start) if p in hs.panes]
    sketches = LogAgg.needs_sketches(keys)
    out = {}
    for sid in sids:
        held = [pane for pane in panes if sid in pane.aggs]
        if not held:
            continue
        parts = [pane.aggs[sid] for pane in held]
        if sketches and len(parts) > 2:
            logs = [a for a in parts if isinstance(a, LogAgg)]
            if len(logs) == len(parts):
                out[sid] = _log_result(hs, sid, kind, start, held, logs, size, keys)
                continue
        out[sid] = merged_result(parts, size, keys)
    return out


def _log_result(
    hs: HostState,
    sid: str,
    kind: str,
    start: int,
    panes: list[Pane],
    parts: list[LogAgg],
    size: int,
    keys: frozenset[str] | None,
) -> dict[str, Any]:
    """``merged_result`` of a log series' ``parts`` (one per pane of ``panes``), with its
    latency sketches, reusing the merge of all but the newest pane (``HostState.log_merges``).

    Open-window log rules read a host's hopping window every 5 s of its event time
    (alerting/evaluator.py): re-merging up to five panes' latency sketches each time was about
    a third of a worker's cost on nginx traffic. Only the newest pane changes between two
    reads, unless a late record lands in an older one, which moves that pane's ``version``: the
    kept merge is used only while every older pane is the same object at the same version.
    The result is exactly the full merge's: a merge is a left fold (``LogAgg.merged``), so the
    merge of the older panes' merge with the newest pane is the merge of all of them in order.
    """
    older = panes[:-1]
    versions = [p.version for p in older]
    key = (sid, kind)
    kept = hs.log_merges.get(key)
    if (
        kept is not None
        and kept[0] == start
        and kept[2] == versions
        and all(a is b for a, b in zip(kept[1], older, strict=True))
    ):
        merged = kept[3]
    else:
        merged = LogAgg.merged(parts[:-1])
        hs.log_merges[key] = (start, older, versions, merged)
    return LogAgg.merged([merged, parts[-1]]).result(window_seconds=size, keys=keys)


def series_of(engine: WindowEngine, host: str) -> set[str]:
    """Series ids with data in the host's open panes."""
    hs = engine.hosts.get(host)
    if hs is None:
        return set()
    return {sid for pane in hs.panes.values() for sid in pane.aggs}
