"""Telegraf JSON serializer output: single metrics, batches, units, validation."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from formats.points import Metric
from formats.telegraf_json import metric_from_object, parse_metrics, single_metric

# The two examples of Telegraf's JSON output data format documentation.
DOCS_SINGLE = b"""{
    "fields": {"field_1": 30, "field_2": 4, "field_N": 59, "n_images": 660},
    "name": "docker",
    "tags": {"host": "raynor"},
    "timestamp": 1458229140
}"""
DOCS_METRIC = Metric(
    "docker",
    {"host": "raynor"},
    {"field_1": 30, "field_2": 4, "field_N": 59, "n_images": 660},
    1458229140.0,
)
T = 1_700_000_000


def _one(**changes: object) -> bytes:
    metric: dict[str, object] = {
        "name": "cpu",
        "tags": {"host": "web-1", "cpu": "cpu-total"},
        "fields": {"usage_idle": 98.5},
        "timestamp": T,
    }
    metric.update(changes)
    return orjson.dumps({k: v for k, v in metric.items() if v is not ...})


@pytest.mark.parametrize(
    ("payload", "unit", "expected"),
    [
        (DOCS_SINGLE, "s", [DOCS_METRIC]),
        (DOCS_SINGLE, "auto", [DOCS_METRIC]),
        (
            b'{"metrics": [' + DOCS_SINGLE + b"," + DOCS_SINGLE + b"]}",
            "auto",
            [DOCS_METRIC, DOCS_METRIC],
        ),
        (b"[" + DOCS_SINGLE + b"]", "auto", [DOCS_METRIC]),
        (b'{"metrics": []}', "auto", []),
    ],
    ids=["docs-single", "docs-single-auto", "docs-batch", "array", "empty-batch"],
)
def test_documented_shapes(payload: bytes, unit: str, expected: list[Metric]) -> None:
    assert parse_metrics(payload, unit=unit) == (expected, [])


@pytest.mark.parametrize(
    ("stamp", "unit", "expected"),
    [
        (T, "s", T),
        (T + 0.5, "s", T + 0.5),
        (T * 1_000 + 500, "ms", T + 0.5),
        (T * 1_000_000 + 500_000, "us", T + 0.5),
        (T * 1_000_000_000 + 500_000_000, "ns", T + 0.5),
        (T, "auto", T),
        (T * 1_000 + 500, "auto", T + 0.5),
        (T * 1_000_000 + 500_000, "auto", T + 0.5),
        (T * 1_000_000_000 + 500_000_000, "auto", T + 0.5),
        (T * 1_000 + 0.5, "auto", T + 0.0005),
        ("2023-11-14T22:13:20.5Z", "auto", T + 0.5),  # json_timestamp_format set
        (..., "auto", None),
        (None, "s", None),
    ],
    ids=[
        "s",
        "s-float",
        "ms",
        "us",
        "ns",
        "auto-s",
        "auto-ms",
        "auto-us",
        "auto-ns",
        "auto-ms-float",
        "iso-string",
        "missing",
        "null",
    ],
)
def test_timestamp_units(stamp: object, unit: str, expected: float | None) -> None:
    metrics, rejected = parse_metrics(_one(timestamp=stamp), unit=unit)
    assert rejected == []
    assert metrics[0].time == (None if expected is None else pytest.approx(expected))


def test_field_types_are_kept() -> None:
    fields = {"f": 1.5, "i": -3, "big": 2**63 - 1, "b": True, "s": "running", "zero": 0.0}
    [metric], _ = parse_metrics(_one(fields=fields))
    assert metric.fields == fields
    assert [type(v) for v in metric.fields.values()] == [float, int, int, bool, str, float]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"host": "web-1"}, {"host": "web-1"}),
        ({"port": 8080, "ratio": 0.5}, {"port": "8080", "ratio": "0.5"}),
        ({"enabled": True, "primary": False}, {"enabled": "true", "primary": "false"}),
        ({}, {}),
        (..., {}),
    ],
    ids=["strings", "numbers", "bools", "empty", "missing"],
)
def test_tags_are_strings(tags: object, expected: dict[str, str]) -> None:
    [metric], _ = parse_metrics(_one(tags=tags))
    assert metric.tags == expected


@pytest.mark.parametrize(
    ("tags", "expected_host"),
    [({"cpu": "cpu0"}, "kafka-key"), ({"host": "web-1"}, "web-1")],
)
def test_default_host_fills_a_missing_host_tag(tags: dict[str, str], expected_host: str) -> None:
    [metric], _ = parse_metrics(_one(tags=tags), default_host="kafka-key")
    assert metric.tags["host"] == expected_host


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (b"", "empty", "empty"),
        (b"  \n", "empty", "empty"),
        (b'{"name": "cpu", "fields": ', "not_json", ""),
        (b"cpu usage=1", "not_json", ""),
        (b'{"name": "cpu\xff", "fields": {"x": 1}}', "not_utf8", "UTF-8"),
        (b"42", "bad_metric", "object or array"),
        (b'"cpu"', "bad_metric", "object or array"),
        (b'{"metrics": {"name": "cpu"}}', "bad_metric", "'metrics' must be an array"),
    ],
)
def test_unreadable_messages_are_rejected_whole(payload: bytes, reason: str, detail: str) -> None:
    metrics, [rejected] = parse_metrics(payload)
    assert metrics == []
    assert (rejected.reason, rejected.original) == (reason, payload)
    assert detail in rejected.detail


@pytest.mark.parametrize(
    ("payload", "reason", "detail"),
    [
        (_one(name=...), "bad_metric", "'name'"),
        (_one(name=""), "bad_metric", "'name'"),
        (_one(name=5), "bad_metric", "'name'"),
        (_one(fields=...), "bad_metric", "'fields'"),
        (_one(fields={}), "bad_metric", "'fields'"),
        (_one(fields=[1, 2]), "bad_metric", "'fields'"),
        (_one(fields={"a": 1, "b": None}), "bad_metric", "field 'b' is null"),
        (_one(fields={"a": [1]}), "bad_metric", "field 'a' is list"),
        (_one(fields={"a": {"x": 1}}), "bad_metric", "field 'a' is dict"),
        (_one(tags=["host"]), "bad_metric", "'tags'"),
        (_one(tags={"host": None}), "bad_metric", "tag 'host' is null"),
        (_one(tags={"host": ["a"]}), "bad_metric", "tag 'host' is list"),
        (_one(timestamp=True), "bad_timestamp", "bool"),
        (_one(timestamp=[T]), "bad_timestamp", "list"),
        (_one(timestamp="last tuesday"), "bad_timestamp", "ISO 8601"),
    ],
)
def test_bad_single_metric_is_rejected_with_the_payload(
    payload: bytes, reason: str, detail: str
) -> None:
    metrics, [rejected] = parse_metrics(payload)
    assert metrics == []
    assert rejected.reason == reason
    assert detail in rejected.detail
    assert rejected.original == payload


def test_a_bad_metric_in_a_batch_rejects_only_that_metric() -> None:
    good = orjson.loads(DOCS_SINGLE)
    bad = {"name": "disk", "tags": {"host": "raynor"}, "fields": {"free": None}, "timestamp": 1}
    payload = orjson.dumps({"metrics": [good, bad, good, "nonsense", good]})
    metrics, rejected = parse_metrics(payload)
    assert metrics == [DOCS_METRIC, DOCS_METRIC, DOCS_METRIC]
    assert [(r.reason, r.original) for r in rejected] == [
        ("bad_metric", orjson.dumps(bad)),
        ("bad_metric", b'"nonsense"'),
    ]


def test_metric_from_object_uses_the_unit() -> None:
    obj = orjson.loads(_one(timestamp=T * 1000))
    assert metric_from_object(obj, unit="ms").time == T


def test_unknown_unit_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown timestamp unit"):
        parse_metrics(DOCS_SINGLE, unit="hours")


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["cpu", "mem", ""]) | _SCALARS,
        "tags": st.dictionaries(st.sampled_from(["host", "cpu", "tenant"]), _SCALARS, max_size=3)
        | _SCALARS,
        "fields": st.dictionaries(
            st.sampled_from(["usage", "free", "up", "note"]),
            _SCALARS | st.lists(st.integers(-(2**40), 2**40), max_size=2),
            max_size=3,
        )
        | _SCALARS,
        "timestamp": st.sampled_from([1_700_000_000, 1_700_000_000_000, 1.7e18, 0, -5]) | _SCALARS,
        "metrics": st.just([]),
    },
)


@given(_OBJECTS, st.sampled_from(["auto", "s", "ms", "ns"]), st.sampled_from([None, "key-host"]))
@settings(max_examples=400, deadline=None)
def test_the_single_metric_fast_path_gives_what_the_full_parse_gives(
    obj: dict[str, object], unit: str, default_host: str | None
) -> None:
    """single_metric answers only for a valid single metric, and then exactly as parse_metrics;
    for anything else it leaves the message to parse_metrics (which rejects what it must)."""
    payload = orjson.dumps(obj)
    fast = single_metric(payload, unit=unit, default_host=default_host)
    metrics, rejected = parse_metrics(payload, unit=unit, default_host=default_host)
    if fast is not None:
        assert rejected == [] and metrics == [fast]
    else:
        assert rejected or len(metrics) != 1 or "metrics" in obj
