"""Timeline specs, activity windows and target binding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.simulator.fleet import host_names, service_names
from devtools.simulator.scenarios import (
    STEADY,
    Kind,
    Scenario,
    Timeline,
    TimelineError,
    default_timeline,
    parse_seconds,
    parse_timeline,
)

HOSTS = host_names(4)
SERVICES = service_names(3)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", Timeline()),
        ("steady", Timeline()),
        ("none", Timeline()),
        ("steady@0+120", Timeline()),
        (
            "error_spike@120+180:svc=shop",
            Timeline((Scenario(Kind.ERROR_SPIKE, 120, 180, "shop"),)),
        ),
        (
            "error_spike@2m+3m:service=1:share=0.9:latency=10",
            Timeline((Scenario(Kind.ERROR_SPIKE, 120, 180, "1", share=0.9, latency=10),)),
        ),
        (
            " cpu_saturation@180+220:host=host-001:usage=99 , host_silent@1h+90s:host=2 ",
            Timeline(
                (
                    Scenario(Kind.CPU_SATURATION, 180, 220, "host-001", usage=99),
                    Scenario(Kind.HOST_SILENT, 3600, 90, "2"),
                )
            ),
        ),
        ("counter_reset@300:host=3", Timeline((Scenario(Kind.COUNTER_RESET, 300, 0, "3"),))),
        (
            "host_silent@10+20:host=0,every=60",
            Timeline((Scenario(Kind.HOST_SILENT, 10, 20, "0"),), every=60),
        ),
    ],
)
def test_parse(spec: str, expected: Timeline) -> None:
    assert parse_timeline(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "error_spke@120+180:svc=shop",
            "unknown scenario 'error_spke' (did you mean error_spike?)",
        ),
        ("error_spike", "missing '@start'"),
        ("error_spike@120:svc=shop", "missing or zero '+duration'"),
        ("error_spike@abc+10:svc=shop", "start 'abc' is not a number of seconds"),
        ("error_spike@10+5x:svc=shop", "duration '5x' is not a number of seconds"),
        ("error_spike@10+5", "error_spike needs a target: add :svc=NAME_OR_INDEX"),
        ("error_spike@10+5:host=host-000", "unknown parameter 'host' for error_spike"),
        ("error_spike@10+5:svc=shop:share=2", "share=2 is outside 0..1"),
        ("error_spike@10+5:svc=shop:share=x", "share='x' is not a number"),
        ("cpu_saturation@10+5:host", "parameter 'host' is not key=value"),
        ("counter_reset@10+5:host=0", "counter_reset is instantaneous"),
        ("host_silent@10+5:host=0,,", "empty item"),
        ("host_silent@50+20:host=0,every=60", "ends at 70s, after every=60"),
        ("every=soon", "every 'soon' is not a number of seconds"),
    ],
)
def test_parse_errors_name_the_item_and_the_fix(spec: str, message: str) -> None:
    with pytest.raises(TimelineError) as info:
        parse_timeline(spec)
    assert message in str(info.value)


def test_error_messages_show_the_expected_form() -> None:
    with pytest.raises(TimelineError, match=r"e\.g\. error_spike@120\+180:svc=shop"):
        parse_timeline("error_spike@10")


@pytest.mark.parametrize(
    ("text", "seconds"), [("120", 120), ("90s", 90), ("2m", 120), ("1.5h", 5400), (" 7 ", 7)]
)
def test_parse_seconds(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


def test_activity_window_is_half_open() -> None:
    t = parse_timeline("cpu_saturation@100+50:host=1")
    assert [bool(t.active(r)) for r in (-1, 99.9, 100, 149.9, 150, 1000)] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]


def test_every_repeats_the_cycle() -> None:
    # cycle 60 s:  |....[silent 10..30)....|....[silent 70..90)....|
    t = parse_timeline("host_silent@10+20:host=0,every=60")
    active = [r for r in range(0, 130) if t.active(r)]
    assert active == [*range(10, 30), *range(70, 90), *range(130, 130)]
    assert t.active(-5) == ()


def test_conditions_name_targets_by_index() -> None:
    bound = parse_timeline(
        "error_spike@0+10:svc=api,cpu_saturation@5+10:host=host-003:usage=95,host_silent@5+1:host=2"
    ).bind(HOSTS, SERVICES)
    assert bound.conditions(-1) is STEADY
    assert bound.conditions(20) is STEADY
    c = bound.conditions(5)
    assert set(c.spikes) == {1}
    assert c.saturated == {3: 95.0}
    assert c.silent == frozenset({2})
    assert c.describe() == "error_spike(api), cpu_saturation(host-003), host_silent(host-002)"
    assert bound.conditions(6).silent == frozenset()
    assert bound.conditions(20).describe() == "steady"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("error_spike@0+10:svc=nope", "no service 'nope'; the services are shop, api, auth"),
        ("error_spike@0+10:svc=3", "no service '3'"),
        ("host_silent@0+10:host=host-004", "no host 'host-004'; the hosts are host-000"),
        ("cpu_saturation@0+10:host=9", "(or an index 0..3)"),
    ],
)
def test_bind_rejects_unknown_targets(spec: str, message: str) -> None:
    with pytest.raises(TimelineError) as info:
        parse_timeline(spec).bind(HOSTS, SERVICES)
    assert message in str(info.value)


def test_counter_reset_occurrences() -> None:
    t = parse_timeline("counter_reset@30:host=1,every=100")
    bound = t.bind(HOSTS, SERVICES)
    assert bound.resets(29) == []
    assert bound.resets(30) == [(0, 1, 0, 30.0)]
    assert bound.resets(129) == [(0, 1, 0, 30.0)]
    assert bound.resets(130) == [(0, 1, 1, 130.0)]
    # a reset is an instant: it never shows as an active scenario
    assert bound.conditions(30) is STEADY


def test_default_timeline() -> None:
    t = default_timeline(10)
    assert t.spec() == (
        "error_spike@120+180:svc=0,cpu_saturation@180+220:host=1,"
        "host_silent@240+180:host=2,every=600"
    )
    assert parse_timeline("default", hosts=10) == t
    kinds = {
        r: sorted(s.kind.value for s in t.active(r)) for r in (0, 150, 200, 250, 350, 410, 500)
    }
    assert kinds == {
        0: [],
        150: ["error_spike"],
        200: ["cpu_saturation", "error_spike"],
        250: ["cpu_saturation", "error_spike", "host_silent"],
        350: ["cpu_saturation", "host_silent"],
        410: ["host_silent"],
        500: [],
    }
    assert [s.kind.value for s in t.active(600 + 150)] == ["error_spike"]


@pytest.mark.parametrize("hosts", [1, 2, 3])
def test_default_timeline_fits_small_fleets(hosts: int) -> None:
    t = default_timeline(hosts)
    t.bind(host_names(hosts), service_names(1))  # no unknown target
    assert (Kind.HOST_SILENT in {s.kind for s in t.scenarios}) == (hosts >= 3)


_scenarios = st.builds(
    Scenario,
    kind=st.sampled_from([k for k in Kind if k is not Kind.STEADY]),
    start=st.integers(0, 10_000).map(float),
    duration=st.integers(1, 10_000).map(float),
    target=st.sampled_from(["0", "1", "shop", "host-001"]),
    share=st.sampled_from([0.4, 0.25, 1.0]),
    latency=st.sampled_from([6.0, 2.5]),
    usage=st.sampled_from([97.0, 99.5]),
)


@given(st.lists(_scenarios, min_size=1, max_size=4))
def test_spec_round_trips(scenarios: list[Scenario]) -> None:
    normal = []
    for s in scenarios:  # drop what a spec cannot express for the kind
        keep = {"share": 0.4, "latency": 6.0, "usage": 97.0}
        if s.kind is Kind.ERROR_SPIKE:
            keep.update(share=s.share, latency=s.latency)
        if s.kind is Kind.CPU_SATURATION:
            keep["usage"] = s.usage
        duration = 0.0 if s.kind is Kind.COUNTER_RESET else s.duration
        normal.append(Scenario(s.kind, s.start, duration, s.target, **keep))
    timeline = Timeline(tuple(normal))
    assert parse_timeline(timeline.spec()) == timeline
