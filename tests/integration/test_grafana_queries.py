"""Every Grafana panel query, run as Grafana would run it, on real pipeline data.

The data: a live run of the worker with both sinks, the default rules (shortened), the simulator
and an operator acknowledging alerts, then the demo business catalogue (see grafana_data). Each
dashboard's template variables are resolved from PostgreSQL (All, then one value); each SQL
query is expanded with Grafana's macros (grafana/macros.py) over a fixed range around the data
and run on the test Postgres; each Elasticsearch query becomes the ``_msearch`` item Grafana's
backend sends (grafana/es_request.py) and runs on osmem. Every panel must return rows (buckets,
documents) in the shape the panel reads: ``time``/``metric``/numbers for time series, the
organize transformation's columns for tables and stats, the override names among the series.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from app.services import Services
from grafana.es_request import search_body
from grafana.macros import TimeRange, Value, expand_sql
from sinks.es_client import make_es_client
from tests.integration.grafana_data import PipelineData, produce_pipeline_data

pytestmark = pytest.mark.integration

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
# The dashboards on PostgreSQL and Elasticsearch; the one on Prometheus (Lookout itself) runs
# its queries in test_prometheus.py.
DASHBOARDS = {
    path.name: board
    for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    if (board := json.loads(path.read_text()))["uid"] != "lookout-itself"
}
DATASOURCES = {
    ds["uid"]: ds
    for ds in yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text()
    )["datasources"]
}
NUMERIC = {"int2", "int4", "int8", "float4", "float8", "numeric"}
TIMES = {"timestamptz", "timestamp"}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def targets(kind: str) -> list[Any]:
    out = []
    for name, board in DASHBOARDS.items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                uid = target["datasource"]["uid"]
                if (DATASOURCES[uid]["type"] == "elasticsearch") == (kind == "es"):
                    ref = f"{board['uid']}:{panel['title']}:{target['refId']}"
                    out.append(pytest.param(name, panel, target, id=ref))
    return out


def annotation_targets() -> list[Any]:
    return [
        pytest.param(name, a, id=f"{board['uid']}:{a['name']}")
        for name, board in DASHBOARDS.items()
        for a in board["annotations"]["list"]
        if "target" in a
    ]


# --- data and variables ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(
    stack_services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipelineData]:
    workdir = tmp_path_factory.mktemp("grafana")
    # the pattern panels read the pattern_id the sinks joined onto each mined line
    produced = asyncio.run(produce_pipeline_data(stack_services, workdir))
    try:
        yield produced
    finally:
        asyncio.run(_drop(stack_services, produced))


async def _drop(services: Services, produced: PipelineData) -> None:
    es = make_es_client(produced.es_url, embedded=services.embedded_es)
    try:
        await es.indices.delete(index=f"{produced.index_prefix}*", allow_no_indices=True)
    finally:
        await es.close()
    conn = await asyncpg.connect(services.postgres_dsn)
    try:
        name = produced.dsn.rpartition("/")[2]
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def time_range(produced: PipelineData, uid: str) -> TimeRange:
    """A fixed range around the run, with the interval Grafana derives for the data source."""
    interval = DATASOURCES[uid]["jsonData"].get("timeInterval", "")
    return TimeRange.of(
        produced.start - timedelta(minutes=5),
        produced.end + timedelta(minutes=1),
        max_data_points=1000,
        min_interval=interval,
    )


async def resolve_variables(board: dict[str, Any], produced: PipelineData) -> dict[str, list[str]]:
    """Each variable's options in templating order (later queries see earlier variables: All)."""
    tr = time_range(produced, "lookout-postgres")
    values: dict[str, list[str]] = {}
    conn = await asyncpg.connect(produced.dsn)
    try:
        for var in board["templating"]["list"]:
            assert var["type"] == "query" and var["datasource"]["uid"] == "lookout-postgres"
            rows = await conn.fetch(expand_sql(var["query"]["rawSql"], tr, values))
            values[var["name"]] = [str(r[0]) for r in rows]
    finally:
        await conn.close()
    return values


@pytest.fixture(scope="module")
def variables(data: PipelineData) -> dict[str, dict[str, list[str]]]:
    async def resolve() -> dict[str, dict[str, list[str]]]:
        return {name: await resolve_variables(b, data) for name, b in DASHBOARDS.items()}

    return asyncio.run(resolve())


def selections(options: dict[str, list[str]]) -> list[dict[str, Value]]:
    """All (every option), then the first option of each variable alone."""
    return [dict(options), {name: [values[0]] for name, values in options.items()}]


def test_every_variable_has_options(variables: dict[str, dict[str, list[str]]]) -> None:
    for name, options in variables.items():
        assert options["service"] == ["api", "shop"], name
        assert options["host"] == ["host-000", "host-001", "host-002"], name


# --- PostgreSQL panels ---------------------------------------------------------------------------


async def run_sql(dsn: str, text: str) -> tuple[list[tuple[str, str]], list[asyncpg.Record]]:
    conn = await asyncpg.connect(dsn)
    try:
        stmt = await conn.prepare(text)
        columns = [(a.name, a.type.name) for a in stmt.get_attributes()]
        return columns, await stmt.fetch()
    finally:
        await conn.close()


def organize(panel: dict[str, Any]) -> dict[str, Any]:
    found = [t["options"] for t in panel.get("transformations", []) if t["id"] == "organize"]
    assert len(found) == 1, "a table or stat names its columns in one organize transformation"
    return found[0]


def by_name(panel: dict[str, Any]) -> set[str]:
    return {
        o["matcher"]["options"]
        for o in panel.get("fieldConfig", {}).get("overrides", [])
        if o["matcher"]["id"] == "byName"
    }


@pytest.mark.parametrize(("dashboard", "panel", "target"), targets("sql"))
async def test_sql_panel(
    dashboard: str,
    panel: dict[str, Any],
    target: dict[str, Any],
    data: PipelineData,
    variables: dict[str, dict[str, list[str]]],
) -> None:
    tr = time_range(data, target["datasource"]["uid"])
    chosen_all, chosen_one = selections(variables[dashboard])
    text = expand_sql(target["rawSql"], tr, chosen_all)
    columns, rows = await run_sql(data.dsn, text)
    names = [name for name, _ in columns]
    if not rows:
        _, incidents = await run_sql(data.dsn, "SELECT rule, status, host, service FROM incidents")
        raise AssertionError(
            f"no rows for {names}\nquery: {text}\nincidents: {[tuple(r) for r in incidents]}"
        )
    if target["format"] == "time_series":
        types = dict(columns)
        # a timestamp, or epoch seconds ($__timeGroupAlias); Grafana takes both
        assert types.get("time") in TIMES | NUMERIC, f"time column: {columns}"
        if types["time"] in NUMERIC:
            low, high = tr.start.timestamp() - tr.interval_ms / 1000, tr.end.timestamp()
            assert all(low <= float(r["time"]) <= high for r in rows), "time is not epoch seconds"
        if "metric" in types:
            assert types["metric"] == "text" and len(names) == 3, columns
        values = [n for n in names if n not in ("time", "metric")]
        assert values and all(types[n] in NUMERIC for n in values), columns
        assert any(r[n] is not None for r in rows for n in values), "every value is NULL"
        series = {r["metric"] for r in rows} if "metric" in types else set(values)
        overrides = by_name(panel)
        if overrides:
            # every panel query's series together; at least one override must name one
            for other in panel["targets"]:
                if other is not target:
                    _, more = await run_sql(data.dsn, expand_sql(other["rawSql"], tr, chosen_all))
                    series |= {r["metric"] for r in more} if "metric" in types else set()
            assert overrides & series, f"overrides {overrides} name none of {series}"
        refs = {t["refId"] for t in panel["targets"]}
        for o in panel["fieldConfig"]["overrides"]:
            if o["matcher"]["id"] == "byFrameRefID":
                assert o["matcher"]["options"] in refs
    else:
        assert target["format"] == "table"
        options = organize(panel)
        expected = sorted(options["indexByName"], key=options["indexByName"].get)
        assert names == expected
        assert by_name(panel) <= set(options["renameByName"].values())
        if panel["type"] == "stat":
            assert len(rows) == 1 and all(v is not None for v in rows[0].values()), rows
    # One value per variable instead of All: the single-value form must run too.
    await run_sql(data.dsn, expand_sql(target["rawSql"], tr, chosen_one))


@pytest.mark.parametrize(("dashboard", "annotation"), annotation_targets())
async def test_sql_annotation(
    dashboard: str,
    annotation: dict[str, Any],
    data: PipelineData,
    variables: dict[str, dict[str, list[str]]],
) -> None:
    target = annotation["target"]
    tr = time_range(data, target["datasource"]["uid"])
    columns, rows = await run_sql(data.dsn, expand_sql(target["rawSql"], tr, variables[dashboard]))
    assert [n for n, _ in columns] == ["time", "text", "tags"]
    assert dict(columns)["time"] in TIMES
    assert {r["tags"] for r in rows} >= {"nginx_5xx_error_rate", "host_down"}


# --- Elasticsearch panels ------------------------------------------------------------------------


async def msearch(url: str, embedded: bool, index: str, body: dict[str, Any]) -> dict[str, Any]:
    es = make_es_client(url, embedded=embedded)
    try:
        header = {"search_type": "query_then_fetch", "ignore_unavailable": True, "index": index}
        resp = await es.msearch(body=[header, body])
    finally:
        await es.close()
    (out,) = resp.body["responses"]
    assert "error" not in out, out["error"]
    return dict(out)


def bucket_levels(
    aggs: dict[str, Any], request: dict[str, Any], depth: int = 0
) -> Iterator[tuple[int, str, Any]]:
    """(depth, kind, bucket) for every bucket of a bucket-aggregation response, outer first."""
    for agg_id, spec in request.items():
        kind = next(k for k in spec if k != "aggs")
        if kind not in ("terms", "date_histogram"):
            continue
        for bucket in aggs[agg_id]["buckets"]:
            yield depth, kind, bucket
            yield from bucket_levels(bucket, spec.get("aggs", {}), depth + 1)


@pytest.mark.parametrize(("dashboard", "panel", "target"), targets("es"))
async def test_elasticsearch_panel(
    dashboard: str,
    panel: dict[str, Any],
    target: dict[str, Any],
    data: PipelineData,
    variables: dict[str, dict[str, list[str]]],
    stack_services: Services,
) -> None:
    ds = DATASOURCES[target["datasource"]["uid"]]
    index = data.index_prefix + ds["jsonData"]["index"]
    tr = time_range(data, ds["uid"])
    chosen_all, chosen_one = selections(variables[dashboard])
    time_field = ds["jsonData"]["timeField"]
    body = search_body(target, tr, chosen_all, time_field=time_field)
    out = await msearch(data.es_url, stack_services.embedded_es, index, body)
    if target["metrics"][0]["type"] == "logs":
        hits = out["hits"]["hits"]
        assert hits, "no documents"
        message = ds["jsonData"]["logMessageField"]
        assert all(message in h["_source"] and time_field in h["_source"] for h in hits)
        # Not checked: newest first. osmem applies the keys of an object-form sort (Grafana's
        # {"@timestamp": ..., "_doc": ...}) in random order; Elasticsearch keeps their order.
    else:
        buckets = list(bucket_levels(out["aggregations"], body["aggs"]))
        assert buckets, "no buckets"
        innermost = max(depth for depth, _, _ in buckets)
        leaves = [b for depth, _, b in buckets if depth == innermost]
        assert any(b["doc_count"] > 0 for b in leaves), "only empty buckets"
        for metric in target["metrics"]:
            if metric["type"] == "count":
                continue
            found = [b[metric["id"]] for b in leaves if b["doc_count"] > 0]
            assert found and all(_has_value(v) for v in found), (metric, found[:3])
        keys = {str(b["key"]) for _, kind, b in buckets if kind == "terms"}
        overrides = by_name(panel)
        if overrides:
            assert overrides & keys, f"overrides {overrides} name none of {keys}"
    # One value per variable instead of All: the single-value form must run too.
    await msearch(
        data.es_url,
        stack_services.embedded_es,
        index,
        search_body(target, tr, chosen_one, time_field=time_field),
    )


def _has_value(result: dict[str, Any]) -> bool:
    if "values" in result:
        return all(v is not None for v in result["values"].values())
    return result.get("value") is not None
