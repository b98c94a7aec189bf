"""The window engine: per-host panes of mergeable aggregates, watermarks, late records, finals.

(About 480 lines: ``add_metric`` inlines its pane and clock bookkeeping for speed, the hottest
code of the worker; ids, panes, records and reads are already their own modules.)

Pure logic (standard library and siblings only). The Faust agent feeds it decoded records with
their source ``(topic, offset)`` and a wall-clock ``now``; :meth:`WindowEngine.collect` then hands
back what changed since the last call, in the order the caller must make it durable:

1. changed panes (changelog), 2. final window records (``lookout.windows``, awaited),
3. changed host states (changelog), 4. tombstones for panes no window needs any more.

Replay safety: every pane and host remembers, per source topic, the highest offset it had
applied when it was last made durable (``flushed``). After a crash the worker re-reads from the
committed offset; a record whose offset is at or below that mark is skipped, so recovery never
counts a record twice, whichever prefix of the four steps above reached the changelog. This
needs each partition's records in offset order without holes, which the caller ensures
(``tables/ordering.py``: Faust can drop queued records at the end of a recovery).

Series ids are ``tables/series.py``, panes ``tables/panes.py``, the records it emits
``tables/records.py``; reads of open windows (HTTP API, alerting) are ``tables/queries.py``.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from math import inf
from typing import Any

from tables.aggregates import CounterAgg, LogAgg, MetricAgg, merged_result
from tables.aggregates.logs import ERROR_LEVELS
from tables.aggregates.patterns import PatternAgg
from tables.panes import Pane, series_parts
from tables.records import Final, Late
from tables.series import SEP, log_series, metric_series_base, pattern_series, series_type
from tables.windows import WindowConfig, effective_watermark


@dataclass(slots=True)
class HostState:
    """Clocks and bookkeeping of one stream key (host).

    A host feeds several topics (metrics, nginx logs, app logs) that Kafka delivers at their own
    pace, so each topic has its own watermark (``wms``): a record is late only against its own
    topic's progress, and a window closes when every topic of the host has passed its end +
    grace (a topic quiet for the idle allowance moves on with the wall clock). ``typed`` keeps
    the latest event time of metric (``m``) and log (``l``) series, for reading open windows.
    """

    host: str
    partition: int
    max_ts: float = -inf
    mark: float = -inf
    min_pane: float = -inf
    wms: dict[str, float] = field(default_factory=dict)
    topic_min: dict[str, float] = field(default_factory=dict)
    wm_keys: dict[str, int] = field(default_factory=dict)
    recv: dict[str, float] = field(default_factory=dict)
    typed: dict[str, float] = field(default_factory=dict)
    type_topics: dict[str, set[str]] = field(default_factory=dict)
    hw: dict[str, int] = field(default_factory=dict)
    flushed: dict[str, int] = field(default_factory=dict)
    late: int = 0
    overflow: int = 0
    no_time: int = 0
    last_recv: float = 0.0
    panes: dict[int, Pane] = field(default_factory=dict)
    # Moves whenever the set of series ids across the open panes may have changed (a series no
    # open pane had appears, a pane expires or is restored): readers cache what depends on it
    # (alerting's rule pairs). Not persisted.
    series_gen: int = 0
    # (log series, window kind) -> (window start, its older panes, their versions, their
    # merge): what tables/queries.py keeps between two reads of an open log window. Not
    # persisted; one entry a log series a rule reads.
    log_merges: dict[tuple[str, str], tuple[int, list[Pane], list[int], LogAgg]] = field(
        default_factory=dict
    )

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state (the pane index and wall clock are not persisted)."""
        return {
            "h": self.host,
            "p": self.partition,
            "t": None if self.max_ts == -inf else self.max_ts,
            "m": None if self.mark == -inf else self.mark,
            "w": dict(self.wms),
            "ty": dict(self.typed),
            "tt": {typ: sorted(topics) for typ, topics in self.type_topics.items()},
            "hw": dict(self.hw),
            "late": self.late,
            "ovf": self.overflow,
            "nt": self.no_time,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: WindowConfig, now: float) -> HostState:
        """Rebuild a host; its idle clock restarts at ``now``."""
        hw = {k: int(v) for k, v in state["hw"].items()}
        mark = -inf if state["m"] is None else float(state["m"])
        max_ts = -inf if state["t"] is None else float(state["t"])
        wms = {k: float(v) for k, v in state.get("w", {}).items()}
        return cls(
            host=state["h"],
            partition=int(state["p"]),
            max_ts=max_ts,
            mark=mark,
            min_pane=config.min_open_pane(mark),
            wms=wms,
            topic_min={t: config.min_open_pane(w) for t, w in wms.items()},
            wm_keys={t: int((w - config.grace) // config.pane) for t, w in wms.items()},
            recv=dict.fromkeys(wms, now),
            typed={k: float(v) for k, v in state.get("ty", {}).items()},
            type_topics={k: set(v) for k, v in state.get("tt", {}).items()},
            hw=hw,
            flushed=dict(hw),
            late=int(state["late"]),
            overflow=int(state["ovf"]),
            no_time=int(state.get("nt", 0)),
            last_recv=now,
        )


#: Integers up to this magnitude (2**53) convert to float exactly (most Telegraf fields are
#: integers: byte counts, counters, process counts).
_EXACT_INT: typing.Final = 9_007_199_254_740_992


def _series_added(hs: HostState, pane: Pane, sid: str) -> None:
    """``sid`` just got an aggregate in ``pane``: the host's set of series changed unless
    another open pane has it (the usual case: the same series in the next pane)."""
    for other in hs.panes.values():
        if other is not pane and sid in other.aggs:
            return
    hs.series_gen += 1


@dataclass(slots=True)
class Changes:
    """What changed since the last :meth:`WindowEngine.collect`, in durable order."""

    panes: list[tuple[str, int, Pane]] = field(default_factory=list)
    finals: list[Final] = field(default_factory=list)
    hosts: list[HostState] = field(default_factory=list)
    tombstones: list[tuple[str, int, int]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.panes or self.finals or self.hosts or self.tombstones)


def pane_key(host: str, start: int) -> str:
    """Table key of a pane."""
    return f"p|{host}|{start}"


def host_key(host: str) -> str:
    """Table key of a host state."""
    return f"h|{host}"


class WindowEngine:
    """All window state of one worker, keyed by host; pure and clock-free."""

    def __init__(
        self,
        config: WindowConfig,
        *,
        counter_fields: Iterable[str] = (),
        max_series_per_host: int = 2000,
    ) -> None:
        self.config = config
        self.counters = frozenset(counter_fields)
        self.max_series = max_series_per_host
        self.hosts: dict[str, HostState] = {}
        self._dirty_panes: dict[tuple[str, int], Pane] = {}
        self._dirty_hosts: dict[str, HostState] = {}
        self._finals: list[Final] = []
        self._tombstones: list[tuple[str, int, int]] = []
        self.late: list[Late] = []
        self._pane_size = config.pane
        # (name, *tag items) -> (series prefix, field name -> series id): a message's ids are
        # looked up, not joined and hashed afresh for every field.
        self._bases: dict[tuple[Any, ...], tuple[str, dict[str, str]]] = {}
        self._line_sids: dict[tuple[str, str], tuple[str, str]] = {}  # (service, host) -> sids
        self._last_pane: Pane | None = None
        self._now = 0.0
        self._last_offset = -1

    @property
    def now(self) -> float:
        """Wall-clock time of the latest record taken in (the reads judge idle topics by it)."""
        return self._now

    # ---- hosts -------------------------------------------------------------------------------
    def host(self, host: str, partition: int, now: float) -> HostState:
        """The state of ``host`` (created on first sight); marks it as just heard from."""
        self._now = now
        hs = self.hosts.get(host)
        if hs is None:
            hs = self.hosts[host] = HostState(host=host, partition=partition, last_recv=now)
        hs.partition = partition
        hs.last_recv = now
        return hs

    def seen(self, hs: HostState, topic: str, offset: int) -> bool:
        """True if record ``(topic, offset)`` of ``hs`` is already in its durable state."""
        return offset <= hs.flushed.get(topic, -1)

    def _note(self, hs: HostState, topic: str, offset: int, ts: float, typ: str) -> None:
        if offset > hs.hw.get(topic, -1):
            hs.hw[topic] = offset
        hs.recv[topic] = self._now
        if ts > hs.wms.get(topic, -inf):
            hs.wms[topic] = ts
            # Lateness is judged per record against its topic's watermark so far, so it does
            # not depend on where batches start and end. The bound only moves when
            # (ts - grace) enters a new pane: the scan runs about once per pane, not per record.
            key = int((ts - self.config.grace) // self.config.pane)
            if key != hs.wm_keys.get(topic):
                hs.wm_keys[topic] = key
                hs.topic_min[topic] = self.config.min_open_pane(ts)
            if ts > hs.max_ts:
                hs.max_ts = ts
        if ts > hs.typed.get(typ, -inf):
            hs.typed[typ] = ts
        topics = hs.type_topics.get(typ)
        if topics is None:
            hs.type_topics[typ] = {topic}
        elif topic not in topics:
            topics.add(topic)
        self._dirty_hosts[hs.host] = hs

    def _pane_for(
        self, hs: HostState, series: str, topic: str, offset: int, ts: float
    ) -> Pane | None:
        """The pane to update, or ``None`` if the record is late or already applied there."""
        size = self._pane_size
        start = int(ts // size) * size
        if start < hs.min_pane or start < hs.topic_min.get(topic, -inf):
            hs.late += 1
            self.late.append(Late(hs.host, hs.partition, series, ts, hs.mark))
            self._dirty_hosts[hs.host] = hs
            return None
        pane = hs.panes.get(start)
        if pane is None:
            pane = hs.panes[start] = Pane(start)
        elif pane is self._last_pane and offset == self._last_offset:
            pane.version += 1
            return pane  # another metric of the same message: already marked and noted
        elif offset <= pane.flushed.get(topic, -1):
            # Replayed after a crash that lost the host's state write: the pane has it already,
            # but the host clock must still move on as it did the first time.
            self._note(hs, topic, offset, ts, series_type(series))
            return None
        if offset > pane.hw.get(topic, -1):
            pane.hw[topic] = offset
        self._dirty_panes[(hs.host, start)] = pane
        self._last_pane, self._last_offset = pane, offset
        pane.version += 1
        return pane

    def _new_series_ok(self, hs: HostState, pane: Pane) -> bool:
        if len(pane.aggs) < self.max_series:
            return True
        hs.overflow += 1
        self._dirty_hosts[hs.host] = hs
        return False

    # ---- records -----------------------------------------------------------------------------
    def add_metric(
        self,
        hs: HostState,
        topic: str,
        offset: int,
        name: str,
        tags: dict[str, str],
        fields: dict[str, Any],
        ts: float,
    ) -> None:
        """Apply one Telegraf metric (all its numeric fields) at event time ``ts``.

        The hottest function of the worker: :meth:`_pane_for` and :meth:`_note` are inlined
        here for the common cases (same semantics; the rare paths call them).
        """
        ckey = (name, *tags.items())
        known = self._bases.get(ckey)
        if known is None:
            if len(self._bases) > 200_000:
                self._bases.clear()
            known = self._bases[ckey] = (metric_series_base(name, tags), {})
        base, sids = known
        # -- the pane (see _pane_for) --
        size = self._pane_size
        start = int(ts // size) * size
        if start < hs.min_pane or start < hs.topic_min.get(topic, -inf):
            self._pane_for(hs, base, topic, offset, ts)  # late: counted and reported there
            return
        panes = hs.panes
        pane = panes.get(start)
        if pane is None or pane is not self._last_pane or offset != self._last_offset:
            if pane is not None and offset <= pane.flushed.get(topic, -1):
                self._note(hs, topic, offset, ts, "m")  # replayed after a lost host write
                return
            if pane is None:
                pane = panes[start] = Pane(start)
            phw = pane.hw
            if offset > phw.get(topic, -1):
                phw[topic] = offset
            self._dirty_panes[(hs.host, start)] = pane
            self._last_pane, self._last_offset = pane, offset
        pane.version += 1
        aggs = pane.aggs
        for fname, value in fields.items():
            # Strings are not aggregated; NaN, infinities and magnitudes from 1e308 up are not
            # numbers here. A float (the usual field) is checked unboxed; an int is compared
            # exactly before it becomes a float (a huge one would not convert).
            kind = type(value)
            if kind is float:
                number: float = value
                if not -1e308 < number < 1e308:
                    continue
            elif kind is int and -_EXACT_INT <= value <= _EXACT_INT:
                number = float(value)  # exact: no rounding up to 1e308 to worry about
            elif kind is str or not -1e308 < value < 1e308:
                continue
            else:
                number = float(value)
            sid = sids.get(fname)
            if sid is None:
                if len(sids) > 10_000:  # a producer inventing field names: no unbounded cache
                    sids.clear()
                sid = sids[fname] = base + SEP + fname
            agg = aggs.get(sid)
            if agg is None:
                if not self._new_series_ok(hs, pane):
                    continue
                is_counter = f"{name}.{fname}" in self.counters
                agg = aggs[sid] = CounterAgg() if is_counter else MetricAgg()
                _series_added(hs, pane, sid)
            # One branch per class: narrowed to one class, the native build calls its add
            # directly (a union would look the method up by name).
            if isinstance(agg, MetricAgg):  # noqa: SIM114
                agg.add(number, ts)
            elif isinstance(agg, CounterAgg):
                agg.add(number, ts)
            else:
                agg.add(number, ts)  # type: ignore[union-attr]
        # -- the host's clocks (see _note) --
        hw = hs.hw
        if offset > hw.get(topic, -1):
            hw[topic] = offset
        hs.recv[topic] = self._now
        if ts > hs.wms.get(topic, -inf) or ts > hs.typed.get("m", -inf):
            self._note(hs, topic, offset, ts, "m")
            return
        topics = hs.type_topics.get("m")
        if topics is None or topic not in topics:
            self._note(hs, topic, offset, ts, "m")
            return
        self._dirty_hosts[hs.host] = hs

    def _log_sids(self, service: str, host: str) -> tuple[str, str]:
        """The log and pattern series ids of (service, host), built once."""
        sids = self._line_sids.get((service, host))
        if sids is None:
            if len(self._line_sids) > 200_000:
                self._line_sids.clear()
            sids = self._line_sids[(service, host)] = (
                log_series(service, host),
                pattern_series(service, host),
            )
        return sids

    def _log_agg(
        self, hs: HostState, topic: str, offset: int, service: str, ts: float
    ) -> LogAgg | None:
        sid = self._log_sids(service, hs.host)[0]
        pane = self._pane_for(hs, sid, topic, offset, ts)
        if pane is None:
            return None
        agg = pane.aggs.get(sid)
        if agg is None:
            if not self._new_series_ok(hs, pane):
                return None
            agg = pane.aggs[sid] = LogAgg()
            _series_added(hs, pane, sid)
        self._note(hs, topic, offset, ts, "l")
        return agg  # type: ignore[return-value]

    def add_request(
        self,
        hs: HostState,
        topic: str,
        offset: int,
        service: str,
        ts: float,
        status: int,
        nbytes: int,
        request_time: float | None,
    ) -> None:
        """Apply one access-log request of ``service``."""
        agg = self._log_agg(hs, topic, offset, service, ts)
        if agg is not None:
            agg.add_request(status, nbytes, request_time, ts)

    def add_line(
        self, hs: HostState, topic: str, offset: int, service: str, ts: float, level: str
    ) -> None:
        """Apply one error-log or application-log line of ``service``."""
        agg = self._log_agg(hs, topic, offset, service, ts)
        if agg is not None:
            agg.add_line(level, ts)

    def add_mined_line(
        self,
        hs: HostState,
        topic: str,
        offset: int,
        service: str,
        ts: float,
        level: str,
        pid: str,
        first_seen: float,
        since: float,
    ) -> None:
        """Apply one mined log line: :meth:`add_line` and its pattern's count (``PatternAgg`` of
        the (service, host) pattern series), with one pane lookup and one clock update (the hot
        path with patterns on); a late line is reported once, under its log series."""
        sid, psid = self._log_sids(service, hs.host)
        pane = self._pane_for(hs, sid, topic, offset, ts)
        if pane is None:
            return
        aggs = pane.aggs
        agg = aggs.get(sid)
        if agg is None and self._new_series_ok(hs, pane):
            agg = aggs[sid] = LogAgg()
            _series_added(hs, pane, sid)
        if agg is not None:
            agg.add_line(level, ts)  # type: ignore[union-attr]
        pagg = aggs.get(psid)
        if pagg is None and self._new_series_ok(hs, pane):
            pagg = aggs[psid] = PatternAgg()
            _series_added(hs, pane, psid)
        if pagg is not None:
            error = level.lower() in ERROR_LEVELS
            pagg.add_pattern(pid, error, first_seen, since, ts)  # type: ignore[union-attr]
        self._note(hs, topic, offset, ts, "l")

    # ---- closing -----------------------------------------------------------------------------
    def close(self, hs: HostState, now: float) -> int:
        """Close every window of ``hs`` whose end + grace every topic's watermark has passed."""
        if not hs.wms:
            return 0
        idle = self.config.idle
        mark = min(
            effective_watermark(wm, hs.recv.get(topic, now), now, idle)
            for topic, wm in hs.wms.items()
        )
        if mark <= hs.mark or mark == -inf:
            return 0
        cfg = self.config
        prev = hs.mark
        due: set[tuple[str, int]] = set()
        for start in hs.panes:
            due.update(cfg.due(start, prev, mark))
        finals = 0
        for kind, wstart in sorted(due, key=lambda w: (w[1] + cfg.size(w[0]), w[0])):
            finals += self._emit(hs, kind, wstart)
        hs.mark = mark
        hs.min_pane = max(hs.min_pane, cfg.min_open_pane(mark))
        self._dirty_hosts[hs.host] = hs
        for start in [s for s in hs.panes if cfg.last_end(s) + cfg.grace <= mark]:
            del hs.panes[start]
            hs.series_gen += 1
            self._dirty_panes.pop((hs.host, start), None)
            self._tombstones.append((hs.host, hs.partition, start))
        return finals

    def _emit(self, hs: HostState, kind: str, start: int) -> int:
        panes = [hs.panes[p] for p in self.config.panes_of(kind, start) if p in hs.panes]
        end = start + self.config.size(kind)
        size = end - start
        finals = self._finals
        emitted = 0
        host, partition = hs.host, hs.partition
        if len(panes) == 1:  # a tumbling window of one pane: its aggregates, no merge
            for sid, agg in panes[0].aggs.items():
                result = agg.result(window_seconds=size, keys=None)
                finals.append(Final(host, partition, sid, kind, start, end, result))
                emitted += 1
            return emitted
        for sid, aggs in series_parts(panes).items():
            result = merged_result(aggs, size, None)
            finals.append(Final(host, partition, sid, kind, start, end, result))
            emitted += 1
        return emitted

    def idle_hosts(self, now: float, partitions: set[int] | None = None) -> Iterator[HostState]:
        """Hosts (of the given partitions) with a topic quiet for at least the idle allowance."""
        idle = self.config.idle
        for hs in self.hosts.values():
            if partitions is not None and hs.partition not in partitions:
                continue
            if hs.recv and now - min(hs.recv.values()) >= idle:
                yield hs

    # ---- durability --------------------------------------------------------------------------
    def collect(self) -> Changes:
        """Take what changed since the last call; the caller makes it durable in order."""
        changes = Changes(
            panes=[(h, s, p) for (h, s), p in self._dirty_panes.items()],
            finals=self._finals,
            hosts=list(self._dirty_hosts.values()),
            tombstones=self._tombstones,
        )
        self._dirty_panes = {}
        self._dirty_hosts = {}
        self._finals = []
        self._tombstones = []
        self._last_pane, self._last_offset = None, -1
        return changes

    @staticmethod
    def mark_flushed(changes: Changes) -> None:
        """Record that ``changes`` reached the changelog (replays at or below are skipped)."""
        for _h, _s, pane in changes.panes:
            pane.flushed = dict(pane.hw)
        for hs in changes.hosts:
            hs.flushed = dict(hs.hw)

    @property
    def pending_finals(self) -> list[Final]:
        """Final records produced since the last collect (not yet durable)."""
        return self._finals

    def take_late(self) -> list[Late]:
        """Late records since the last call."""
        late, self.late = self.late, []
        return late

    # ---- recovery ----------------------------------------------------------------------------
    def restore(self, key: str, state: Any, now: float, partition: int = -1) -> None:
        """Load one changelog entry (``h|host`` or ``p|host|start``) into memory.

        ``partition`` is the changelog partition the entry came from: a pane whose host state
        was never written (a crash between the two) still belongs to that partition.
        """
        kind, _, rest = key.partition("|")
        if kind == "h":
            hs = HostState.from_state(state, self.config, now)
            old = self.hosts.get(hs.host)
            if old is not None:
                hs.panes = old.panes
                hs.series_gen = old.series_gen + 1
            self.hosts[hs.host] = hs
        elif kind == "p":
            host, _, start = rest.rpartition("|")
            owner = self.hosts.get(host)
            if owner is None:
                owner = self.hosts[host] = HostState(host=host, partition=partition, last_recv=now)
            owner.panes[int(start)] = Pane.from_state(state)
            owner.series_gen += 1

    def drop_partitions(self, keep: set[int]) -> None:
        """Forget hosts whose partition this worker no longer owns."""
        for host in [h for h, hs in self.hosts.items() if hs.partition not in keep]:
            del self.hosts[host]
