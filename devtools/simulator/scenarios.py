"""Incident scenarios on a timeline of event time, relative to the simulation start (pure).

A timeline is a list of scenarios, each active over ``[start, start + duration)`` seconds after
the simulation start, optionally repeating every ``every`` seconds. Its compact spec::

    error_spike@120+180:svc=shop,cpu_saturation@3m+220s:host=host-001:usage=98,every=600

* ``kind@start+duration[:key=value]...``, items separated by commas; times in seconds or with
  a unit (``90s``, ``2m``, ``1h``).
* ``svc=`` a service name or index, ``host=`` a host name or index (``host=1`` is ``host-001``).
* ``every=SECONDS`` repeats the whole timeline; every scenario must end within one cycle.
* ``steady``/``none``/empty is a timeline without incidents; ``default`` the demo timeline.

Kinds: ``steady`` (no-op, for readability), ``error_spike`` (``svc``; ``share`` of 5xx, default
0.4; ``latency`` multiplier, default 6), ``cpu_saturation`` (``host``; ``usage`` percent, default
97), ``host_silent`` (``host`` sends nothing), ``counter_reset`` (``host`` reboots at ``start``:
its cumulative counters and uptime restart from zero; no duration).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from app.config_errors import closest


class TimelineError(ValueError):
    """A timeline spec or target is wrong; the message names the item and the fix."""


class Kind(StrEnum):
    """What a scenario does."""

    STEADY = "steady"
    ERROR_SPIKE = "error_spike"
    CPU_SATURATION = "cpu_saturation"
    HOST_SILENT = "host_silent"
    COUNTER_RESET = "counter_reset"


_TARGET = {
    Kind.STEADY: None,
    Kind.ERROR_SPIKE: "svc",
    Kind.CPU_SATURATION: "host",
    Kind.HOST_SILENT: "host",
    Kind.COUNTER_RESET: "host",
}
_PARAMS: dict[Kind, dict[str, tuple[float, float]]] = {
    Kind.STEADY: {},
    Kind.ERROR_SPIKE: {"share": (0.0, 1.0), "latency": (0.01, 1000.0)},
    Kind.CPU_SATURATION: {"usage": (0.0, 100.0)},
    Kind.HOST_SILENT: {},
    Kind.COUNTER_RESET: {},
}
_DEFAULTS = {"share": 0.4, "latency": 6.0, "usage": 97.0}
_FORMAT_HINT = "expected kind@start+duration[:key=value...], e.g. error_spike@120+180:svc=shop"
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")
_UNIT = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One incident: ``kind`` on ``target`` over ``[start, start + duration)`` seconds."""

    kind: Kind
    start: float
    duration: float = 0.0
    target: str = ""
    share: float = _DEFAULTS["share"]
    latency: float = _DEFAULTS["latency"]
    usage: float = _DEFAULTS["usage"]

    def spec(self) -> str:
        """This scenario as a timeline item (parses back to an equal scenario)."""
        text = f"{self.kind}@{_num(self.start)}"
        if self.kind is not Kind.COUNTER_RESET:
            text += f"+{_num(self.duration)}"
        key = _TARGET[self.kind]
        if key:
            text += f":{key}={self.target}"
        for name in _PARAMS[self.kind]:
            value = getattr(self, name)
            if value != _DEFAULTS[name]:
                text += f":{name}={_num(value)}"
        return text


@dataclass(frozen=True, slots=True)
class Timeline:
    """Scenarios relative to the simulation start, repeated every ``every`` seconds if set."""

    scenarios: tuple[Scenario, ...] = ()
    every: float | None = None

    def phase(self, rel: float) -> float | None:
        """Position of ``rel`` seconds after the start within the cycle (None before the start)."""
        if rel < 0:
            return None
        return rel % self.every if self.every else rel

    def active(self, rel: float) -> tuple[Scenario, ...]:
        """Scenarios (not counter resets) active ``rel`` seconds after the start."""
        p = self.phase(rel)
        if p is None:
            return ()
        return tuple(
            s
            for s in self.scenarios
            if s.kind is not Kind.COUNTER_RESET and s.start <= p < s.start + s.duration
        )

    def occurrence(self, scenario: Scenario, rel: float) -> int | None:
        """Index of the latest cycle in which ``scenario`` has started by ``rel``, if any."""
        if rel < scenario.start:
            return None
        if not self.every:
            return 0
        return math.floor((rel - scenario.start) / self.every)

    def spec(self) -> str:
        """The compact spec of this timeline (``steady`` when empty)."""
        items = [s.spec() for s in self.scenarios]
        if self.every:
            items.append(f"every={_num(self.every)}")
        return ",".join(items) or "steady"

    def bind(self, hosts: Sequence[str], services: Sequence[str]) -> BoundTimeline:
        """Resolve every target to an index; unknown targets raise :class:`TimelineError`."""
        bound = []
        for s in self.scenarios:
            key = _TARGET[s.kind]
            if key is None:
                continue
            names = services if key == "svc" else hosts
            bound.append((s, _resolve(s, key, names)))
        return BoundTimeline(self, tuple(bound), tuple(hosts), tuple(services))


@dataclass(frozen=True, slots=True)
class Conditions:
    """What is going on at one instant: silent hosts, spiking services, saturated hosts."""

    silent: frozenset[int] = frozenset()
    spikes: dict[int, Scenario] = field(default_factory=dict)
    saturated: dict[int, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def describe(self) -> str:
        """Short human text: the active scenarios, or ``steady``."""
        return ", ".join(self.labels) or "steady"


STEADY = Conditions()


class BoundTimeline:
    """A timeline whose targets are host and service indices; answers "what is active when"."""

    def __init__(
        self,
        timeline: Timeline,
        bound: tuple[tuple[Scenario, int], ...],
        hosts: tuple[str, ...],
        services: tuple[str, ...],
    ) -> None:
        self.timeline = timeline
        self._bound = bound
        self._hosts = hosts
        self._services = services
        self._cache: dict[tuple[int, ...], Conditions] = {}

    def conditions(self, rel: float) -> Conditions:
        """Conditions ``rel`` seconds after the simulation start."""
        p = self.timeline.phase(rel)
        if p is None:
            return STEADY
        active = tuple(
            i
            for i, (s, _) in enumerate(self._bound)
            if s.kind is not Kind.COUNTER_RESET and s.start <= p < s.start + s.duration
        )
        if not active:
            return STEADY
        found = self._cache.get(active)
        if found is None:
            found = self._cache[active] = self._build(active)
        return found

    def resets(self, rel: float) -> list[tuple[int, int, int, float]]:
        """Latest counter resets by ``rel``: ``(scenario number, host, occurrence, at rel)``."""
        out = []
        for i, (s, target) in enumerate(self._bound):
            if s.kind is Kind.COUNTER_RESET:
                occ = self.timeline.occurrence(s, rel)
                if occ is not None:
                    out.append((i, target, occ, s.start + occ * (self.timeline.every or 0.0)))
        return out

    def _build(self, active: tuple[int, ...]) -> Conditions:
        silent: set[int] = set()
        spikes: dict[int, Scenario] = {}
        saturated: dict[int, float] = {}
        labels = []
        for i in active:
            s, target = self._bound[i]
            if s.kind is Kind.HOST_SILENT:
                silent.add(target)
                labels.append(f"host_silent({self._hosts[target]})")
            elif s.kind is Kind.ERROR_SPIKE:
                spikes[target] = s
                labels.append(f"error_spike({self._services[target]})")
            elif s.kind is Kind.CPU_SATURATION:
                saturated[target] = s.usage
                labels.append(f"cpu_saturation({self._hosts[target]})")
        return Conditions(frozenset(silent), spikes, saturated, tuple(labels))


def default_timeline(hosts: int = 10) -> Timeline:
    """The demo timeline, repeating every 10 minutes.

    ::

        0s      120s     180s     240s     300s     400s  420s        600s
        |steady  |error_spike svc 0 ------|                           |
        |        |        |cpu_saturation host 1 ---------|           |
        |        |        |        |host_silent host 2 -------|       |

    With fewer than 3 hosts the silent host is left out; with one host it is saturated.
    """
    scenarios = [
        Scenario(Kind.ERROR_SPIKE, 120.0, 180.0, "0"),
        Scenario(Kind.CPU_SATURATION, 180.0, 220.0, "1" if hosts > 1 else "0"),
    ]
    if hosts >= 3:
        scenarios.append(Scenario(Kind.HOST_SILENT, 240.0, 180.0, "2"))
    return Timeline(tuple(scenarios), every=600.0)


def parse_seconds(text: str, what: str = "time") -> float:
    """Parse ``120``, ``90s``, ``2m``, ``1.5h`` into seconds; raise ValueError naming ``what``."""
    m = _SECONDS.match(text.strip())
    if not m:
        raise ValueError(f"{what} {text!r} is not a number of seconds (e.g. 120, 90s, 2m, 1h)")
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_timeline(spec: str, *, hosts: int = 10) -> Timeline:
    """Parse a compact timeline spec (see the module docstring); ``hosts`` sizes ``default``."""
    text = spec.strip()
    if text == "default":
        return default_timeline(hosts)
    if text in ("", "steady", "none"):
        return Timeline()
    scenarios: list[Scenario] = []
    every: float | None = None
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise TimelineError(f"timeline {spec!r}: empty item (two commas in a row?)")
        if item.startswith("every="):
            try:
                every = parse_seconds(item.removeprefix("every="), "every")
            except ValueError as exc:
                raise TimelineError(f"timeline item {item!r}: {exc}") from None
            if every <= 0:
                raise TimelineError(f"timeline item {item!r}: every must be greater than 0")
            continue
        scenario = _parse_item(item)
        if scenario.kind is not Kind.STEADY:
            scenarios.append(scenario)
    timeline = Timeline(tuple(scenarios), every)
    if every:
        for s in scenarios:
            if s.start + s.duration > every or s.start >= every:
                raise TimelineError(
                    f"timeline item {s.spec()!r}: ends at {_num(s.start + s.duration)}s, after "
                    f"every={_num(every)}; shorten it or raise every"
                )
    return timeline


def _parse_item(item: str) -> Scenario:
    def fail(problem: str) -> TimelineError:
        return TimelineError(f"timeline item {item!r}: {problem}; {_FORMAT_HINT}")

    head, at, rest = item.partition("@")
    kind_name = head.strip()
    try:
        kind = Kind(kind_name)
    except ValueError:
        close = closest(kind_name, [k.value for k in Kind])
        hint = f" (did you mean {close}?)" if close else ""
        known = ", ".join(k.value for k in Kind)
        raise fail(f"unknown scenario {kind_name!r}{hint}; known: {known}") from None
    if not at:
        raise fail("missing '@start'")
    when, *params = rest.split(":")
    start_text, plus, duration_text = when.partition("+")
    try:
        start = parse_seconds(start_text, "start")
        duration = parse_seconds(duration_text, "duration") if plus else 0.0
    except ValueError as exc:
        raise fail(str(exc)) from None
    if kind is not Kind.COUNTER_RESET and duration <= 0:
        raise fail("missing or zero '+duration'")
    if kind is Kind.COUNTER_RESET and plus:
        raise fail("counter_reset is instantaneous: give no '+duration'")
    scenario = Scenario(kind, start, duration)
    target_key = _TARGET[kind]
    allowed = _PARAMS[kind]
    for param in params:
        key, eq, value = param.partition("=")
        key = key.strip()
        if key == "service":
            key = "svc"
        if not eq or not value.strip():
            raise fail(f"parameter {param!r} is not key=value")
        if key == target_key:
            scenario = replace(scenario, target=value.strip())
        elif key in allowed:
            lo, hi = allowed[key]
            try:
                number = float(value)
            except ValueError:
                raise fail(f"{key}={value!r} is not a number") from None
            if not lo <= number <= hi:
                raise fail(f"{key}={value} is outside {_num(lo)}..{_num(hi)}")
            scenario = _with_param(scenario, key, number)
        else:
            keys = [k for k in (target_key, *allowed) if k]
            known = ", ".join(keys) if keys else "none"
            raise fail(f"unknown parameter {key!r} for {kind}; allowed: {known}")
    if target_key and not scenario.target:
        raise fail(f"{kind} needs a target: add :{target_key}=NAME_OR_INDEX")
    return scenario


def _with_param(s: Scenario, key: str, value: float) -> Scenario:
    if key == "share":
        return replace(s, share=value)
    if key == "latency":
        return replace(s, latency=value)
    return replace(s, usage=value)


def _resolve(s: Scenario, key: str, names: Sequence[str]) -> int:
    target = s.target
    if target.isdigit():
        index = int(target)
        if index < len(names):
            return index
    elif target in names:
        return names.index(target)
    what = "service" if key == "svc" else "host"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    raise TimelineError(
        f"timeline item {s.spec()!r}: no {what} {target!r}; the {what}s are {shown} "
        f"(or an index 0..{len(names) - 1})"
    )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)
