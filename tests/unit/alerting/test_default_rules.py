"""The shipped rules against the simulator's scenarios, through the real window engine (pure).

The simulator's records are decoded and fed to a :class:`WindowEngine` batch by batch (one
batch per 10 s interval, wall clock = event time, as in a live run); after each batch the open
windows of the touched hosts are evaluated with the ``open`` rules, final records with the
``closed`` rules, and every host gets an absence tick. Timeline (seconds after the start)::

    0        120             300  400     420                  620
    |steady  |error_spike shop --|        |                     |
    |        |    180 |cpu_saturation host-001 ---|             |
    |        |        240 |host_silent host-002 --|             |

Hosts: host-000 and host-002 serve shop, host-001 serves api.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from alerting.config import load_rules
from alerting.labels import fingerprint
from alerting.rules import Evaluate, Rule, RuleKind, alert_labels, select, select_host
from alerting.state import AlertState, absence_labels, evaluate, step_absence
from alerting.transitions import Status, Transition
from app.settings import DEFAULT_COUNTER_FIELDS
from devtools.simulator.generator import KIND_APP, KIND_METRICS, TrafficGenerator
from devtools.simulator.options import SimOptions
from formats.decode import decode_app, decode_metrics, decode_nginx
from formats.points import AccessLog, Metric
from tables.engine import WindowEngine
from tables.queries import current_window
from tables.series import describe_series
from tables.windows import WindowConfig

START = 1_704_067_200.0  # 2024-01-01T00:00:00Z
TIMELINE = "error_spike@120+180:svc=shop,cpu_saturation@180+220:host=1,host_silent@240+180:host=2"
RULES = load_rules(Path(__file__).resolve().parents[3] / "rules")


def batches(seconds: float) -> Iterator[tuple[float, list[tuple[str, str, bytes]]]]:
    opts = SimOptions(hosts=3, services=2, rate=4.0, timeline=TIMELINE, duration=seconds)
    gen = TrafficGenerator(opts, START)
    groups: dict[int, list[tuple[str, str, bytes]]] = defaultdict(list)
    for r in gen.records(gen.start + seconds):
        groups[int((r.time - gen.start) // 10)].append((r.kind, r.key, r.value))
    for i in sorted(groups):
        yield gen.start + (i + 1) * 10, groups[i]


@cache
def run(seconds: float = 620.0) -> tuple[Transition, ...]:
    eng = WindowEngine(WindowConfig(), counter_fields=DEFAULT_COUNTER_FIELDS)
    states: dict[str, AlertState] = {}
    out: list[Transition] = []

    def apply(state: AlertState, tr: Transition | None) -> None:
        states[state.fingerprint] = state
        if tr is not None:
            out.append(tr)

    offset = 0
    for wall, records in batches(seconds):
        touched = set()
        for kind, key, value in records:
            offset += 1
            hs = eng.host(key, 0, wall)
            touched.add(key)
            if kind == KIND_METRICS:
                for m in decode_metrics(value, default_host=key)[0]:
                    assert isinstance(m, Metric) and m.time is not None
                    eng.add_metric(hs, kind, offset, m.name, m.tags, m.fields, m.time)
                continue
            decoded = (
                decode_app(value, default_host=key)[0]
                if kind == KIND_APP
                else decode_nginx(value, default_host=key)[0]
            )
            for rec in decoded:
                assert rec.time is not None
                if isinstance(rec, AccessLog):
                    eng.add_request(
                        hs, kind, offset, rec.service, rec.time, rec.status, rec.bytes,
                        rec.request_time,
                    )  # fmt: skip
                else:
                    eng.add_line(hs, kind, offset, rec.service, rec.time, rec.level)
        for host in sorted(eng.hosts):
            eng.close(eng.hosts[host], wall)
        finals = eng.collect().finals
        windows: dict[tuple[str, str], dict[str, Any]] = {}
        for rule in RULES:
            if rule.kind is RuleKind.ABSENCE:
                for host, hs in sorted(eng.hosts.items()):
                    if select_host(rule, host):
                        labels = absence_labels(rule, host)
                        st = AlertState.initial(rule.name, labels)
                        st = states.get(st.fingerprint, st)
                        apply(
                            *step_absence(
                                st,
                                rule,
                                last_event_time=hs.max_ts,
                                last_received=hs.last_recv,
                                now_wall=wall,
                            )
                        )
            elif rule.evaluate is Evaluate.OPEN:
                for host in sorted(touched):
                    event_time = eng.hosts[host].max_ts
                    if (host, rule.window) not in windows:
                        windows[host, rule.window] = current_window(eng, host, rule.window)
                    window = windows[host, rule.window]
                    for sid, result in sorted(window.get("series", {}).items()):
                        desc = describe_series(sid)
                        if select(rule, desc):
                            fp = _fp(rule, desc)
                            apply(*evaluate(states.get(fp), rule, result, desc, event_time))
            else:
                for final in finals:
                    desc = describe_series(final.series)
                    if final.kind == rule.window and select(rule, desc):
                        fp = _fp(rule, desc)
                        apply(*evaluate(states.get(fp), rule, final.result, desc, final.end))
    return tuple(out)


def _fp(rule: Rule, desc: dict[str, Any]) -> str:
    return fingerprint(alert_labels(rule, desc))


def story(rule: str) -> list[tuple[str, str, str, float]]:
    """(host, service-or-empty, to_state, seconds after the start) of one rule."""
    return [
        (t.labels["host"], t.labels.get("service", ""), t.to_state.value, t.event_time - START)
        for t in run()
        if t.rule == rule
    ]


def fired(rule: str) -> set[tuple[str, str]]:
    return {(h, s) for h, s, to, _ in story(rule) if to == "firing"}


def test_error_spike_fires_the_5xx_rule_and_resolves_after_it() -> None:
    assert fired("nginx_5xx_error_rate") == {("host-000", "shop"), ("host-002", "shop")}
    seen = [(to, t) for h, s, to, t in story("nginx_5xx_error_rate") if h == "host-000"]
    states = [to for to, _ in seen]
    assert states == ["pending", "firing", "resolved"]
    pending, firing, resolved = (t for _, t in seen)
    # the spike starts at 120: pending within a minute of it, firing `for` (60 s) later
    assert 120 < pending < 180
    assert 60 <= firing - pending <= 70  # `for` 60 s, judged at the next batch (10 s here)
    # the spike ends at 300; the 5-minute window must drop to <= 2% before it resolves
    assert 300 < resolved <= 300 + 300 + 10


def test_error_spike_fires_the_latency_rule() -> None:
    assert ("host-000", "shop") in fired("nginx_latency_p95")
    assert {s for _, s in fired("nginx_latency_p95")} == {"shop"}


def test_cpu_saturation_fires_on_the_saturated_host_only() -> None:
    assert {h for h, *_ in story("cpu_saturation")} == {"host-001"}
    assert [to for h, _, to, _ in story("cpu_saturation")] == ["pending", "firing", "resolved"]
    pending, firing, resolved = (t for *_, t in story("cpu_saturation"))
    assert 180 <= pending < 190  # saturation starts at 180
    assert 120 <= firing - pending <= 130  # for 2m
    assert 400 < resolved <= 470  # saturation ends at 400


def test_host_silent_fires_host_down_with_the_downtime() -> None:
    trs = [t for t in run() if t.rule == "host_down"]
    assert [(t.labels["host"], t.to_state) for t in trs] == [
        ("host-002", Status.FIRING),
        ("host-002", Status.RESOLVED),
    ]
    down, up = trs
    assert down.down_at is not None and 235 <= down.down_at - START < 240
    assert 295 <= down.event_time - START <= 310  # 60 s of silence, seen on a 10 s tick
    assert up.down_for_s is not None and 180 <= up.down_for_s <= 195
    assert up.incident_id == down.incident_id


def test_no_other_alert_fires() -> None:
    assert fired("memory_used") == set()
    assert fired("disk_used") == set()
    rules_fired = {t.rule for t in run() if t.to_state is Status.FIRING}
    assert rules_fired <= {
        "nginx_5xx_error_rate",
        "nginx_latency_p95",
        "cpu_saturation",
        "host_down",
        "request_rate_anomaly",
    }


def test_request_rate_anomaly_is_quiet_on_steady_traffic() -> None:
    # the simulator's load wanders by up to ~25% a minute; min_change 30% keeps that quiet
    assert fired("request_rate_anomaly") == set()


def test_request_rate_anomaly_fires_on_a_traffic_drop() -> None:
    # closed 1-minute windows:  10 windows around 4 req/s | 1.0 (drop) | 4.1 | 4.0
    # verdict                   learning ...              | firing     | resolved
    rule = next(r for r in RULES if r.name == "request_rate_anomaly")
    shop = {"type": "log", "service": "shop", "host": "host-000"}
    state = None
    seen = []
    values = [4.0, 4.2, 3.9, 4.1, 4.0, 3.8, 4.2, 4.0, 4.1, 3.9, 1.0, 4.1, 4.0]
    for i, v in enumerate(values):
        state, tr = evaluate(state, rule, {"req_rate": v, "requests": 240}, shop, START + 60 * i)
        if tr is not None:
            seen.append((i, tr.to_state.value))
    assert seen == [(10, "firing"), (11, "resolved")]
