"""Index templates and index names of the Elasticsearch sink (pure).

Daily indices ``{prefix}logs-nginx-YYYY.MM.DD`` (access and error entries, told apart by
``type``) and ``{prefix}logs-app-YYYY.MM.DD``; one ``{prefix}lookout-incidents`` index (written by
alerting later); ``{prefix}lookout-sink-markers`` holds one small document per (sink group, topic,
partition), which tells the sink whether the store still has what it wrote (see
sinks.elasticsearch). ``prefix`` is ``LOOKOUT_TOPIC_PREFIX`` made a valid index-name prefix, so
two deployments can share a cluster the way they share a broker.

Free-form objects (app log ``extra``, incident ``labels``) use ``flattened`` on Elasticsearch and
its OpenSearch counterpart ``flat_object`` on osmem: one field whatever keys arrive, so no mapping
explosion and no type conflicts between services.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

NGINX = "logs-nginx"
APP = "logs-app"
INCIDENTS = "lookout-incidents"
MARKERS = "lookout-sink-markers"
FAMILIES = (NGINX, APP)
PRIORITY = 200
# Keyword fields of every log document: the sort tie-breaker of log search, and the fields that
# tenants and the pattern miner add (mapped now so filters on them are exact from the start).
SEARCH_KEYS = ("log_id", "tenant", "pattern_id")

_BAD_INDEX_CHARS = re.compile(r'[\\/*?"<>| ,#:]')


def index_prefix(topic_prefix: str) -> str:
    """A valid index-name prefix from ``LOOKOUT_TOPIC_PREFIX`` (lower case, no bad characters)."""
    prefix = _BAD_INDEX_CHARS.sub("-", topic_prefix.lower())
    return prefix.lstrip("-_+.")


def daily_index(prefix: str, family: str, day: str) -> str:
    """``{prefix}{family}-{day}`` with ``day`` as ``YYYY.MM.DD``."""
    return f"{prefix}{family}-{day}"


def family_pattern(prefix: str, family: str) -> str:
    """Wildcard of every daily index of ``family``."""
    return f"{prefix}{family}-*"


def indices_to_drop(names: Iterable[str], prefix: str, family: str, keep: int) -> list[str]:
    """The daily indices of ``family`` beyond the ``keep`` newest days, oldest first."""
    daily = re.compile(re.escape(f"{prefix}{family}-") + r"\d{4}\.\d{2}\.\d{2}")
    days = sorted(name for name in names if daily.fullmatch(name))
    return days[: max(0, len(days) - keep)]


def object_type(flavour: str) -> dict[str, Any]:
    """Mapping of a free-form object: ``flattened`` (Elasticsearch) or ``flat_object``."""
    return {"type": "flat_object"} if flavour == "opensearch" else {"type": "flattened"}


def _keyword(*names: str) -> dict[str, Any]:
    return {name: {"type": "keyword", "ignore_above": 1024} for name in names}


def nginx_mappings() -> dict[str, Any]:
    """Mappings of nginx access and error entries."""
    return {
        "properties": {
            "@timestamp": {"type": "date"},
            **_keyword("type", "host", "service", "method", "path", "protocol", "status_class"),
            **_keyword(*SEARCH_KEYS),
            **_keyword("level", "category", "remote_user", "server", "vhost", "upstream"),
            "client_ip": {"type": "ip"},
            "forwarded_for": {"type": "keyword", "ignore_above": 256},
            "status": {"type": "short"},
            "bytes": {"type": "long"},
            "request_time": {"type": "float"},
            "upstream_time": {"type": "float"},
            "referrer": {"type": "keyword", "ignore_above": 2048},
            "agent": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
            "request": {"type": "keyword", "ignore_above": 2048},
            "message": {"type": "text"},
            "pid": {"type": "long"},
            "tid": {"type": "long"},
            "connection": {"type": "long"},
        }
    }


def app_mappings(flavour: str) -> dict[str, Any]:
    """Mappings of application log records."""
    return {
        "properties": {
            "@timestamp": {"type": "date"},
            **_keyword("level", "service", "host", *SEARCH_KEYS),
            "message": {"type": "text"},
            "extra": object_type(flavour),
        }
    }


def incident_mappings(flavour: str) -> dict[str, Any]:
    """Mappings of incidents (one document per incident, updated as it changes)."""
    return {
        "properties": {
            "@timestamp": {"type": "date"},
            **_keyword("incident_id", "fingerprint", "rule", "severity", "status", "host"),
            **_keyword("service", "acknowledged_by"),
            "labels": object_type(flavour),
            "summary": {"type": "text"},
            "opened_at": {"type": "date"},
            "acknowledged_at": {"type": "date"},
            "resolved_at": {"type": "date"},
        }
    }


def marker_mappings() -> dict[str, Any]:
    """Mappings of the sink's partition markers."""
    return {
        "properties": {
            "@timestamp": {"type": "date"},
            **_keyword("group", "topic"),
            "partition": {"type": "integer"},
        }
    }


def templates(prefix: str, flavour: str) -> dict[str, dict[str, Any]]:
    """Composable index templates by name: ``index_patterns``, ``template``, ``priority``."""
    bodies = {
        f"lookout-{NGINX}": ([family_pattern(prefix, NGINX)], nginx_mappings()),
        f"lookout-{APP}": ([family_pattern(prefix, APP)], app_mappings(flavour)),
        INCIDENTS: ([f"{prefix}{INCIDENTS}*"], incident_mappings(flavour)),
        MARKERS: ([f"{prefix}{MARKERS}"], marker_mappings()),
    }
    return {
        f"{prefix}{name}": {
            "index_patterns": patterns,
            "template": {"settings": {"number_of_shards": 1}, "mappings": mappings},
            "priority": PRIORITY,
        }
        for name, (patterns, mappings) in bodies.items()
    }
