"""Prometheus and Alertmanager for Lookout itself: configs agree with compose, the workers, the
notify receivers, and every rule and dashboard query reads a documented metric.

promtool and a real Prometheus check the same files in tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.settings import Settings
from tests.metrics_catalogue import WORKER

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "infra" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
ALERTMANAGER = ROOT / "infra" / "alertmanager" / "alertmanager.yml"
BOARD = ROOT / "grafana" / "dashboards" / "lookout-itself.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")
METRIC = re.compile(r"\b((?:lookout|process|python)_[a-z0-9_]+|lookout:[a-z0-9_:]+|up)\b")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return load(ROOT / "docker-compose.yml")["services"]  # type: ignore[no-any-return]


def rules() -> Iterator[dict[str, Any]]:
    for path in RULE_FILES:
        for group in load(path)["groups"]:
            yield from group["rules"]


def recorded() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def dashboard_exprs() -> list[str]:
    board = json.loads(BOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    return exprs + [v["query"]["query"] for v in board["templating"]["list"]]


def unknown_metrics(expr: str) -> set[str]:
    """Metric names in ``expr`` that no worker exposes and no recording rule records."""
    labels = set(re.findall(r"\b([a-z_]+)\s*(?:=~|!~|!=|=)", expr))
    by = {w for g in re.findall(r"(?:by|without)\s*\(([^)]*)\)", expr) for w in re.split(r"\W+", g)}
    out = set()
    for name in set(METRIC.findall(expr)) - labels - by:
        if name == "up" or name in recorded():
            continue
        family = name
        for suffix in SUFFIXES:
            family = family.removesuffix(suffix)
        if family not in WORKER:
            out.add(name)
    return out


def test_every_rule_reads_only_documented_metrics() -> None:
    for rule in rules():
        name = rule.get("record") or rule["alert"]
        assert not unknown_metrics(rule["expr"]), (name, unknown_metrics(rule["expr"]))


def test_every_dashboard_query_reads_only_documented_metrics() -> None:
    for expr in dashboard_exprs():
        assert not unknown_metrics(expr), (expr, unknown_metrics(expr))


def test_the_checker_catches_a_misspelt_metric() -> None:
    assert unknown_metrics('rate(lookout_recrods_in_total{topic="x"}[5m])') == {
        "lookout_recrods_in_total"
    }
    assert not unknown_metrics(
        "histogram_quantile(0.9, sum by (le) (lookout_batch_seconds_bucket))"
    )


def test_alerts_cover_what_the_issue_asks_and_carry_severity_and_text() -> None:
    alerts = {r["alert"]: r for r in rules() if "alert" in r}
    assert set(alerts) >= {
        "LookoutWorkerDown",
        "LookoutInputLagGrowing",
        "LookoutEventTimeDelayHigh",
        "LookoutDeadLettersSurging",
        "LookoutSinkDown",
        "LookoutSinkStalled",
        "LookoutNotificationsFailing",
        "LookoutRecoveryTooLong",
    }
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    tested = load(PROM / "tests" / "lookout-alerts.test.yml")
    covered = {c["alertname"] for t in tested["tests"] for c in t.get("alert_rule_test", [])}
    assert covered == set(alerts), set(alerts) - covered
    assert {Path(f).name for f in tested["rule_files"]} == {p.name for p in RULE_FILES}


def test_compose_prometheus_scrapes_every_worker_and_loads_the_rules(
    services: dict[str, Any],
) -> None:
    config = load(PROM / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "lookout" and job["metrics_path"] == "/metrics"
    (dns,) = job["dns_sd_configs"]
    assert dns["names"] == ["worker"] and "worker" in services
    assert dns["port"] == Settings.model_fields["web_port"].default
    prom = services["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prom["volumes"])
    assert mounts["./infra/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./infra/prometheus/rules"] == "/etc/prometheus/rules"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert prom["image"].endswith(":v2.42.0"), "the version the tests run (Debian's 2.42)"
    (am,) = config["alerting"]["alertmanagers"]
    assert am["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    assert any(p.endswith(":9093") for p in services["alertmanager"]["ports"])
    assert any(p.endswith(":9090") for p in prom["ports"])
    for name in ("prometheus", "alertmanager"):
        assert "healthcheck" in services[name], name


def test_kubernetes_config_keeps_the_job_and_finds_pods() -> None:
    # Debian's promtool is built without Kubernetes discovery, so this file is checked here.
    config = load(PROM / "prometheus-kubernetes.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "lookout"
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    keep = {
        tuple(r["source_labels"]): r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    assert keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)] == "lookout"
    assert config["rule_files"] == load(PROM / "prometheus.yml")["rule_files"]


def test_grafana_reaches_the_compose_prometheus() -> None:
    sources = load(ROOT / "grafana" / "provisioning" / "datasources" / "datasources.yaml")
    (prom,) = [d for d in sources["datasources"] if d["uid"] == "lookout-prometheus"]
    assert prom["type"] == "prometheus" and prom["url"] == "http://prometheus:9090"


def test_alertmanager_routes_to_the_notify_receivers(services: dict[str, Any]) -> None:
    config = load(ALERTMANAGER)
    notify = load(ROOT / "notify" / "notify.yaml")
    names = {r["name"] for r in config["receivers"]}
    assert names == {r["name"] for r in notify["receivers"]}

    def used(route: dict[str, Any]) -> Iterator[str]:
        yield route["receiver"]
        for child in route.get("routes", []):
            yield from used(child)

    assert set(used(config["route"])) <= names
    secrets = set(services["alertmanager"]["secrets"])
    files = set(re.findall(r"/run/secrets/(\w+)", ALERTMANAGER.read_text()))
    assert files == secrets
    assert secrets <= set(load(ROOT / "docker-compose.yml")["secrets"])
