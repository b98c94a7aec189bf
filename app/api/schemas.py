"""JSON schemas of the worker API's bodies (components of the OpenAPI document)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
OPEN = {"type": "object", "additionalProperties": True}
NUM = {"type": ["number", "null"]}
INT = {"type": "integer"}
STR = {"type": "string"}


def ref(name: str) -> dict[str, str]:
    """A reference to ``#/components/schemas/NAME``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    """An object schema with these properties (and required names)."""
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


SCHEMAS: dict[str, Any] = {
    "Error": obj(("error",), error=STR),
    "Series": obj(
        ("name", "labels", "value"),
        name=STR,
        labels=OPEN,
        value={**OPEN, "description": "the aggregate (keys depend on gauge, counter or log)"},
    ),
    "Window": obj(
        ("host", "kind", "series"),
        host=STR,
        kind=STR,
        start=INT,
        end=INT,
        watermark=NUM,
        series={"type": "array", "items": ref("Series")},
    ),
    "FinalWindow": {
        **obj(("id", "start", "end", "value"), id=STR, start=INT, end=INT, value=OPEN),
        "description": "a final record as written to lookout.windows",
    },
    "SeriesDetail": obj(
        ("host", "kind", "name", "labels", "current", "recent"),
        host=STR,
        kind=STR,
        name=STR,
        labels=OPEN,
        current={"oneOf": [{"type": "null"}, obj(("start", "end", "value"), start=INT, end=INT)]},
        recent={"type": "array", "items": ref("FinalWindow")},
    ),
    "Alert": obj(
        ("fingerprint", "rule", "labels", "status"),
        fingerprint=STR,
        host={"type": ["string", "null"]},
        rule=STR,
        severity={"type": ["string", "null"]},
        labels={"type": "object", "additionalProperties": STR},
        status={"type": "string", "enum": ["pending", "firing", "resolved"]},
        since=NUM,
        value=NUM,
        acknowledged={"type": "boolean"},
        ack_by={"type": ["string", "null"]},
        silenced_by={"type": "array", "items": STR},
        incident_id=STR,
    ),
    "Incident": obj(
        ("incident_id", "status"),
        incident_id=STR,
        rule={"type": ["string", "null"]},
        labels={"type": ["object", "null"]},
        host={"type": ["string", "null"]},
        status={"type": "string", "enum": ["pending", "firing", "resolved"]},
        opened_at=NUM,
        resolved_at=NUM,
        acknowledged_by={"type": ["string", "null"]},
        acknowledged_at=NUM,
        summary={"type": ["string", "null"]},
    ),
    "Silence": obj(
        ("id", "matchers", "starts_at", "ends_at"),
        id=STR,
        matchers={
            "type": "array",
            "items": {"type": "array", "items": STR, "minItems": 3, "maxItems": 3},
            "description": "[label, op, value] with op one of =, !=, =~, !~",
        },
        starts_at={"type": "number"},
        ends_at={"type": "number"},
        created_by=STR,
        comment=STR,
        active={"type": "boolean"},
    ),
    "NewSilence": {
        **obj(
            ("matchers", "created_by"),
            matchers={
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"minLength": 1},
                "additionalProperties": {"type": "string"},
                "description": "label: value; a value may start with =, !=, =~ or !~",
            },
            duration={
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "description": "seconds from starts_at (or give ends_at)",
            },
            ends_at={"type": ["number", "null"], "description": "epoch seconds, after starts_at"},
            starts_at={"type": ["number", "null"], "description": "epoch seconds (default: now)"},
            created_by={"type": "string", "pattern": "\\S", "maxLength": 200},
            comment={"type": ["string", "null"], "maxLength": 2000},
            id={"type": ["string", "null"], "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        ),
        "anyOf": [{"required": ["duration"]}, {"required": ["ends_at"]}],
    },
    "Ack": obj(
        ("by",),
        by={"type": "string", "pattern": "\\S", "maxLength": 200},
        comment={"type": ["string", "null"], "maxLength": 2000},
    ),
    "HostOverview": obj(
        ("host", "metrics", "services", "requests", "error_rate"),
        host=STR,
        start={"type": ["integer", "null"]},
        end={"type": ["integer", "null"]},
        watermark=NUM,
        metrics={
            "type": "array",
            "items": obj(
                ("key", "label", "unit", "value", "points"),
                key=STR,
                label=STR,
                unit=STR,
                value=NUM,
                points={"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
            ),
        },
        services={"type": "array", "items": OPEN},
        requests={"type": "number"},
        error_rate={"type": "number"},
    ),
    "ServiceOverview": obj(
        ("service", "hosts", "requests", "error_rate", "points"),
        service=STR,
        hosts={"type": "array", "items": STR},
        requests={"type": "number"},
        s5xx={"type": "number"},
        error_rate={"type": "number"},
        latency_p95=NUM,
        points={"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
    ),
}

SCALAR = {"type": ["string", "number", "boolean"]}
METRIC = obj(
    ("name", "fields"),
    name={"type": "string", "minLength": 1},
    tags={
        "type": ["object", "null"],
        "additionalProperties": SCALAR,
        "description": "numbers and booleans are taken as text",
    },
    fields={"type": "object", "minProperties": 1, "additionalProperties": SCALAR},
    timestamp={
        "type": ["number", "string", "null"],
        "description": "epoch in s, ms, us or ns (LOOKOUT_TIMESTAMP_UNIT), or ISO 8601",
    },
)
APP_LOG = {
    **obj(
        message={"description": "the log line (msg also works; other types become text)"},
        level={"type": ["string", "integer", "null"], "description": "or severity, levelname"},
        service={"description": "or app, logger"},
        host={"description": "or hostname (default: ?host=)"},
        timestamp={
            "type": ["number", "string", "null"],
            "description": "or @timestamp, time: epoch or ISO 8601",
        },
    ),
    "anyOf": [{"required": ["message"]}, {"required": ["msg"]}],
    "description": "one application log record; every other key is kept",
}
SCHEMAS.update(
    {
        "TelegrafMetric": METRIC,
        "TelegrafBatch": obj(
            ("metrics",), metrics={"type": "array", "minItems": 1, "items": ref("TelegrafMetric")}
        ),
        "AppLog": APP_LOG,
    }
)
