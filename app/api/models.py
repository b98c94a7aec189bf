"""The worker API's answers and ingest bodies as pydantic models (the OpenAPI components).

The views build plain dicts; these models describe them (field names and types), and tests
validate what the views build against them. An object whose keys depend on the data (a window
aggregate, labels, an alert's annotations) stays open. Ingest bodies are checked by the decoders
in ``formats``; ack and silence bodies by their models in :mod:`alerting.requests`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from alerting.suppression import AckResult

Open = dict[str, Any]
Num = float | None
Points = list[list[float]]
Scalar = str | float | bool
AlertStatus = Literal["pending", "firing", "resolved"]
NotifyStatus = Literal["pending", "sent", "failed", "suppressed"]


def shape(name: str, doc: str, **fields: Any) -> type[BaseModel]:
    """A model of an answer that only wraps others: these fields, all required."""
    required: dict[str, Any] = {k: (kind, ...) for k, kind in fields.items()}
    return create_model(name, __doc__=doc, **required)


class Error(BaseModel):
    """Every error answer: {"error": "..."} (a 429 adds retry_after)."""

    error: str


class SinkHealth(BaseModel):
    """A sink running in this worker: up when its last write succeeded, else since when (unix
    seconds) and why it fails (nothing is committed meanwhile)."""

    up: bool
    failing_since: float | None = None
    error: str | None = Field(None, examples=["transient: DiskFullError: could not extend file"])


class Health(BaseModel):
    """Worker health and counters."""

    status: Literal["ok", "rebalancing"]
    worker: str
    partitions: list[int]
    hosts: int
    records_in: float
    deadletter: float
    late: float
    windows_closed: float
    sinks: dict[str, SinkHealth] = Field(
        default_factory=dict, description="sinks running in this worker (LOOKOUT_SINKS), by name"
    )
    time: float


class Series(BaseModel):
    """One series of a host's open window."""

    name: str
    labels: Open
    value: Open = Field(description="the aggregate (keys depend on gauge, counter or log)")


class Window(BaseModel):
    """The open window of a host (no start, end or watermark when it has none)."""

    host: str
    kind: str
    start: int | None = None
    end: int | None = None
    watermark: Num = None
    series: list[Series]


class OpenWindow(BaseModel):
    """A series' value in an open window."""

    start: int
    end: int
    value: Open


class FinalWindow(OpenWindow):
    """A final record as written to lookout.windows."""

    id: str


class ServiceHost(OpenWindow):
    """A service's open error-rate window on one host."""

    host: str


class RecentSeries(BaseModel):
    """The last closed windows of one series."""

    name: str
    windows: list[FinalWindow]


class SeriesDetail(BaseModel):
    """One series of a host: its open window and its last closed windows."""

    host: str
    kind: str
    name: str
    labels: Open
    current: OpenWindow | None
    recent: list[FinalWindow]


class Headline(BaseModel):
    """One headline number of a host (CPU, memory, ...): now and per window start."""

    key: str
    label: str
    unit: str
    value: Num
    points: Points


class HostOverview(BaseModel):
    """One host on the live page."""

    host: str
    start: int | None
    end: int | None
    watermark: Num
    metrics: list[Headline]
    services: list[Open]
    requests: float
    error_rate: float
    tenant: str | None = None


class ServiceOverview(BaseModel):
    """One service on the live page, summed over its hosts."""

    service: str
    hosts: list[str]
    requests: float
    s5xx: float
    error_rate: float
    latency_p95: Num
    points: Points


class Alert(BaseModel):
    """One alert instance."""

    fingerprint: str
    host: str | None
    rule: str
    severity: str | None
    labels: dict[str, str]
    status: AlertStatus
    since: Num
    value: Num
    acknowledged: bool
    ack_by: str | None
    silenced_by: list[str]
    incident_id: str


class Incident(BaseModel):
    """A firing episode with open, ack and resolve times."""

    incident_id: str
    rule: str | None
    labels: Open | None
    host: str | None
    status: AlertStatus
    opened_at: Num
    resolved_at: Num
    acknowledged_by: str | None
    acknowledged_at: Num
    summary: str | None


class Incidents(BaseModel):
    """Incidents (with local=1: this worker's transition and ack records instead)."""

    incidents: list[Incident] | None = None
    records: list[Open] | None = None


class Silence(BaseModel):
    """A silence (active: in the listing only)."""

    id: str
    matchers: list[Annotated[list[str], Field(min_length=3, max_length=3)]] = Field(
        description="[label, op, value] with op one of =, !=, =~, !~"
    )
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    active: bool | None = None


class Pattern(BaseModel):
    """A mined log message template of a service (counts since it was first seen)."""

    service: str
    pattern_id: str = Field(description="stable id, as on the log documents and rows")
    template: str = Field(description="the message with variable parts as <NUM>, <IP>, <*> ...")
    count: int
    first_seen: float
    last_seen: float
    example: str = Field(description="the first line of the pattern (up to 512 characters)")


class Patterns(BaseModel):
    """Mined log patterns, most frequent first (all workers, or this one's with local=1)."""

    patterns: list[Pattern]


class Rule(BaseModel):
    """An alert rule as loaded."""

    name: str
    kind: str
    expression: str
    severity: str
    for_s: float
    keep_firing_for_s: float
    labels: dict[str, str]


class Notification(BaseModel):
    """One row of the notification outbox and the message it carries."""

    id: int
    status: NotifyStatus
    receiver: str
    group_key: str = Field(description="receiver|label=value,... (the aggregation group)")
    kind: Literal["firing", "update", "repeat", "resolved", "resolved_episode", "test"] | None
    alert_status: Literal["firing", "resolved"] | None
    reason: str | None = Field(description="why it was written or held back")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    transition_id: str | None
    idempotency_key: str
    group_labels: Open
    alerts: list[Open]
    truncated: int = Field(description="alerts left out of the message (at most 20 are listed)")


class TelegrafMetric(BaseModel):
    """One Telegraf JSON metric."""

    name: str = Field(min_length=1)
    tags: dict[str, Scalar] | None = Field(None, description="numbers and booleans become text")
    fields: dict[str, Scalar] = Field(min_length=1)
    timestamp: float | str | None = Field(
        None, description="epoch in s, ms, us or ns (LOOKOUT_TIMESTAMP_UNIT), or ISO 8601"
    )


class AppLog(BaseModel):
    """One application log record (message or msg); every other key is kept."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"anyOf": [{"required": ["message"]}, {"required": ["msg"]}]},
    )

    message: Any = Field(None, description="the log line (other types become text)")
    level: str | int | None = Field(None, description="or severity, levelname")
    service: Any = Field(None, description="or app, logger")
    host: Any = Field(None, description="or hostname (default: ?host=)")
    timestamp: float | str | None = Field(None, description="or @timestamp, time: epoch, ISO 8601")


class RejectedPart(BaseModel):
    """A part of an ingest body that could not be parsed."""

    reason: str
    detail: str
    part: str


class Rejected(BaseModel):
    """An ingest body that was not taken (field: the query parameter that is wrong)."""

    error: str
    rejected: list[RejectedPart] | None = None
    field: str | None = None


class BadParameter(BaseModel):
    """A query parameter (or the Last-Event-ID header) is wrong; param names it."""

    error: str
    param: str


class LogEntry(BaseModel):
    """One log document: found by a search (with highlights) or tailed."""

    id: str | None
    time: str | None = Field(description="@timestamp, ISO 8601 UTC")
    index: str | None
    doc: Open = Field(description="the document as stored (fields depend on nginx/app)")
    highlight: dict[str, list[str]] = Field(description="field -> text with <em> around matches")


class LogTotal(BaseModel):
    """Hits of a search (counted up to 10,000: relation gte above)."""

    value: int
    relation: Literal["eq", "gte"]


class LogPage(BaseModel):
    """A page of search results, newest first; cursor fetches the next one (None: last page)."""

    entries: list[LogEntry]
    total: LogTotal | None = Field(description="first page only")
    cursor: str | None
    took_ms: float


class TopKey(BaseModel):
    """A value of the split field and its count over the whole range."""

    key: str
    count: int


class StatsBucket(BaseModel):
    """Log lines in one histogram bucket, per top value of the split field (and the rest)."""

    time: str
    count: int
    by: dict[str, int] | None = None


class LogStats(BaseModel):
    """Log volume over time, split by a field's top values."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    interval: str
    split: str | None
    total: int
    top: list[TopKey]
    buckets: list[StatsBucket]


Recent = shape(
    "Recent", "Closed windows per series.", host=str, kind=str, series=list[RecentSeries]
)
ServiceWindows = shape(
    "ServiceWindows", "A service's open windows.", service=str, kind=str, hosts=list[ServiceHost]
)
Overview = shape(
    "Overview",
    "The live page's data.",
    kind=str,
    workers=int,
    hosts=list[HostOverview],
    services=list[ServiceOverview],
)
Hosts = shape("Hosts", "Hosts with window state.", hosts=list[str])
SeriesNames = shape("SeriesNames", "Series names.", series=list[str])
Alerts = shape("Alerts", "Alert instances.", alerts=list[Alert])
AckReply = shape("AckReply", "What an ack did.", fingerprint=str, result=AckResult)
Silences = shape("Silences", "Silences.", silences=list[Silence])
Deleted = shape("Deleted", "The id of the deleted silence.", deleted=str)
Rules = shape("Rules", "Alert rules.", rules=list[Rule])
Reloaded = shape("Reloaded", "How many rules are loaded now.", rules=int)
Notifications = shape(
    "Notifications", "The outbox, newest first.", notifications=list[Notification]
)
TelegrafBatch = shape(
    "TelegrafBatch",
    "Telegraf's batch format.",
    metrics=Annotated[list[TelegrafMetric], Field(min_length=1)],
)
Accepted = shape("Accepted", "Records produced to the topics.", accepted=int)
MetricsAccepted = shape("MetricsAccepted", "Metrics produced.", accepted=int, messages=int)
Document = create_model("Document", __doc__="This document.", __config__=ConfigDict(extra="allow"))
