"""The committed Grafana dashboards: what Grafana needs to load them and what the build writes.

The queries themselves run on real data in tests/integration/test_grafana_queries.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import build
from grafana.macros import variable_names
from sinks.es_templates import app_mappings, nginx_mappings

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = {
    ds["uid"]: ds
    for ds in yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )["datasources"]
}
BUILTIN = {"-- Grafana --"}
UIDS = {
    "server-health.json": "lookout-server-health",
    "nginx-traffic.json": "lookout-nginx",
    "error-rates.json": "lookout-errors",
    "alerts-incidents.json": "lookout-alerts",
    "sla-business.json": "lookout-sla",
    "lookout-itself.json": "lookout-itself",
    "logs.json": "lookout-logs",
}
PROMETHEUS = "lookout-prometheus"
# Boards on Prometheus (Lookout's own metrics) have the worker variable; the others service, host.
PROM_BOARDS = {"lookout-itself.json"}


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in FILES}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(board: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(where, datasource, query text) of every panel target, annotation and variable."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            text = target.get("rawSql") or target.get("query") or target.get("expr") or ""
            yield f"panel {panel['title']!r} {target['refId']}", target["datasource"], text
    for note in board["annotations"]["list"]:
        if "target" in note:
            yield f"annotation {note['name']!r}", note["datasource"], note["target"]["rawSql"]
    for var in board["templating"]["list"]:
        text = var["query"].get("rawSql") or var["query"]["query"]
        yield f"variable {var['name']!r}", var["datasource"], text


def datasource_refs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            yield node["datasource"]
        for value in node.values():
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from datasource_refs(value)


def test_the_dashboards_are_the_ones_the_build_writes(boards: dict[str, dict[str, Any]]) -> None:
    assert sorted(boards) == sorted(build.BUILDERS) == sorted(UIDS)
    for name, board in build.dashboards().items():
        assert (GRAFANA / "dashboards" / name).read_text() == build.render(board), (
            f"{name} is stale: run python grafana/build.py"
        )
    assert build.main(["--check"]) == 0


def test_the_build_is_reproducible() -> None:
    first = {name: build.render(b) for name, b in build.dashboards().items()}
    second = {name: build.render(b) for name, b in build.dashboards().items()}
    assert first == second
    assert all(text.endswith("}\n") for text in first.values())


def test_uids_titles_and_schema(boards: dict[str, dict[str, Any]]) -> None:
    assert {name: b["uid"] for name, b in boards.items()} == UIDS
    assert len({b["title"] for b in boards.values()}) == len(boards)
    for name, board in boards.items():
        assert board["schemaVersion"] >= 39, name
        assert "id" not in board or board["id"] is None, "provisioned dashboards carry no id"
        assert board["time"]["to"] == "now" and board["time"]["from"].startswith("now-")
        assert board["refresh"] in ("30s", "1m", "5m"), name
        assert "lookout" in board["tags"]


def test_every_datasource_is_provisioned(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        refs = list(datasource_refs(board))
        assert refs, name
        for ref in refs:
            if ref["uid"] in BUILTIN:
                continue
            assert ref["uid"] in DATASOURCES, f"{name}: unknown data source {ref['uid']}"
            wanted = DATASOURCES[ref["uid"]]["type"]
            assert ref["type"] == wanted, f"{name}: {ref['uid']} is a {wanted}"


def test_every_variable_used_is_defined_before_use(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        order = [v["name"] for v in board["templating"]["list"]]
        assert order == (["instance"] if name in PROM_BOARDS else ["tenant", "service", "host"]), (
            name
        )
        for where, _, text in queries(board):
            used = variable_names(text)
            assert used <= set(order), f"{name} {where}: undefined {used - set(order)}"
            if where.startswith("variable"):
                own = where.split("'")[1]
                earlier = set(order[: order.index(own)])
                assert used <= earlier, f"{name} {where} uses a later variable"


def test_variables_are_postgres_queries(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        for var in board["templating"]["list"]:
            if name in PROM_BOARDS:
                assert var["type"] == "query" and var["datasource"]["uid"] == PROMETHEUS
                assert var["definition"] == var["query"]["query"]
                assert var["definition"].startswith("label_values(")
            else:
                assert var["type"] == "query" and var["datasource"]["uid"] == "lookout-postgres"
                assert var["definition"] == var["query"]["rawSql"]
            assert var["multi"] and var["includeAll"] and var["refresh"] == 2
            assert var["current"]["value"] == ["$__all"]


def test_variables_use_the_format_of_their_query_language(
    boards: dict[str, dict[str, Any]],
) -> None:
    for name, board in boards.items():
        for where, ds, text in queries(board):
            if ds["uid"] == PROMETHEUS:
                # Grafana joins a multi-value variable into a regex alternation for Prometheus
                for var in variable_names(text):
                    assert text.count(f'=~"${var}"') == text.count(f"${var}"), f"{name} {where}"
                continue
            expected = "sqlstring" if ds["uid"] == "lookout-postgres" else "lucene"
            for var in variable_names(text):
                assert f"${{{var}:{expected}}}" in text, f"{name} {where}: ${var} not {expected}"
                assert f"${var}" not in text.replace(f"${{{var}", ""), f"{name} {where}: bare"


def test_panels_have_unique_ids_and_fit_the_grid(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for panel in panels(board):
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, f"{name}: {panel['title']}"
            mine = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & mine, f"{name}: {panel['title']} overlaps"
            cells |= mine


def test_panel_queries_are_well_formed(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)), f"{name}: {panel['title']}"
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                if target["datasource"]["uid"] == "lookout-postgres":
                    assert target["format"] in ("time_series", "table")
                    assert target["rawQuery"] and target["editorMode"] == "code"
                    wanted = "time_series" if panel["type"] == "timeseries" else "table"
                    assert target["format"] == wanted, f"{name}: {panel['title']}"
                elif target["datasource"]["uid"] == PROMETHEUS:
                    assert target["expr"] and target["editorMode"] == "code"
                    assert target["range"], f"{name}: {panel['title']}"
                else:
                    assert target["timeField"] == "@timestamp"
                    assert target["metrics"], f"{name}: {panel['title']}"
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                if override["matcher"]["id"] == "byFrameRefID":
                    assert override["matcher"]["options"] in refs


def test_sql_tables_name_their_columns(boards: dict[str, dict[str, Any]]) -> None:
    for name, board in boards.items():
        for panel in panels(board):
            targets = panel.get("targets", [])
            if not targets or targets[0].get("format") != "table":
                continue
            (organize,) = [t for t in panel["transformations"] if t["id"] == "organize"]
            index = organize["options"]["indexByName"]
            assert sorted(index.values()) == list(range(len(index))), f"{name}: {panel['title']}"
            assert set(organize["options"]["renameByName"]) == set(index)


def test_the_elasticsearch_fields_exist_in_the_index_templates(
    boards: dict[str, dict[str, Any]],
) -> None:
    fields = {
        "lookout-es-nginx": set(nginx_mappings()["properties"]),
        "lookout-es-app": set(app_mappings("elasticsearch")["properties"]),
    }
    for name, board in boards.items():
        for where, ds, text in queries(board):
            if ds["uid"] not in fields:
                continue
            for term in text.split(" AND "):
                field = term.split(":", 1)[0].strip("()")
                assert field in fields[ds["uid"]], f"{name} {where}: no field {field}"
        for panel in panels(board):
            for target in panel.get("targets", []):
                uid = target["datasource"]["uid"]
                if uid not in fields:
                    continue
                used = [a.get("field") for a in target["bucketAggs"] + target["metrics"]]
                assert {f for f in used if f} <= fields[uid], f"{name}: {panel['title']}"


def test_the_provider_loads_these_files() -> None:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert build.OUT == GRAFANA / "dashboards"
