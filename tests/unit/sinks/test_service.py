"""LOOKOUT_SINKS and the other sink settings."""

from __future__ import annotations

import pytest

from app.settings import ConfigError, load_settings
from sinks.batch import Rejection
from sinks.consumer import group_id
from sinks.deadletter import dead_letter_record, reason_of
from sinks.service import enabled_sinks
from tests.unit.sinks.fakes import Rec


@pytest.mark.parametrize(
    ("value", "sinks"),
    [
        (None, ("postgres", "elasticsearch")),
        ("all", ("postgres", "elasticsearch")),
        ("ALL", ("postgres", "elasticsearch")),
        ("none", ()),
        ("elasticsearch", ("elasticsearch",)),
        (" elasticsearch , postgres ", ("postgres", "elasticsearch")),
        ("postgres,postgres", ("postgres",)),
    ],
)
def test_enabled_sinks(value: str | None, sinks: tuple[str, ...]) -> None:
    env = {} if value is None else {"LOOKOUT_SINKS": value}
    assert enabled_sinks(load_settings(env)) == sinks


@pytest.mark.parametrize("value", ["", "mongo", "postgres,mongo", "all,postgres"])
def test_bad_sinks_value_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="LOOKOUT_SINKS"):
        load_settings({"LOOKOUT_SINKS": value})


def test_defaults_and_bounds() -> None:
    s = load_settings({})
    assert (s.retention_days, s.es_local_max_days, s.sink_batch_max) == (14, 3, 2000)
    assert s.sink_retry_max == 10.0
    assert s.es_local_max_docs == 20_000
    with pytest.raises(ConfigError, match="LOOKOUT_RETENTION_DAYS"):
        load_settings({"LOOKOUT_RETENTION_DAYS": "0"})
    with pytest.raises(ConfigError, match="LOOKOUT_SINK_BATCH_BYTES"):
        load_settings({"LOOKOUT_SINK_BATCH_BYTES": "10"})


def test_group_ids_and_dead_letter_records() -> None:
    s = load_settings({"LOOKOUT_APP_ID": "prod"})
    assert group_id(s, "postgres") == "prod-sink-postgres"
    msg = Rec("p.logs.app", 1, 5, b"host-a", b'{"level":"x"}', 0)
    record = dead_letter_record("elasticsearch", Rejection(msg, 2, "HTTP 400 bad ip"), 100.0)  # type: ignore[arg-type]
    assert record == {
        "reason": "elasticsearch_rejected",
        "detail": "HTTP 400 bad ip",
        "topic": "p.logs.app",
        "partition": 1,
        "offset": 5,
        "key": "host-a",
        "at": 100.0,
        "sink": "elasticsearch",
        "item": 2,
        "original_b64": "eyJsZXZlbCI6IngifQ==",
        "original": '{"level":"x"}',
    }
    assert reason_of("postgres") == "postgres_rejected"
