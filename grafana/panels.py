"""Building blocks of Lookout's Grafana dashboards: targets, panels, variables, layout.

(About 490 lines: a catalogue of small builders and shared panel definitions the boards use.)

Conventions the dashboards follow and the tests check (Grafana honours them):

* Data sources by the provisioned uids (``provisioning/datasources/datasources.yaml``).
* Time series SQL returns ``time`` (a timestamp or epoch seconds), optionally ``metric`` (text:
  one series per value) and one numeric value column; a second query ``B`` holds a series' p95
  band (drawn dashed).
* Table and stat SQL names its columns in an ``organize`` transformation (order and titles);
  unit overrides refer to those titles.
* Template variables ``service`` and ``host`` come from PostgreSQL (``host`` narrows to the
  hosts serving the chosen services, plus hosts that serve none); SQL uses
  ``${var:sqlstring}``, Elasticsearch queries ``${var:lucene}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

SCHEMA_VERSION = 41  # Grafana 12.1 (docker-compose.yml)
TAGS = ["lookout"]

PG = {"type": "grafana-postgresql-datasource", "uid": "lookout-postgres"}
ES_NGINX = {"type": "elasticsearch", "uid": "lookout-es-nginx"}
ES_APP = {"type": "elasticsearch", "uid": "lookout-es-app"}
PROM = {"type": "prometheus", "uid": "lookout-prometheus"}

HOSTS = "host IN (${host:sqlstring})"
SERVICES = "service IN (${service:sqlstring})"
LUCENE_SCOPE = "service:${service:lucene} AND host:${host:lucene}"
# Whole UTC days touched by the dashboard range (the BI views are per day).
DAYS = (
    "{day} BETWEEN ($__timeFrom()::timestamptz AT TIME ZONE 'UTC')::date"
    " AND ($__timeTo()::timestamptz AT TIME ZONE 'UTC')::date"
)

Panel = dict[str, Any]


# --- building blocks --------------------------------------------------------------------------


def sql(sql_text: str, *, ref: str = "A", fmt: str = "time_series") -> dict[str, Any]:
    """A PostgreSQL target in code mode."""
    return {
        "datasource": PG,
        "editorMode": "code",
        "format": fmt,
        "rawQuery": True,
        "rawSql": sql_text.strip(),
        "refId": ref,
    }


def promql(expr: str, legend: str = "", *, ref: str = "A") -> dict[str, Any]:
    """A Prometheus target in code mode (``legend``: Grafana's legend format, ``{{label}}``)."""
    return {
        "datasource": PROM,
        "editorMode": "code",
        "expr": " ".join(expr.split()),
        "legendFormat": legend or "__auto",
        "range": True,
        "refId": ref,
    }


def es(
    datasource: dict[str, str],
    query: str,
    metrics: list[dict[str, Any]],
    buckets: list[dict[str, Any]],
    *,
    ref: str = "A",
) -> dict[str, Any]:
    """An Elasticsearch target (Lucene query, metrics, bucket aggregations)."""
    return {
        "bucketAggs": buckets,
        "datasource": datasource,
        "metrics": metrics,
        "query": query,
        "refId": ref,
        "timeField": "@timestamp",
    }


def histogram(agg_id: str = "3") -> dict[str, Any]:
    """A date histogram on @timestamp at the panel's interval."""
    return {
        "field": "@timestamp",
        "id": agg_id,
        "settings": {"interval": "auto", "min_doc_count": "0", "trimEdges": "0"},
        "type": "date_histogram",
    }


def terms(field: str, *, size: int = 10, order_by: str = "_count", agg_id: str = "2") -> dict:
    """A terms aggregation (``order_by``: ``_count``, ``_key`` or a metric id)."""
    order = "asc" if order_by == "_key" else "desc"
    return {
        "field": field,
        "id": agg_id,
        "settings": {"min_doc_count": "1", "order": order, "orderBy": order_by, "size": str(size)},
        "type": "terms",
    }


COUNT = {"id": "1", "type": "count"}


def fixed_color(name: str, color: str) -> dict[str, Any]:
    """Override: the series called ``name`` in a fixed colour."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": {"fixedColor": color, "mode": "fixed"}}],
    }


P95_BAND = {
    "matcher": {"id": "byFrameRefID", "options": "B"},
    "properties": [
        {"id": "custom.lineStyle", "value": {"dash": [4, 6], "fill": "dash"}},
        {"id": "custom.fillOpacity", "value": 0},
    ],
}


def timeseries(
    title: str,
    targets: list[dict[str, Any]],
    *,
    unit: str,
    description: str = "",
    overrides: Sequence[dict[str, Any]] = (),
    bars: bool = False,
    stack: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    size: tuple[int, int] = (12, 8),
) -> Panel:
    """A time series panel."""
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "bars" if bars else "line",
            "fillOpacity": 60 if bars else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": True,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        },
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "datasource": targets[0]["datasource"],
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": {
            "legend": {
                "calcs": ["mean", "max"],
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "size": size,
        "targets": targets,
        "title": title,
        "type": "timeseries",
    }


def _organize(columns: Sequence[tuple[str, str, str | None]]) -> tuple[dict, list[dict]]:
    transformation = {
        "id": "organize",
        "options": {
            "excludeByName": {},
            "indexByName": {name: i for i, (name, _, _) in enumerate(columns)},
            "renameByName": {name: title for name, title, _ in columns},
        },
    }
    overrides = [
        {"matcher": {"id": "byName", "options": title}, "properties": [{"id": "unit", "value": u}]}
        for _, title, u in columns
        if u
    ]
    return transformation, overrides


def table(
    title: str,
    sql_text: str,
    columns: Sequence[tuple[str, str, str | None]],
    *,
    description: str = "",
    size: tuple[int, int] = (12, 8),
) -> Panel:
    """A table of one SQL query; ``columns``: (column, title, unit or None), in order."""
    organize, overrides = _organize(columns)
    return {
        "datasource": PG,
        "description": description,
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
            "overrides": overrides,
        },
        "options": {"cellHeight": "sm", "showHeader": True},
        "size": size,
        "targets": [sql(sql_text, fmt="table")],
        "title": title,
        "transformations": [organize],
        "type": "table",
    }


def stat(
    title: str,
    sql_text: str,
    columns: Sequence[tuple[str, str, str | None]],
    *,
    description: str = "",
    size: tuple[int, int] = (6, 4),
) -> Panel:
    """A stat panel showing each column of a one-row SQL query."""
    organize, overrides = _organize(columns)
    return {
        "datasource": PG,
        "description": description,
        "fieldConfig": {"defaults": {"color": {"mode": "thresholds"}}, "overrides": overrides},
        "options": {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value_and_name",
        },
        "size": size,
        "targets": [sql(sql_text, fmt="table")],
        "title": title,
        "transformations": [organize],
        "type": "stat",
    }


def es_table(title: str, target: dict[str, Any], *, description: str = "") -> Panel:
    """A table of an Elasticsearch terms query (one row per bucket)."""
    return {
        "datasource": target["datasource"],
        "description": description,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"cellHeight": "sm", "showHeader": True},
        "size": (12, 8),
        "targets": [target],
        "title": title,
        "type": "table",
    }


def logs(title: str, datasource: dict[str, str], query: str, *, description: str = "") -> Panel:
    """A logs panel (newest first) of the documents matching ``query``."""
    return {
        "datasource": datasource,
        "description": description,
        "options": {
            "dedupStrategy": "none",
            "enableLogDetails": True,
            "prettifyLogMessage": False,
            "showCommonLabels": False,
            "showLabels": False,
            "showTime": True,
            "sortOrder": "Descending",
            "wrapLogMessage": True,
        },
        "size": (24, 10),
        "targets": [
            es(datasource, query, [{"id": "1", "settings": {"limit": "500"}, "type": "logs"}], [])
        ],
        "title": title,
        "type": "logs",
    }


def app_log_levels(title: str, description: str) -> Panel:
    """Stacked bars of application log records per interval by level (logs-app-*)."""
    return timeseries(
        title,
        [es(ES_APP, LUCENE_SCOPE, [COUNT], [terms("level", order_by="_key"), histogram()])],
        unit="short",
        bars=True,
        stack=True,
        overrides=[
            fixed_color("error", "red"),
            fixed_color("warn", "orange"),
            fixed_color("info", "green"),
        ],
        description=description,
    )


def row(title: str) -> Panel:
    """A (expanded) row header."""
    return {"collapsed": False, "panels": [], "size": (24, 1), "title": title, "type": "row"}


def query_variable(name: str, label: str, sql_text: str, description: str) -> dict[str, Any]:
    """A multi-value PostgreSQL query variable, All by default, refreshed with the time range."""
    text = " ".join(sql_text.split())
    return {
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": PG,
        "definition": text,
        "description": description,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {
            "editorMode": "code",
            "format": "table",
            "rawQuery": True,
            "rawSql": text,
            "refId": f"{name}-variable",
        },
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


TENANT_VARIABLE = query_variable(
    "tenant",
    "Tenant",
    """
    SELECT name FROM team_management UNION SELECT 'default' ORDER BY 1
    """,
    "Tenants (teams). Hosts nobody assigned are in 'default' (docs/AUTH.md: Grafana).",
)
SERVICE_VARIABLE = query_variable(
    "service",
    "Service",
    """
    SELECT DISTINCT service FROM error_rates
    WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
    ORDER BY 1
    """,
    "Services with nginx traffic in the time range (error_rates).",
)
HOST_VARIABLE = query_variable(
    "host",
    "Host",
    """
    SELECT DISTINCT host FROM aggregated_metrics
    WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
      AND measurement = 'system' AND field = 'uptime'
      AND tenant IN (${tenant:sqlstring})
      AND (host IN (SELECT host FROM error_rates
                    WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'
                      AND service IN (${service:sqlstring}))
           OR host NOT IN (SELECT host FROM error_rates
                           WHERE $__timeFilter(window_start) AND window_kind = 'tumbling'))
    ORDER BY 1
    """,
    "Hosts of the chosen tenants reporting Telegraf's system input that serve the chosen services"
    " (or no service).",
)


INSTANCE_VARIABLE = {
    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    "datasource": PROM,
    "definition": 'label_values(up{job="lookout"}, instance)',
    "description": "Lookout workers Prometheus scrapes (job lookout).",
    "includeAll": True,
    "label": "Worker",
    "multi": True,
    "name": "instance",
    "options": [],
    "query": {
        "qryType": 1,
        "query": 'label_values(up{job="lookout"}, instance)',
        "refId": "instance-variable",
    },
    "refresh": 2,
    "regex": "",
    "sort": 1,
    "type": "query",
}


def alert_annotation() -> dict[str, Any]:
    """Annotation: alerts of the chosen hosts firing and resolving (alert_history)."""
    text = """
        SELECT event_time AS time,
               rule || ' ' || to_state || coalesce(' on ' || (labels ->> 'host'), '') AS text,
               rule AS tags
        FROM alert_history
        WHERE $__timeFilter(event_time) AND to_state IN ('firing', 'resolved')
          AND (labels ->> 'host' IS NULL OR labels ->> 'host' IN (${host:sqlstring}))
        ORDER BY 1
    """
    return {
        "datasource": PG,
        "enable": True,
        "iconColor": "red",
        "name": "Alerts",
        "target": sql(" ".join(text.split()), ref="Anno", fmt="table"),
    }


BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def layout(panels: Iterable[Panel]) -> list[Panel]:
    """Ids in order and grid positions: left to right, a new line when 24 columns are full."""
    out: list[Panel] = []
    x = y = line_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        placed = dict(panel)
        w, h = placed.pop("size")
        if x + w > 24 or placed["type"] == "row":
            x, y = 0, y + line_height
            line_height = 0
        placed["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        placed["id"] = panel_id
        x += w
        line_height = max(line_height, h)
        if placed["type"] == "row":
            x, y, line_height = 0, y + h, 0
        out.append(placed)
    return out


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Iterable[Panel],
    *,
    time_from: str = "now-6h",
    refresh: str = "30s",
    timezone: str = "browser",
    annotations: Sequence[dict[str, Any]] = (),
    variables: Sequence[dict[str, Any]] = (TENANT_VARIABLE, SERVICE_VARIABLE, HOST_VARIABLE),
) -> dict[str, Any]:
    """A dashboard with its variables (tenant, service and host by default) and links to the
    others."""
    return {
        "annotations": {"list": [BUILTIN_ANNOTATION, *annotations]},
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": TAGS,
                "title": "Lookout",
                "type": "dashboards",
            }
        ],
        "panels": layout(panels),
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": TAGS,
        "templating": {"list": list(variables)},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": timezone,
        "title": title,
        "uid": uid,
        "version": 1,
    }
