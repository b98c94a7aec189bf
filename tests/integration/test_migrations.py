"""Migrations, the migration runner, retention, demo data and the BI views on a real Postgres.

Each test gets its own database (created next to the session's ``pg_dsn`` database), so the
runner always starts from an empty schema.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from devtools.demo_data import seed_demo
from sinks.migrations import LOCK_KEY, MIGRATIONS_DIR, MigrationError, migrate, retention
from sinks.pg_rows import COLUMNS

pytestmark = pytest.mark.integration

# Every shipped migration, in order (a new file in infra/migrations is added here too).
FILES = [
    "0001_core.sql",
    "0002_business.sql",
    "0003_views.sql",
    "0005_notify_groups.sql",
    "0006_identity.sql",
    "0007_tenant_columns.sql",
    "0008_log_pattern_ids.sql",
    "0009_outbox_group_order.sql",
]
TABLES = {
    "server_metrics", "aggregated_metrics", "error_rates", "error_logs", "application_logs",
    "downtime_logs", "alert_configuration", "alert_history", "incidents", "silences",
    "notifications", "applications", "location", "users", "members", "team_management",
    "team_members", "team_server_assignment", "user_access_logs", "cost_data",
    "resource_allocation", "incident_response_logs", "servers", "schema_migrations",
    "notify_alerts", "notify_groups", "notify_group_alerts",
    "tenant_roles", "ingest_keys", "refresh_tokens", "host_tenants",
}  # fmt: skip
VIEWS = {
    "v_daily_uptime", "v_incident_mtta_mttr", "v_error_rate_trend", "v_cost_vs_usage",
    "v_host_tenant",
}  # fmt: skip
TODAY = datetime.now(UTC).date()


def untenanted(table: str) -> list[str]:
    """The columns of a pipeline table before 0007 added ``tenant`` (it takes its default) and
    0008 ``pattern_id`` (null)."""
    return [c for c in COLUMNS[table] if c not in ("tenant", "pattern_id")]


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


async def fetch(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def execute(dsn: str, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database on the session's server."""
    name = f"lookout_mig_{uuid.uuid4().hex[:10]}"
    await execute(pg_dsn, f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{name}"))
    await execute(pg_dsn, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def migrated(db: str) -> str:
    await migrate(db, progress=lambda line: None)
    return db


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped migrations that a test may change."""
    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))


# ---------------------------------------------------------------- the runner


async def test_migrate_applies_every_file_and_creates_every_table_and_view(db: str) -> None:
    lines: list[str] = []
    assert await migrate(db, progress=lines.append) == FILES
    assert len(lines) == len(FILES)
    for line, name in zip(lines, FILES, strict=True):
        assert re.fullmatch(rf"migrate: applying {re.escape(name)} \.\.\. ok \(\d+ ms\)", line)
    rows = await fetch(
        db,
        "SELECT table_name, table_type FROM information_schema.tables"
        " WHERE table_schema = 'public'",
    )
    assert {r["table_name"] for r in rows if r["table_type"] == "BASE TABLE"} == TABLES
    assert {r["table_name"] for r in rows if r["table_type"] == "VIEW"} == VIEWS
    ledger = await fetch(db, "SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
    assert [(r["version"], r["name"]) for r in ledger] == [(f[:4], f) for f in FILES]
    assert all(len(r["checksum"]) == 64 for r in ledger)


async def test_second_migrate_applies_nothing_and_says_so(migrated: str) -> None:
    lines: list[str] = []
    assert await migrate(migrated, progress=lines.append) == []
    assert lines == [f"migrate: nothing to apply, {len(FILES)} migrations already applied"]


async def test_new_file_is_applied_on_top(db: str, folder: Path) -> None:
    await migrate(db, folder=folder, progress=lambda line: None)
    (folder / "9999_extra.sql").write_text("CREATE TABLE extra (id int PRIMARY KEY);\n")
    assert await migrate(db, folder=folder, progress=lambda line: None) == ["9999_extra.sql"]
    assert await fetch(db, "SELECT * FROM extra") == []


async def test_changed_checksum_is_refused_before_anything_is_applied(
    db: str, folder: Path
) -> None:
    await migrate(db, folder=folder, progress=lambda line: None)
    changed = folder / "0002_business.sql"
    changed.write_text(changed.read_text() + "\nCREATE TABLE sneaky (id int);\n")
    (folder / "9999_extra.sql").write_text("CREATE TABLE extra (id int);\n")
    with pytest.raises(MigrationError) as caught:
        await migrate(db, folder=folder, progress=lambda line: None)
    message = str(caught.value)
    assert "0002_business.sql was changed after it was applied" in message
    assert "new migration" in message
    tables = await fetch(
        db, "SELECT count(*) AS n FROM pg_tables WHERE tablename IN ('sneaky', 'extra')"
    )
    assert tables[0]["n"] == 0
    assert len(await fetch(db, "SELECT * FROM schema_migrations")) == len(FILES)


async def test_failing_file_rolls_back_and_names_the_line(db: str, folder: Path) -> None:
    (folder / "9999_bad.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT 1;\nCREATE TABLE broken (id nosuchtype);\n"
    )
    lines: list[str] = []
    with pytest.raises(MigrationError) as caught:
        await migrate(db, folder=folder, progress=lines.append)
    assert "9999_bad.sql line 3" in str(caught.value)
    assert 'type "nosuchtype" does not exist' in str(caught.value)
    assert lines[-1] == "migrate: applying 9999_bad.sql ... failed"
    assert not await fetch(db, "SELECT 1 FROM pg_tables WHERE tablename = 'half_done'")
    assert len(await fetch(db, "SELECT * FROM schema_migrations")) == len(FILES)


async def test_concurrent_migrates_apply_each_file_once(db: str) -> None:
    results = await asyncio.gather(*(migrate(db, progress=lambda line: None) for _ in range(3)))
    assert sorted(results, key=len) == [[], [], FILES]
    ledger = await fetch(db, "SELECT name FROM schema_migrations ORDER BY version")
    assert [r["name"] for r in ledger] == FILES


async def test_migrates_wait_for_the_advisory_lock_then_find_nothing_to_do(db: str) -> None:
    holder = await asyncpg.connect(db)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        lines: list[list[str]] = [[], []]
        tasks = [asyncio.create_task(migrate(db, progress=out.append)) for out in lines]
        for _ in range(200):
            if all(out for out in lines):
                break
            await asyncio.sleep(0.02)
        assert [out[0] for out in lines] == [
            "migrate: another process is migrating this database; waiting for it to finish"
        ] * 2
        assert not any(task.done() for task in tasks)
        await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        results = await asyncio.gather(*tasks)
    finally:
        await holder.close()
    assert sorted(results, key=len) == [[], FILES]


async def test_lock_wait_gives_up_with_a_clear_message(db: str) -> None:
    holder = await asyncpg.connect(db)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        with pytest.raises(MigrationError, match=r"waited 0\.2 s for the migration lock"):
            await migrate(db, progress=lambda line: None, lock_timeout=0.2)
    finally:
        await holder.close()
    assert not await fetch(db, "SELECT 1 FROM pg_tables WHERE tablename = 'schema_migrations'")


async def test_unreachable_server_gives_a_clear_error_without_the_password() -> None:
    with pytest.raises(MigrationError) as caught:
        await migrate("postgresql://lookout:s3cret@127.0.0.1:1/lookout", progress=print)
    message = str(caught.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/lookout" in message
    assert "LOOKOUT_POSTGRES_DSN" in message
    assert "s3cret" not in message


async def test_tenant_columns_take_the_tenant_of_hosts_assigned_when_migrated(
    db: str, folder: Path
) -> None:
    (folder / "0007_tenant_columns.sql").unlink()
    await migrate(db, folder=folder, progress=lambda line: None)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    conn = await asyncpg.connect(db)
    try:
        await conn.execute("INSERT INTO team_management (name) VALUES ('acme')")
        await conn.execute("INSERT INTO host_tenants (host, tenant) VALUES ('web-a', 'acme')")
        for host in ("web-a", "web-b"):
            await conn.execute(
                "INSERT INTO aggregated_metrics (series_id, window_kind, window_start,"
                " window_end, host, measurement, field, count) VALUES"
                " ($1, 'tumbling', $2, $3, $4, 'cpu', 'x', 1)",
                f"cpu,host={host} x", when, when + timedelta(minutes=1), host,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO application_logs (time, service, host, level, message, src_topic,"
                " src_partition, src_offset) VALUES ($1, 's', $2, 'info', 'm', 't', 0, $3)",
                when, host, ord(host[-1]),
            )  # fmt: skip
            tenant = ', "tenant": "acme"' if host == "web-a" else ""
            labels = f'{{"host": "{host}"{tenant}}}'
            await conn.execute(
                "INSERT INTO incidents (incident_id, fingerprint, rule, severity, labels,"
                " opened_at) VALUES ($1, $1, 'r', 'critical', $2::jsonb, $3)",
                host, labels, when,
            )  # fmt: skip
    finally:
        await conn.close()
    shutil.copy(MIGRATIONS_DIR / "0007_tenant_columns.sql", folder)
    assert await migrate(db, folder=folder, progress=lambda line: None) == [
        "0007_tenant_columns.sql"
    ]
    for table in ("aggregated_metrics", "application_logs", "incidents"):
        rows = await fetch(db, f"SELECT host, tenant FROM {table} ORDER BY host")
        want = "default" if table != "incidents" else None  # incidents: their tenant label
        assert [tuple(r) for r in rows] == [("web-a", "acme"), ("web-b", want)], table


# ---------------------------------------------------------------- natural keys and retention


async def test_copy_then_insert_on_conflict_makes_a_replay_insert_nothing(migrated: str) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    rows = [
        (
            when,
            "host-000",
            "cpu",
            field,
            '{"cpu": "cpu-total"}',
            value,
            "telegraf.metrics",
            3,
            17,
            0,
        )
        for field, value in (("usage_active", 12.5), ("usage_idle", 87.5))
    ] + [(when, "host-000", "mem", "used_percent", "{}", 40.0, "telegraf.metrics", 3, 17, 1)]
    conn = await asyncpg.connect(migrated)
    try:
        inserted = []
        for _ in range(2):
            async with conn.transaction():
                await conn.execute(
                    "CREATE TEMP TABLE stage (LIKE server_metrics INCLUDING DEFAULTS)"
                    " ON COMMIT DROP"
                )
                await conn.copy_records_to_table(
                    "stage", records=rows, columns=untenanted("server_metrics")
                )
                status = await conn.execute(
                    "INSERT INTO server_metrics SELECT * FROM stage ON CONFLICT DO NOTHING"
                )
                inserted.append(status)
        assert inserted == ["INSERT 0 3", "INSERT 0 0"]
    finally:
        await conn.close()


async def test_retention_deletes_only_old_raw_rows_in_batches(migrated: str) -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    old, new = now - timedelta(days=30), now - timedelta(days=1)
    topic = "telegraf.metrics"
    metrics = [(old, "host-000", "cpu", "usage_active", "{}", 1.0, topic, 0, n, 0)
               for n in range(25_000)]  # fmt: skip
    metrics += [(new, "host-000", "cpu", "usage_active", "{}", 1.0, topic, 1, n, 0)
                for n in range(100)]  # fmt: skip
    app_logs = [(t, "shop", "host-000", "info", "hi", "{}", "logs.app", 0, n, 0)
                for n, t in enumerate([old, old, old, new, new])]  # fmt: skip
    errors = [(t, "host-000", "shop", "error", "other", "boom", None, None, None, None,
               "logs.nginx", 0, n, 0) for n, t in enumerate([old, new])]  # fmt: skip
    conn = await asyncpg.connect(migrated)
    try:
        for table, records in [
            ("server_metrics", metrics),
            ("application_logs", app_logs),
            ("error_logs", errors),
        ]:
            await conn.copy_records_to_table(table, records=records, columns=untenanted(table))
    finally:
        await conn.close()

    counts = await retention(migrated, keep_days=7, now=now)
    assert counts == {"server_metrics": 25_000, "application_logs": 3, "error_logs": 1}
    left = await fetch(
        migrated,
        "SELECT (SELECT count(*) FROM server_metrics) AS m,"
        " (SELECT count(*) FROM application_logs) AS a, (SELECT count(*) FROM error_logs) AS e,"
        " (SELECT min(time) FROM server_metrics) AS oldest",
    )
    assert tuple(left[0]) == (100, 2, 1, new)
    assert await retention(migrated, keep_days=7, now=now) == dict.fromkeys(counts, 0)
    with pytest.raises(ValueError, match="keep_days must be at least 1"):
        await retention(migrated, keep_days=0)


# ---------------------------------------------------------------- demo data


async def test_seed_demo_is_idempotent_and_joins_to_hosts_and_services(migrated: str) -> None:
    first = await seed_demo(migrated, today=TODAY)
    second = await seed_demo(migrated, today=TODAY)
    assert first == second
    for table, count in first.items():
        rows = await fetch(migrated, f"SELECT count(*) AS n FROM {table}")
        assert rows[0]["n"] == count, table
    assert first["servers"] == 10
    assert first["incident_response_logs"] == 0
    servers = await fetch(
        migrated,
        "SELECT s.host, s.application, t.name AS team FROM servers s"
        " JOIN team_server_assignment a ON a.host = s.host AND a.role = 'primary'"
        " JOIN team_management t ON t.team_id = a.team_id ORDER BY s.host",
    )
    assert [r["host"] for r in servers] == [f"host-{n:03d}" for n in range(10)]
    assert {r["application"] for r in servers} == {"shop", "api", "auth"}
    assert {r["team"] for r in servers if r["application"] == "shop"} == {"Shop team"}
    costs = await fetch(migrated, "SELECT DISTINCT application FROM cost_data ORDER BY application")
    assert [r["application"] for r in costs] == ["api", "auth", "shop"]


async def test_seed_demo_with_fewer_hosts_than_services_shares_servers(migrated: str) -> None:
    await seed_demo(migrated, today=TODAY)
    counts = await seed_demo(migrated, hosts=2, services=["shop", "api", "auth"], today=TODAY)
    assert counts["servers"] == 2
    rows = await fetch(
        migrated,
        "SELECT application, array_agg(host ORDER BY host) AS hosts FROM resource_allocation"
        " GROUP BY application ORDER BY application",
    )
    # as `lookout simulate` spreads them: host-000 serves shop and auth, host-001 serves api
    assert [(r["application"], r["hosts"]) for r in rows] == [
        ("api", ["host-001"]), ("auth", ["host-000"]), ("shop", ["host-000"]),
    ]  # fmt: skip


# ---------------------------------------------------------------- views


async def test_daily_uptime_clips_at_midnight_and_merges_overlaps(migrated: str) -> None:
    await seed_demo(migrated, today=TODAY)
    d1, d2, d3 = (TODAY - timedelta(days=n) for n in (3, 2, 1))
    downtime = [
        # host-001:  d1 23:30 |==== midnight ====| d2 00:45   (1800 s on d1, 2700 s on d2)
        #                              d2 00:30 |======| 01:00 (overlaps: d2 total 3600 s)
        ("host-001", midnight(d2) - timedelta(minutes=30), midnight(d2) + timedelta(minutes=45)),
        ("host-001", midnight(d2) + timedelta(minutes=30), midnight(d2) + timedelta(hours=1)),
        # host-002: down since d2 12:00 and not back: half of d2, all of d3, today until now.
        ("host-002", midnight(d2) + timedelta(hours=12), None),
    ]
    conn = await asyncpg.connect(migrated)
    try:
        await conn.executemany(
            "INSERT INTO downtime_logs (host, down_at, up_at, reason, rule)"
            " VALUES ($1, $2, $3, 'no data', 'host_down')",
            downtime,
        )
    finally:
        await conn.close()
    rows = await fetch(
        migrated,
        "SELECT host, day, observed_seconds, downtime_seconds, uptime_pct, downtime_events,"
        " sla_met FROM v_daily_uptime WHERE host IN ('host-001', 'host-002') AND day >= $1",
        d1 - timedelta(days=1),
    )
    by_key = {(r["host"], r["day"]): r for r in rows}
    day0 = by_key[("host-001", d1 - timedelta(days=1))]
    assert (day0["downtime_seconds"], day0["uptime_pct"], day0["sla_met"]) == (0, 100, True)
    first = by_key[("host-001", d1)]
    assert first["observed_seconds"] == 86_400
    assert first["downtime_seconds"] == 1_800
    assert float(first["uptime_pct"]) == pytest.approx(100 * (86_400 - 1_800) / 86_400, abs=1e-4)
    assert first["downtime_events"] == 1
    second = by_key[("host-001", d2)]
    assert second["downtime_seconds"] == 3_600
    assert float(second["uptime_pct"]) == pytest.approx(100 * (86_400 - 3_600) / 86_400, abs=1e-4)
    assert second["downtime_events"] == 2
    assert by_key[("host-001", d3)]["downtime_seconds"] == 0
    assert by_key[("host-002", d2)]["downtime_seconds"] == 43_200
    assert by_key[("host-002", d3)]["uptime_pct"] == 0
    assert by_key[("host-002", d3)]["sla_met"] is False
    today = by_key[("host-002", TODAY)]
    assert 0 < today["observed_seconds"] <= 86_400
    assert today["downtime_seconds"] == today["observed_seconds"]
    # every server has a row for every day since it was commissioned
    per_host = await fetch(migrated, "SELECT host, count(*) AS days FROM v_daily_uptime GROUP BY 1")
    assert len(per_host) == 10
    assert all(r["days"] >= 90 for r in per_host)


async def test_incident_mtta_mttr_per_team_and_application(migrated: str) -> None:
    t0 = midnight(TODAY - timedelta(days=1))
    m = timedelta(minutes=1)
    incidents = [
        ("inc-1", '{"host": "host-000"}', t0, t0 + 5 * m, t0 + 60 * m, "resolved"),
        ("inc-2", '{"host": "host-000"}', t0 + 120 * m, t0 + 135 * m, t0 + 240 * m, "resolved"),
        ("inc-3", '{"host": "host-000"}', t0 + 300 * m, None, None, "open"),
        ("inc-4", '{"service": "auth"}', t0, t0 + m, t0 + 11 * m, "resolved"),
    ]
    conn = await asyncpg.connect(migrated)
    try:
        await conn.executemany(
            "INSERT INTO incidents (incident_id, fingerprint, rule, severity, labels, opened_at,"
            " acknowledged_at, resolved_at, status)"
            " VALUES ($1, $1, 'cpu_high', 'critical', $2::jsonb, $3, $4, $5, $6)",
            incidents,
        )
    finally:
        await conn.close()
    counts = await seed_demo(migrated, today=TODAY)
    assert counts["incident_response_logs"] == 9  # ack + investigating + resolved, three times

    rows = await fetch(migrated, "SELECT * FROM v_incident_mtta_mttr ORDER BY team")
    by_team = {(r["team"], r["application"]): r for r in rows}
    assert set(by_team) == {("Shop team", "shop"), ("Auth team", "auth")}
    shop = by_team[("Shop team", "shop")]
    assert (shop["incidents"], shop["open_incidents"], shop["acknowledged"], shop["resolved"]) == (
        3, 1, 2, 2,
    )  # fmt: skip
    assert shop["mtta_seconds"] == 600  # (5 + 15) / 2 minutes
    assert shop["mttr_seconds"] == 5_400  # (60 + 120) / 2 minutes
    assert shop["max_ttr_seconds"] == 7_200
    auth = by_team[("Auth team", "auth")]
    assert (auth["mtta_seconds"], auth["mttr_seconds"]) == (60, 660)
    responders = await fetch(
        migrated,
        "SELECT DISTINCT t.name FROM incident_response_logs r"
        " JOIN team_members tm ON tm.member_id = r.member_id AND tm.role = 'on_call'"
        " JOIN team_management t ON t.team_id = tm.team_id",
    )
    assert {r["name"] for r in responders} == {"Shop team", "Auth team"}


async def test_error_rate_trend_recomputes_rates_from_tumbling_counts(migrated: str) -> None:
    hour = midnight(TODAY - timedelta(days=1)) + timedelta(hours=10)
    rows = [
        # service, host, kind, start, requests, s4xx, s5xx, p95
        ("shop", "host-000", "tumbling", hour, 100, 10, 5, 0.2),
        ("shop", "host-003", "tumbling", hour + timedelta(minutes=1), 300, 0, 15, 0.4),
        ("shop", "host-000", "tumbling", hour + timedelta(hours=1), 100, 0, 0, 0.1),
        ("shop", "host-000", "hopping", hour, 10_000, 0, 9_000, 9.9),  # overlapping: ignored
    ]
    conn = await asyncpg.connect(migrated)
    try:
        await conn.executemany(
            "INSERT INTO error_rates (service, host, window_kind, window_start, window_end,"
            " requests, s2xx, s4xx, s5xx, latency_p95)"
            " VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '60 seconds',"
            " $5::bigint, $5::bigint - $6::bigint - $7::bigint, $6, $7, $8)",
            rows,
        )
    finally:
        await conn.close()
    trend = await fetch(
        migrated,
        "SELECT granularity, bucket_start, hosts, requests, s5xx, error_rate, client_error_rate,"
        " max_latency_p95 FROM v_error_rate_trend WHERE service = 'shop'"
        " ORDER BY granularity, bucket_start",
    )
    got = [
        (r["granularity"], r["bucket_start"], r["hosts"], r["requests"], r["s5xx"]) for r in trend
    ]
    assert got == [
        ("day", midnight(TODAY - timedelta(days=1)), 2, 500, 20),
        ("hour", hour, 2, 400, 20),
        ("hour", hour + timedelta(hours=1), 1, 100, 0),
    ]
    assert trend[0]["error_rate"] == pytest.approx(0.04)
    assert trend[1]["error_rate"] == pytest.approx(0.05)
    assert trend[1]["client_error_rate"] == pytest.approx(0.025)
    assert trend[1]["max_latency_p95"] == pytest.approx(0.4)


async def test_cost_vs_usage_joins_cost_allocation_and_cpu_memory(migrated: str) -> None:
    await seed_demo(migrated, today=TODAY)
    day = TODAY - timedelta(days=1)
    start = midnight(day) + timedelta(hours=6)
    windows = [
        # series, measurement, field, tags, window start offset (min), count, sum
        ("cpu-total", "cpu", "usage_active", '{"cpu": "cpu-total"}', 0, 6, 300.0),  # mean 50
        ("cpu-total", "cpu", "usage_active", '{"cpu": "cpu-total"}', 1, 6, 600.0),  # mean 100
        ("cpu0", "cpu", "usage_active", '{"cpu": "cpu0"}', 0, 6, 0.0),  # per-core: ignored
        ("mem", "mem", "used_percent", "{}", 0, 4, 160.0),  # mean 40
    ]
    conn = await asyncpg.connect(migrated)
    try:
        await conn.executemany(
            "INSERT INTO aggregated_metrics (series_id, window_kind, window_start, window_end,"
            " host, measurement, field, tags, count, sum, mean)"
            " VALUES ('host-000/' || $1, 'tumbling', $2::timestamptz,"
            " $2::timestamptz + interval '60 seconds', 'host-000',"
            " $3, $4, $5::jsonb, $6::bigint, $7::float8, $7::float8 / $6::bigint)",
            [(s, start + timedelta(minutes=o), m, f, t, c, total)
             for s, m, f, t, o, c, total in windows],
        )  # fmt: skip
        host = await conn.fetchrow(
            "SELECT cpu_cores, memory_gb FROM resource_allocation WHERE host = 'host-000'"
        )
        shop = await conn.fetchrow(
            "SELECT sum(cpu_cores) AS cores, sum(memory_gb) AS mem FROM resource_allocation"
            " WHERE application = 'shop'"
        )
        cost = await conn.fetchval(
            "SELECT sum(amount) FROM cost_data WHERE application = 'shop' AND cost_date = $1", day
        )
        row = await conn.fetchrow(
            "SELECT * FROM v_cost_vs_usage WHERE application = 'shop' AND day = $1", day
        )
        all_rows = await conn.fetchval("SELECT count(*) FROM v_cost_vs_usage")
    finally:
        await conn.close()
    used_cores = float(host["cpu_cores"]) * 0.75
    assert row["cost"] == cost
    assert row["servers"] == 4  # host-000, 003, 006, 009
    assert row["allocated_cpu_cores"] == shop["cores"]
    assert row["used_cpu_cores"] == pytest.approx(used_cores)
    assert row["cpu_utilisation_pct"] == pytest.approx(75.0)
    assert row["allocated_memory_gb"] == shop["mem"]
    assert row["used_memory_gb"] == pytest.approx(float(host["memory_gb"]) * 0.4)
    assert row["memory_utilisation_pct"] == pytest.approx(40.0)
    assert row["cost_per_used_core"] == pytest.approx(float(cost) / used_cores)
    assert all_rows == 3 * 30  # one row per application and cost day
