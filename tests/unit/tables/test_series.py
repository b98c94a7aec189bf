"""Series ids: encode and decode."""

from __future__ import annotations

from tables.series import SEP, describe_series, log_series, metric_series_base


def test_series_ids_round_trip() -> None:
    base = metric_series_base("cpu", {"host": "h1", "cpu": "cpu-total"})
    labels = describe_series(base + SEP + "usage_idle")
    assert labels == {
        "type": "metric",
        "measurement": "cpu",
        "field": "usage_idle",
        "tags": {"cpu": "cpu-total", "host": "h1"},
    }
    assert describe_series(log_series("shop", "h1")) == {
        "type": "log",
        "service": "shop",
        "host": "h1",
    }
