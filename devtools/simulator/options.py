"""Simulator options: one frozen dataclass, checked once with messages that name the flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devtools.simulator.fleet import host_names, service_names
from devtools.simulator.scenarios import Timeline, TimelineError, parse_timeline

FORMATS = ("batch", "json", "influx")


class OptionsError(ValueError):
    """A simulator option is wrong; the message names the option and the fix."""


@dataclass(frozen=True, slots=True)
class SimOptions:
    """What `lookout simulate` generates and how fast it sends it.

    ``duration`` or ``count`` selects fast mode (as fast as possible); otherwise the run is
    live and paced so that event time advances ``speed`` times as fast as the wall clock.
    ``timeline`` is a spec string (see :func:`devtools.simulator.scenarios.parse_timeline`) or a
    :class:`Timeline`.
    """

    hosts: int = 10
    services: int = 3
    interval: float = 10.0
    format: str = "batch"
    rate: float = 20.0
    seed: int = 42
    speed: float = 1.0
    duration: float | None = None
    count: int | None = None
    start: datetime | None = None
    timeline: str | Timeline = "default"
    app_logs: bool = True
    raw_logs: bool = False

    @property
    def fast(self) -> bool:
        """True when the run is bounded (``duration`` or ``count``) and sent unpaced."""
        return self.duration is not None or self.count is not None

    def check(self) -> None:
        """Raise :class:`OptionsError` naming the first bad option and its valid range."""
        problems = []
        if not 1 <= self.hosts <= 100_000:
            problems.append(f"--hosts must be between 1 and 100000 (given {self.hosts})")
        if not 1 <= self.services <= 1000:
            problems.append(f"--services must be between 1 and 1000 (given {self.services})")
        if not (1 <= self.interval <= 3600 and float(self.interval).is_integer()):
            problems.append(
                "--interval must be a whole number of seconds from 1 to 3600 "
                f"(given {self.interval})"
            )
        if self.format not in FORMATS:
            problems.append(f"--format must be one of {', '.join(FORMATS)} (given {self.format!r})")
        if not 0 <= self.rate <= 1_000_000:
            problems.append(f"--rate must be between 0 and 1000000 requests/s (given {self.rate})")
        if not self.speed > 0:
            problems.append(f"--speed must be greater than 0 (given {self.speed})")
        if self.duration is not None and not self.duration > 0:
            problems.append(f"--duration must be greater than 0 seconds (given {self.duration})")
        if self.count is not None and self.count < 1:
            problems.append(f"--count must be at least 1 (given {self.count})")
        if self.start is not None and self.start.tzinfo is None:
            problems.append("--start must carry a time zone, e.g. 2024-01-01T00:00:00Z")
        if problems:
            raise OptionsError("; ".join(problems))
        try:
            self.resolved_timeline().bind(host_names(self.hosts), service_names(self.services))
        except TimelineError as exc:
            raise OptionsError(f"--timeline: {exc}") from None

    def resolved_timeline(self) -> Timeline:
        """The timeline, parsed if given as a spec (``default`` sized for ``hosts``)."""
        if isinstance(self.timeline, Timeline):
            return self.timeline
        return parse_timeline(self.timeline, hosts=self.hosts)
