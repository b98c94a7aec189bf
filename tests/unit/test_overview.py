"""The live page's overview: headlines and services from open and closed windows (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.models import HostOverview, ServiceOverview
from app.api.overview import error_rate, host_overview, role, service_overview
from tables.series import log_series, metric_series_base

T = 1_800_000_000  # a window start; windows here are 60 s


def metric_sid(name: str, tags: dict[str, str], field: str) -> str:
    return metric_series_base(name, tags) + "\x1f" + field


CPU = metric_sid("cpu", {"host": "h1", "cpu": "cpu-total"}, "usage_active")
CPU0 = metric_sid("cpu", {"host": "h1", "cpu": "cpu0"}, "usage_active")
ETH0 = metric_sid("net", {"host": "h1", "interface": "eth0"}, "bytes_recv")
ETH1 = metric_sid("net", {"host": "h1", "interface": "eth1"}, "bytes_recv")
SHOP = log_series("shop", "h1")


def log_value(requests: int, s5xx: int, p95: float | None = 0.2) -> dict[str, Any]:
    return {
        "requests": requests,
        "s5xx": s5xx,
        "error_lines": 0,
        "log_lines": 0,
        "latency_p95": p95,
    }


def test_roles() -> None:
    assert role(CPU) == ("metric", "cpu")
    assert role(CPU0) is None  # per-core cpu is not a headline
    assert role(ETH0) == ("metric", "net_in")
    assert role(SHOP) == ("log", "shop")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [((10, 2, 0, 0), 0.2), ((0, 0, 1, 4), 0.25), ((0, 0, 0, 0), 0.0)],
)
def test_error_rate(counts: tuple[int, int, int, int], expected: float) -> None:
    assert error_rate(*counts) == expected


def test_host_overview_points_are_closed_windows_then_the_open_one() -> None:
    # windows:  T-120   T-60   [T open]
    current = {
        "start": T,
        "end": T + 60,
        "series": {
            CPU: {"mean": 30.0},
            CPU0: {"mean": 99.0},
            ETH0: {"rate": 100.0},
            ETH1: {"rate": 50.0},
            SHOP: log_value(100, 5),
        },
    }
    closed = {
        CPU: [
            {"start": T - 120, "value": {"mean": 10.0}},
            {"start": T - 60, "value": {"mean": 20.0}},
        ],
        ETH0: [{"start": T - 60, "value": {"rate": 1.0}}],
        ETH1: [{"start": T - 60, "value": {"rate": 2.0}}],
        SHOP: [{"start": T - 60, "value": log_value(50, 0)}],
    }
    out = host_overview("h1", current, closed, watermark=T + 30.0)
    HostOverview.model_validate(out)  # the document describes what the view returns
    metrics = {m["key"]: m for m in out["metrics"]}
    assert list(metrics) == ["cpu", "net_in"]  # headline order, only those with data
    assert metrics["cpu"]["value"] == 30.0
    assert metrics["cpu"]["points"] == [[T - 120, 10.0], [T - 60, 20.0], [T, 30.0]]
    assert metrics["net_in"]["value"] == 150.0  # summed over interfaces
    assert metrics["net_in"]["points"] == [[T - 60, 3.0], [T, 150.0]]
    (shop,) = out["services"]
    assert shop["service"] == "shop" and shop["now"]["error_rate"] == 0.05
    assert [p["start"] for p in shop["points"]] == [T - 60, T]
    assert (out["requests"], out["error_rate"], out["watermark"]) == (100, 0.05, T + 30.0)


def test_a_host_without_data_and_values_that_are_not_numbers() -> None:
    out = host_overview("h2", {}, {}, watermark=float("-inf"))
    assert out["metrics"] == [] and out["services"] == [] and out["watermark"] is None
    HostOverview.model_validate(out)
    nan = host_overview(
        "h3", {"start": T, "end": T + 60, "series": {CPU: {"mean": None}}}, {}, None
    )
    assert nan["metrics"][0]["value"] is None and nan["metrics"][0]["points"] == []


def test_services_sum_their_hosts_per_window() -> None:
    def host(name: str, now: tuple[int, int], before: tuple[int, int], p95: float) -> Any:
        sid = log_series("shop", name)
        return host_overview(
            name,
            {"start": T, "end": T + 60, "series": {sid: log_value(*now, p95=p95)}},
            {sid: [{"start": T - 60, "value": log_value(*before)}]},
            None,
        )

    (shop,) = service_overview(
        [host("a", (100, 10), (10, 0), 0.3), host("b", (300, 10), (30, 4), 0.5)]
    )
    ServiceOverview.model_validate(shop)
    assert shop["hosts"] == ["a", "b"]
    assert (shop["requests"], shop["s5xx"], shop["error_rate"]) == (400, 20, 0.05)
    assert shop["latency_p95"] == 0.5
    assert shop["points"] == [[T - 60, 0.1], [T, 0.05]]
