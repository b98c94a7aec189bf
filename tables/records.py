"""What the window engine emits: the final record of a closed window, and a refused late record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.tenancy import TenantMap
from tables.series import SEP, describe_series

# describe_series per series id, shared by the final records of every window of the series (a
# record is serialised as soon as it is built and its labels are never changed).
_LABELS: dict[str, dict[str, Any]] = {}
_LABELS_MAX = 200_000


def _labels(series: str) -> dict[str, Any]:
    labels = _LABELS.get(series)
    if labels is None:
        if len(_LABELS) >= _LABELS_MAX:
            _LABELS.clear()
        labels = _LABELS[series] = describe_series(series)
    return labels


@dataclass(frozen=True, slots=True)
class Final:
    """The one final record of a closed window of one series."""

    host: str
    partition: int
    series: str
    kind: str
    start: int
    end: int
    result: dict[str, Any]

    @property
    def id(self) -> str:
        """Idempotent id: series + kind + window start."""
        return f"{self.series}{SEP}{self.kind}{SEP}{self.start}"

    def to_record(self, closed_at: float, tenants: TenantMap | None = None) -> dict[str, Any]:
        """The JSON record written to ``lookout.windows`` (with the host's tenant); its labels
        dict is shared with the series' other records: serialise it, do not change it."""
        labels = _labels(self.series)
        return {
            "id": self.id,
            "host": self.host,
            "tenant": tenants.of(self.host, labels) if tenants else None,
            "series": self.series,
            "labels": labels,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "value": self.result,
            "closed_at": closed_at,
        }


@dataclass(frozen=True, slots=True)
class Late:
    """A record refused because a window containing it had already closed."""

    host: str
    partition: int
    series: str
    ts: float
    mark: float
