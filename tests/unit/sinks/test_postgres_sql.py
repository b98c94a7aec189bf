"""The Postgres writer's SQL text and batch merging (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from sinks.pg_rows import COLUMNS
from sinks.postgres import create_stage_sql, insert_new_sql, merge, stage_name, upsert_sql

T = datetime(2024, 1, 1, tzinfo=UTC)


def test_staging_and_insert_statements() -> None:
    assert stage_name("error_logs") == "lookout_stage_error_logs"
    assert create_stage_sql("error_logs") == (
        "CREATE TEMP TABLE IF NOT EXISTS lookout_stage_error_logs "
        "(LIKE error_logs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    sql = insert_new_sql("server_metrics")
    assert sql.startswith("INSERT INTO server_metrics (time, host, measurement, field, tags, value")
    assert sql.endswith("FROM lookout_stage_server_metrics ON CONFLICT DO NOTHING")


def test_upsert_updates_only_when_a_value_differs() -> None:
    sql = upsert_sql("error_rates")
    assert "ON CONFLICT (service, host, window_kind, window_start) DO UPDATE SET" in sql
    assert "closed_at = EXCLUDED.closed_at" in sql
    where = sql.split(" WHERE ", 1)[1]
    assert "closed_at" not in where  # a re-emitted final with a later closed_at changes nothing
    assert "error_rates.requests" in where and "EXCLUDED.requests" in where
    assert "$" not in sql  # values travel as COPY data, never in the SQL text


def test_merge_concatenates_and_deduplicates_window_rows_by_key() -> None:
    def agg(count: int) -> tuple[object, ...]:
        base = dict.fromkeys(COLUMNS["aggregated_metrics"])
        base.update(series_id="s", window_kind="tumbling", window_start=T, count=count)
        return tuple(base.values())

    raw = (T, "h", "cpu", "x", "{}", 1.0, "t", 0, 1, 0)
    tables = merge(
        [
            {"server_metrics": [raw], "aggregated_metrics": [agg(1)]},
            {"server_metrics": [raw], "aggregated_metrics": [agg(2)], "error_logs": []},
        ]
    )
    assert tables["server_metrics"] == [raw, raw]  # raw duplicates are harmless (DO NOTHING)
    assert [
        r[COLUMNS["aggregated_metrics"].index("count")] for r in tables["aggregated_metrics"]
    ] == [2]
    assert "error_logs" not in tables
