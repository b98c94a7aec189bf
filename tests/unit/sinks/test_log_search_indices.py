"""Log search asks only for the daily indices its time range can meet."""

from __future__ import annotations

from datetime import UTC, datetime

from sinks.log_search import MAX_DAYS_NAMED, daily_indices


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_daily_indices_of_a_range() -> None:
    one = daily_indices("p.", "logs-app", _ms("2026-12-07T10:00"), _ms("2026-12-07T11:00"))
    assert one == "p.logs-app-2026.12.07"
    # the end is exclusive: a range ending at midnight does not reach the next day
    two = daily_indices("p.", "logs-app", _ms("2026-12-06T23:00"), _ms("2026-12-08T00:00"))
    assert two == "p.logs-app-2026.12.06,p.logs-app-2026.12.07"
    year = daily_indices("", "logs-nginx", _ms("2026-01-01T00:00"), _ms("2026-12-31T00:00"))
    assert year == "logs-nginx-*"
    days = MAX_DAYS_NAMED * 86_400_000
    assert daily_indices("", "x", 0, days).count(",") == MAX_DAYS_NAMED - 1
