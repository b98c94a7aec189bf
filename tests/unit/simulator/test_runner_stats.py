"""Run statistics as the progress line and the summary show them (no broker needed)."""

from __future__ import annotations

from devtools.simulator.runner import SimStats
from tests.unit.simulator.helpers import START


def test_line_and_summary() -> None:
    stats = SimStats(
        messages=12_345,
        metrics=1_000,
        logs=20_000,
        bytes=5_000_000,
        per_topic={"telegraf.metrics": 100, "logs.nginx": 12_000, "logs.app": 245},
        event_start=START,
        event_time=START + 150,
        elapsed=2.0,
        scenario="error_spike(shop)",
    )
    assert stats.rate == 6172.5
    assert stats.line() == (
        "simulate: 12,345 msgs (1,000 metrics, 20,000 logs) 6,172 msg/s | "
        "event 2024-01-01T00:02:30Z | error_spike(shop)"
    )
    summary = stats.summary()
    assert summary.endswith("\n") and "\n" not in summary[:-1]
    assert "telegraf.metrics 100, logs.nginx 12,000, logs.app 245" in summary
    assert "2024-01-01T00:00:00Z .. 2024-01-01T00:02:30Z" in summary
    assert "(stopped)" not in summary
    stats.stopped, stats.failed = True, 3
    assert stats.summary().rstrip().endswith("(stopped); 3 NOT delivered")
    assert SimStats().rate == 0.0


def test_progress_text_rewrites_one_terminal_line() -> None:
    from devtools.simulator.runner import _Line

    out: list[str] = []
    line = _Line(out.append)
    line.status("a long status line")
    line.status("short")
    line.final("summary\n")
    assert out == ["\ra long status line", "\rshort             ", "\rsummary\n"]
    _Line(None).final("nothing to write to\n")
