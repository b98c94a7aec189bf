"""Alert evaluation on the stream: rules over window state, one state machine per fingerprint.

(About 460 lines: evaluation runs on the hot path, so its per-host caches live beside the calls
that use them; the pure decisions are in alerting/state.py, observation.py and patterns.py.)

Rules are evaluated when the windows they read change, on event time: rules with
``evaluate: open`` read the open window at the host's latest metric or log time each time that
time enters a new 5-second tick (before the record that enters it is applied, so the verdicts do
not depend on batch boundaries); rules with ``evaluate: closed`` read each closed window; absence
rules run on the one-second wall-clock tick (a silent host sends nothing, so only the wall clock
shows it).

Alert states live in the window table under ``a|host|fingerprint``, in the host's partition, and
are made durable in the same flush as the window state. Only states that carry information are
kept: an inactive instance with no history is forgotten (and deleted from the changelog), so
healthy series cost no writes and memory stays bounded by the alerts that are going on.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from math import inf
from typing import Any

from alerting.labels import fingerprint
from alerting.patterns import pattern_views
from alerting.rules import Evaluate, Rule, RuleKind, Source, alert_labels, select, select_host
from alerting.silences import Silence
from alerting.state import (
    AlertState,
    evaluate,
    forgettable,
    stays_inactive,
    step_absence,
)
from alerting.suppression import AckResult, acknowledge, refresh_silences
from alerting.transitions import Status, Transition
from tables.engine import HostState, WindowEngine
from tables.queries import current_start, series_clock, series_of, series_results
from tables.records import Final
from tables.series import (
    LOG_PREFIX,
    PATTERN_PREFIX,
    SEP,
    describe_series,
    pattern_series,
    series_type,
)

SidRule = tuple[str, Rule]
# (host state, its series_gen, the host's series then, open-window (sid, rule) pairs by kind)
OpenPairs = tuple[HostState, int, set[str], dict[str, list[SidRule]]]

EVAL_TICK = 5.0  # seconds of event time between evaluations of a host's open windows
QUIET_S = 1.0  # wall seconds after which a quiet host's latest data is evaluated


def alert_key(host: str, fp: str) -> str:
    """Table key of an alert state."""
    return f"a|{host}|{fp}"


@dataclass(slots=True)
class AlertChanges:
    """What changed since the last collect: states to write or delete, records to emit."""

    states: list[tuple[str, int, AlertState]] = field(default_factory=list)
    deleted: list[tuple[str, int, str]] = field(default_factory=list)
    records: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.states or self.deleted or self.records)


class Alerting:
    """Every alert instance of the hosts this worker owns."""

    def __init__(self, engine: WindowEngine, rules: Sequence[Rule]) -> None:
        self.engine = engine
        self.states: dict[str, AlertState] = {}
        self.host_of: dict[str, str] = {}
        self.silences: dict[str, Silence] = {}
        self.recent: deque[dict[str, Any]] = deque(maxlen=500)
        self._dirty: dict[str, AlertState] = {}
        self._deleted: dict[str, str] = {}
        self._records: list[tuple[str, dict[str, Any]]] = []
        self.ticks: dict[tuple[str, str], int] = {}
        self._absent: dict[tuple[str, str], bool] = {}
        self.done: dict[tuple[str, str], float] = {}
        # host -> tenant (app.tenancy.TenantMap.of): the ``tenant`` label of every alert
        self.tenant_of: Callable[[str, dict[str, Any]], str] | None = None
        # For the worker's /metrics: evaluations per rule, transitions per (rule, to_state).
        self.evaluations: Counter[str] = Counter()
        self.transitions: Counter[tuple[str, str]] = Counter()
        # (rule, pattern series) -> pattern ids with a live alert state (read as 0 when absent)
        self.pattern_alerts: dict[tuple[str, str], set[str]] = {}
        self.set_rules(rules)

    # ---- rules -------------------------------------------------------------------------------
    def set_rules(self, rules: Sequence[Rule]) -> None:
        """Use ``rules`` from now on (states of rules that are gone are forgotten)."""
        self.rules = [r for r in rules if r.enabled]
        self.by_name = {r.name: r for r in self.rules}
        self.absence = [r for r in self.rules if r.kind is RuleKind.ABSENCE]
        self.series_rules = [r for r in self.rules if r.kind is not RuleKind.ABSENCE]
        self._cache: dict[str, tuple[Rule, ...]] = {}
        self._any_closed = any(r.evaluate is Evaluate.CLOSED for r in self.series_rules)
        # Rules a series can possibly match, by what its id names without describing it
        # (``select`` needs the measurement and field of a metric rule, the kind of the others).
        self._by_kind: dict[Any, list[Rule]] = {}
        for r in self.series_rules:
            if r.source is Source.PATTERN:
                group: Any = PATTERN_PREFIX
            elif r.source is Source.LOG:
                group = LOG_PREFIX
            else:
                group = (r.measurement, r.field)
            self._by_kind.setdefault(group, []).append(r)
        self._fps: dict[tuple[str, str], str] = {}
        self._descs: dict[str, dict[str, Any]] = {}
        # (host, type) -> OpenPairs
        self._pairs: dict[tuple[str, str], OpenPairs] = {}
        for fp in [fp for fp, st in self.states.items() if st.rule not in self.by_name]:
            self._forget(fp)

    def rules_for(self, sid: str, host: str = "") -> tuple[Rule, ...]:
        """Series rules that select series ``sid`` of ``host`` (cached; tenant included)."""
        found = self._cache.get(sid)
        if found is None:
            parts = sid.split(SEP)
            if parts[0] in (LOG_PREFIX, PATTERN_PREFIX) and len(parts) == 3:
                group: Any = parts[0]
            else:  # a metric (see describe_series)
                group = (parts[0], parts[2] if len(parts) > 2 else "")
            candidates = self._by_kind.get(group)
            if candidates:
                desc = self.describe(host, sid) if host else describe_series(sid)
                found = tuple(r for r in candidates if select(r, desc))
            else:
                found = ()
            self._cache[sid] = found
        return found

    def describe(self, host: str, sid: str) -> dict[str, Any]:
        """``describe_series(sid)`` with the host's tenant (cached per series)."""
        desc = self._descs.get(sid)
        if desc is None:
            if len(self._descs) > 500_000:
                self._descs.clear()
            desc = describe_series(sid)
            if self.tenant_of is not None:
                desc = {**desc, "tenant": self.tenant_of(host, desc)}
            self._descs[sid] = desc
        return desc

    def tenants_changed(self) -> None:
        """The host->tenant map changed: describe series (and fingerprint them) afresh."""
        self._descs.clear()
        self._fps.clear()
        self._cache.clear()
        self._pairs.clear()

    def host_description(self, host: str) -> dict[str, Any]:
        """The description of a host itself (absence rules), with its tenant."""
        desc: dict[str, Any] = {"type": "host", "host": host}
        if self.tenant_of is not None:
            desc["tenant"] = self.tenant_of(host, desc)
        return desc

    # ---- evaluation --------------------------------------------------------------------------
    def maybe_evaluate(self, hs: HostState, typ: str, now: float) -> None:
        """Before a message's records of a host are applied: evaluate on a new tick.

        Rules see the host's windows each time its clock (the event time up to which all of the
        host's metric or log topics are complete) enters a new tick of ``EVAL_TICK`` seconds,
        whatever the batch boundaries, so transitions are the same in a live run, a replay and
        after a restart. Called once per (message, host), before its records are applied, so
        the verdict depends on message boundaries only, which Kafka keeps.
        """
        if not self.series_rules:
            return
        clock = series_clock(self.engine, hs, typ)
        if clock is None:
            return
        key = (hs.host, typ)
        tick = int(clock // EVAL_TICK)
        last = self.ticks.get(key)
        if last is None:
            self.ticks[key] = tick
        elif tick > last:
            self.ticks[key] = tick
            self.evaluate_host(hs, typ, now)

    def evaluate_quiet(self, hosts: Iterable[HostState], now: float) -> None:
        """Evaluate hosts quiet for ``QUIET_S`` wall seconds whose latest data is unevaluated.

        This brings the verdict forward (a live host sending every 10 s is judged about a
        second after its data, not 10 s later); evaluating the same event time twice changes
        nothing. The price: a run that pauses is judged at one more clock value than a run that
        does not, so a ``for`` that ends between two ticks is stamped at the pause, not at the
        next tick. That next tick can be a whole gap of the host's sparsest topic of the type
        later (the clock is the smallest watermark of its topics, see ``series_clock``).
        """
        if not self.series_rules:
            return
        for hs in hosts:
            if now - hs.last_recv < QUIET_S:
                continue
            for typ in hs.typed:
                clock = series_clock(self.engine, hs, typ)
                if clock is not None and clock > self.done.get((hs.host, typ), -inf):
                    self.evaluate_host(hs, typ, now)

    def evaluate_host(self, hs: HostState, typ: str, now: float) -> None:
        """Evaluate open-window rules on the host's metric (``m``) or log (``l``) series."""
        event_time = series_clock(self.engine, hs, typ)
        if event_time is None:
            return
        self.done[(hs.host, typ)] = event_time
        wanted = self._open_pairs(hs, typ)
        if not wanted:
            return
        silences = list(self.silences.values())
        for kind, pairs in wanted.items():
            start = current_start(self.engine, hs.host, kind, typ)
            if start is None:
                continue
            keys = frozenset(rule.aggregate for _, rule in pairs)
            results = series_results(
                self.engine, hs.host, kind, start, {sid for sid, _ in pairs}, keys=keys
            )
            for sid, rule in pairs:
                self._evaluate(
                    hs.host, rule, results.get(sid), None, event_time, now, silences, sid
                )

    def _open_pairs(self, hs: HostState, typ: str) -> dict[str, list[SidRule]]:
        """Open-window (series, rule) pairs of the host's series of one type, by window kind;
        cached until the host's set of series changes (``HostState.series_gen``)."""
        key = (hs.host, typ)
        cached = self._pairs.get(key)
        gen = hs.series_gen
        if cached is not None and cached[0] is hs:
            if cached[1] == gen:
                return cached[3]
            # The generation moves whenever a pane gains a series or expires, which is mostly
            # the same series in a new pane: the set decides whether the pairs change.
            sids = series_of(self.engine, hs.host)
            if sids == cached[2]:
                self._pairs[key] = (hs, gen, cached[2], cached[3])
                return cached[3]
        else:
            sids = series_of(self.engine, hs.host)
        wanted: dict[str, list[SidRule]] = {}
        for sid in sorted(sids):
            if series_type(sid) != typ:
                continue
            for rule in self.rules_for(sid, hs.host):
                if rule.evaluate is Evaluate.OPEN:
                    wanted.setdefault(rule.window, []).append((sid, rule))
        self._pairs[key] = (hs, gen, sids, wanted)
        return wanted

    def on_finals(self, finals: Iterable[Final], now: float) -> None:
        """Evaluate closed-window rules on final window records.

        A Telegraf host closes ~130 series windows a minute and most match no rule: the loop
        reads the series' cached rules inline and moves on (no call per final)."""
        if not self._any_closed:
            return
        silences = list(self.silences.values())
        cached = self._cache.get
        for final in finals:
            rules = cached(final.series)
            if rules is None:
                rules = self.rules_for(final.series, final.host)
            if not rules:
                continue
            for rule in rules:
                if rule.evaluate is not Evaluate.CLOSED or rule.window != final.kind:
                    continue
                if rule.source is Source.PATTERN:
                    self._evaluate_patterns(rule, final, now, silences)
                    continue
                self._evaluate(
                    final.host, rule, final.result, None, final.end, now, silences, final.series
                )

    def _evaluate_patterns(
        self, rule: Rule, final: Final, now: float, silences: list[Silence]
    ) -> None:
        """A pattern rule on one closed window: one evaluation per pattern it reads."""
        key = (rule.name, final.series)
        active = self.pattern_alerts.get(key, set())
        desc = self.describe(final.host, final.series)
        views = pattern_views(rule, final.result, desc, final.start, final.end, active)
        for pid, pdesc, result in list(views):
            if pid not in active and stays_inactive(rule, result):
                continue  # no alert state (active holds every pid that has one): nothing changes
            sid = final.series + SEP + pid
            self._evaluate(final.host, rule, result, pdesc, final.end, now, silences, sid)
            if self._fps[(rule.name, sid)] in self.states:
                active.add(pid)
            else:
                active.discard(pid)
        if active:
            self.pattern_alerts[key] = active
        else:
            self.pattern_alerts.pop(key, None)

    def _fingerprint(self, rule: Rule, key: str, desc: dict[str, Any]) -> str:
        """Fingerprint of (rule, series or host), cached: it hashes the label set."""
        ck = (rule.name, key)
        fp = self._fps.get(ck)
        if fp is None:
            if len(self._fps) > 500_000:
                self._fps.clear()
            fp = self._fps[ck] = fingerprint(alert_labels(rule, desc))
        return fp

    def _evaluate(
        self,
        host: str,
        rule: Rule,
        result: dict[str, Any] | None,
        desc: dict[str, Any] | None,
        event_time: float,
        now: float,
        silences: list[Silence],
        sid: str = "",
    ) -> None:
        """One rule on one series (``desc`` None: described from ``sid`` when needed)."""
        if sid:
            fp = self._fps.get((rule.name, sid)) or self._fingerprint(
                rule, sid, desc or self.describe(host, sid)
            )
        else:
            fp = fingerprint(alert_labels(rule, desc or {}))
        old = self.states.get(fp)
        if old is None and stays_inactive(rule, result):
            return  # a healthy series without alert state: nothing changes (exact fast path)
        if desc is None:
            desc = self.describe(host, sid)
        new, tr = evaluate(
            old, rule, result, desc, event_time, silences=silences, wall_now=now,
            fp=fp if sid else None,  # the cached one is of these labels (same description)
        )  # fmt: skip
        self.evaluations[rule.name] += 1
        self._apply(host, fp, old, new, tr)

    def tick(self, hosts: Iterable[HostState], now: float) -> None:
        """Absence rules on the wall clock for the hosts this worker owns."""
        if not self.absence:
            return
        silences = list(self.silences.values())
        for hs in hosts:
            quiet = now - hs.last_recv
            for rule in self.absence:
                if quiet < rule.absent_for_s and not self._absent.get((rule.name, hs.host)):
                    continue  # heard from recently and not down: nothing can change
                if not select_host(rule, hs.host):
                    continue
                desc = self.host_description(hs.host)
                labels = alert_labels(rule, desc)
                fp = self._fingerprint(rule, "host:" + hs.host, desc)
                old = self.states.get(fp)
                new, tr = step_absence(
                    old or AlertState.initial(rule.name, labels),
                    rule,
                    last_event_time=hs.max_ts,
                    last_received=hs.last_recv,
                    now_wall=now,
                    silences=silences,
                )
                self.evaluations[rule.name] += 1
                if old is None and tr is None:
                    continue  # healthy host: nothing to keep
                self._absent[(rule.name, hs.host)] = new.status is not Status.INACTIVE and (
                    not forgettable(new)
                )
                self._apply(hs.host, fp, old, new, tr)

    def _apply(
        self,
        host: str,
        fp: str,
        old: AlertState | None,
        new: AlertState,
        tr: Transition | None,
    ) -> None:
        if tr is not None:
            self.transitions[(tr.rule, str(tr.to_state))] += 1
            record = tr.to_record()
            record["type"] = "transition"
            record["host"] = host
            self._records.append((host, record))
            self.recent.append(record)
        if forgettable(new):
            if old is not None:
                self._forget(fp)
            return
        if new != old:
            self.states[fp] = new
            self.host_of[fp] = host
            self._dirty[fp] = new
            self._deleted.pop(fp, None)

    def _forget(self, fp: str) -> None:
        self.states.pop(fp, None)
        self._dirty.pop(fp, None)
        host = self.host_of.pop(fp, None)
        if host is not None:
            self._deleted[fp] = host

    # ---- operator actions --------------------------------------------------------------------
    def ack(self, fp: str, by: str, comment: str, at: float) -> AckResult:
        """Acknowledge a firing alert (suppresses notifications until it resolves)."""
        state = self.states.get(fp)
        if state is None:
            return AckResult.NOT_FIRING
        new, result = acknowledge(state, by, at, comment)
        if result is AckResult.ACKNOWLEDGED:
            host = self.host_of[fp]
            self.states[fp] = self._dirty[fp] = new
            record = {
                "type": "ack",
                "id": f"{fp}:ack:{int(at * 1000)}",
                "fingerprint": fp,
                "rule": new.rule,
                "labels": dict(new.labels),
                "host": host,
                "by": by,
                "comment": comment,
                "at": at,
                "incident_id": self.incident_id(new),
            }
            self._records.append((host, record))
            self.recent.append(record)
        return result

    @staticmethod
    def incident_id(state: AlertState) -> str:
        """The incident id of a state's current episode (as its transitions carry it)."""
        episode = state.active_at if state.active_at is not None else state.since or 0.0
        return f"{state.fingerprint}:{round(episode * 1000)}"

    def set_silences(self, silences: Iterable[Silence], now: float) -> None:
        """Replace the silences and re-mark every alert (start, edit, expiry)."""
        self.silences = {s.id: s for s in silences}
        current = list(self.silences.values())
        for fp, state in list(self.states.items()):
            new = refresh_silences(state, current, now)
            if new is not state:
                self.states[fp] = self._dirty[fp] = new

    # ---- durability and reads ----------------------------------------------------------------
    def collect(self) -> AlertChanges:
        """Take the changed states, deletions and records (with the host's partition)."""

        def part(host: str) -> int:
            hs = self.engine.hosts.get(host)
            return hs.partition if hs is not None else -1

        changes = AlertChanges(
            states=[
                (self.host_of[fp], part(self.host_of[fp]), st) for fp, st in self._dirty.items()
            ],
            deleted=[(host, part(host), fp) for fp, host in self._deleted.items()],
            records=[(host, part(host), rec) for host, rec in self._records],
        )
        self._dirty, self._deleted, self._records = {}, {}, []
        return changes

    def restore(self, host: str, fp: str, state: dict[str, Any]) -> None:
        """Load one alert state from the changelog."""
        st = self.states[fp] = AlertState.from_state(state)
        self.host_of[fp] = host
        rule = self.by_name.get(st.rule)
        if rule is not None and rule.kind is RuleKind.ABSENCE and st.status is Status.FIRING:
            self._absent[(rule.name, host)] = True
        if rule is not None and rule.source is Source.PATTERN and "pattern_id" in st.labels:
            sid = pattern_series(st.labels.get("service", ""), st.labels.get("host", host))
            self.pattern_alerts.setdefault((rule.name, sid), set()).add(st.labels["pattern_id"])

    def clear(self) -> None:
        """Forget everything (before a rebuild from the table)."""
        self.ticks.clear()
        self.done.clear()
        self._pairs.clear()
        self._absent.clear()
        self.pattern_alerts.clear()
        self.states.clear()
        self.host_of.clear()
        self._dirty, self._deleted, self._records = {}, {}, []

    def listing(self, status: str | None = None) -> list[dict[str, Any]]:
        """Alert instances with state and since-when, for the API."""
        out = []
        for fp, st in self.states.items():
            if status and st.status.value != status:
                continue
            if st.status is Status.INACTIVE:
                continue
            rule = self.by_name.get(st.rule)
            out.append(
                {
                    "fingerprint": fp,
                    "host": self.host_of.get(fp),
                    "rule": st.rule,
                    "severity": rule.severity if rule else None,
                    "labels": st.labels,
                    "status": st.status.value,
                    "since": st.since,
                    "value": st.value,
                    "acknowledged": st.acknowledged,
                    "ack_by": st.ack_by,
                    "silenced_by": list(st.silenced_by),
                    "incident_id": self.incident_id(st),
                }
            )
        return sorted(out, key=lambda a: (a["status"] != "firing", a["rule"], a["fingerprint"]))
