"""The pipeline's own counters, exposed at ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from collections import defaultdict


class Stats:
    """Labelled counters and gauges; cheap enough for the hot path (one dict add)."""

    def __init__(self) -> None:
        self.counters: defaultdict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(
            float
        )
        self.gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.help: dict[str, str] = {}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` to counter ``name`` with ``labels``."""
        self.counters[(name, tuple(sorted(labels.items())))] += value

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set gauge ``name`` with ``labels``."""
        self.gauges[(name, tuple(sorted(labels.items())))] = value

    def get(self, name: str, **labels: str) -> float:
        """Current value of a counter or gauge (0 if never touched)."""
        key = (name, tuple(sorted(labels.items())))
        return self.counters.get(key, self.gauges.get(key, 0.0))

    def total(self, name: str) -> float:
        """Sum of a counter over all its label sets."""
        return sum(v for (n, _), v in self.counters.items() if n == name)

    def render(self) -> str:
        """Prometheus text exposition of every counter and gauge."""
        lines: list[str] = []
        for kind, series in (("counter", self.counters), ("gauge", self.gauges)):
            names = sorted({n for n, _ in series})
            for name in names:
                lines.append(f"# HELP {name} {self.help.get(name, name.replace('_', ' '))}")
                lines.append(f"# TYPE {name} {kind}")
                for (n, labels), value in sorted(series.items()):
                    if n != name:
                        continue
                    lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{lab}}} {value:g}" if lab else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
