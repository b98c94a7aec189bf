"""Demo data: a coherent business catalogue (seed 000's mock tables) for the BI views.

Servers are ``host-000``, ``host-001``, ... serving the given services exactly as ``lookout
simulate`` names and spreads them (``devtools.simulator.fleet``), so the catalogue joins to what the
pipeline writes.
``seed_demo`` replaces the business tables only (truncate and fill in one transaction, so a second
run gives the same rows); pipeline tables are read, never written. Incident response logs are
derived from the incidents already in the database. The same ``seed`` and ``today`` give the
same data.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from app.services import Services
from app.settings import Settings
from devtools.simulator.fleet import host_names, hosts_by_service, service_names, services_by_host
from sinks.migrations import connect

# Filled in this order; truncated together (children reference parents only inside this list).
# Sign-in state that references users and teams (0006_identity): replaced users take it along.
IDENTITY_TABLES = ("tenant_roles", "ingest_keys", "refresh_tokens", "host_tenants")
COLUMNS: dict[str, tuple[str, ...]] = {
    "location": (
        "location_id", "name", "city", "country", "region", "latitude", "longitude", "timezone",
    ),
    "users": ("user_id", "username", "email", "role", "is_active", "created_at", "last_login_at"),
    "members": (
        "member_id", "user_id", "full_name", "email", "job_title", "phone", "location_id",
        "is_active", "joined_at",
    ),
    "team_management": (
        "team_id", "name", "description", "lead_member_id", "slack_channel", "email", "created_at",
    ),
    "team_members": ("team_id", "member_id", "role", "joined_at"),
    "applications": (
        "service", "name", "description", "owner_team_id", "tier", "sla_target_pct", "created_at",
    ),
    "servers": (
        "host", "location_id", "application", "environment", "os", "cpu_cores", "memory_gb",
        "commissioned_at",
    ),
    "team_server_assignment": ("team_id", "host", "role", "assigned_at"),
    "resource_allocation": (
        "host", "application", "cpu_cores", "memory_gb", "storage_gb", "valid_from", "valid_to",
    ),
    "cost_data": ("cost_date", "application", "host", "category", "amount", "currency"),
    "user_access_logs": (
        "user_id", "username", "accessed_at", "action", "resource", "application", "ip_address",
        "user_agent", "success", "failure_reason",
    ),
    "incident_response_logs": ("incident_id", "member_id", "action", "action_at", "notes"),
}  # fmt: skip
# Tables whose identity column gets explicit ids here: the sequence is moved past them.
_EXPLICIT_IDS = {"users": "user_id", "members": "member_id", "team_management": "team_id"}

_LOCATIONS = (
    ("eu-west-1", "Dublin DC", "Dublin", "Ireland", "EMEA", 53.35, -6.26, "Europe/Dublin"),
    ("us-east-1", "Ashburn DC", "Ashburn", "United States", "AMER", 39.04, -77.49,
     "America/New_York"),
    ("eu-central-1", "Frankfurt DC", "Frankfurt", "Germany", "EMEA", 50.11, 8.68, "Europe/Berlin"),
    ("ap-southeast-1", "Singapore DC", "Singapore", "Singapore", "APAC", 1.35, 103.82,
     "Asia/Singapore"),
)  # fmt: skip
_APP_NAMES = {"shop": "Web shop", "api": "Public API", "auth": "Authentication", "web": "Website"}
_TIERS = (("critical", "99.950"), ("high", "99.900"), ("medium", "99.500"), ("low", "99.000"))
_FIRST = ("Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan",
          "Radia", "Guido", "Sophie")  # fmt: skip
_LAST = ("Lovelace", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen",
         "Turing", "Perlman")  # fmt: skip
_ACTIONS = (
    ("login", "/login"), ("view_dashboard", "/d/overview"), ("view_dashboard", "/d/errors"),
    ("view_incident", "/incidents"), ("ack_incident", "/api/alerts/ack"),
    ("create_silence", "/api/silences"), ("export_report", "/bi/uptime"), ("logout", "/logout"),
)  # fmt: skip
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "Mozilla/5.0 (Macintosh) Safari/17.5",
    "Grafana/11.1",
    "Tableau/2024.2",
    "PowerBI/2.130",
)
COST_DAYS = 30


@dataclass(slots=True)
class Catalogue:
    """Rows per business table, plus who looks after what (for incident responses)."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in COLUMNS})
    team_of_service: dict[str, int] = field(default_factory=dict)
    team_of_host: dict[str, int] = field(default_factory=dict)
    on_call: dict[int, int] = field(default_factory=dict)  # team_id -> member_id


def build_catalogue(hosts: int, services: Sequence[str], seed: int, today: date) -> Catalogue:
    """Demo rows of every business table but incident_response_logs (pure, deterministic)."""
    rng = random.Random(seed)
    cat = Catalogue()
    cat.rows["location"] = [tuple(loc) for loc in _LOCATIONS]
    epoch = datetime.combine(today - timedelta(days=400), time(9), UTC)
    _add_people(cat, services, rng, today, epoch)
    for index, service in enumerate(services):
        tier, sla = _TIERS[min(index, len(_TIERS) - 1)]
        name = _APP_NAMES.get(service, f"{service.title()} service")
        owner = cat.team_of_service[service]
        cat.rows["applications"].append(
            (service, name, f"The {service} service", owner, tier, Decimal(sla), epoch)
        )
    served = services_by_host(hosts_by_service(hosts, len(services)), hosts)
    for index, host in enumerate(host_names(hosts)):
        apps = [services[s] for s in served[index]]
        _add_server(cat, host, apps, _LOCATIONS[index % len(_LOCATIONS)][0], rng, today)
    for day in _last_days(today):
        cat.rows["cost_data"].append((day, services[0], None, "license", Decimal("12.50"), "USD"))
    _add_access_logs(cat, services, rng, today)
    return cat


def _add_people(
    cat: Catalogue, services: Sequence[str], rng: random.Random, today: date, epoch: datetime
) -> None:
    """Users, members and teams: Platform SRE (team 1) plus one team per service."""
    rows = cat.rows
    teams = [("Platform SRE", "platform", "Runs the monitoring stack and the fleet")]
    teams += [(f"{s.title()} team", s, f"Builds and runs {_APP_NAMES.get(s, s)}") for s in services]
    jobs = {"lead": "Engineering manager", "on_call": "Site reliability engineer"}
    member_id = 0
    for team_id, (team_name, slug, description) in enumerate(teams, start=1):
        lead = member_id + 1
        for role in ("lead", "on_call", "member"):
            member_id += 1
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            username = f"{first}.{last}{member_id}".lower()
            email = f"{username}@example.com"
            account = "admin" if (team_id, role) == (1, "lead") else "operator"
            joined = epoch + timedelta(days=rng.randrange(0, 200))
            last_login = datetime.combine(today, time(8), UTC) - timedelta(hours=rng.randrange(72))
            location = _LOCATIONS[member_id % len(_LOCATIONS)][0]
            phone = f"+1-555-{1000 + member_id:04d}"
            job = jobs.get(role, "Software engineer")
            rows["users"].append((member_id, username, email, account, True, joined, last_login))
            rows["members"].append(
                (member_id, member_id, f"{first} {last}", email, job, phone, location, True,
                 joined.date())
            )  # fmt: skip
            rows["team_members"].append((team_id, member_id, role, joined.date()))
            if role == "on_call":
                cat.on_call[team_id] = member_id
        rows["team_management"].append(
            (team_id, team_name, description, lead, f"#team-{slug}", f"{slug}-team@example.com",
             epoch)
        )  # fmt: skip
        if team_id > 1:
            cat.team_of_service[slug] = team_id
    for user_id, username in enumerate(("bi.analyst", "finance.viewer"), start=member_id + 1):
        email = f"{username}@example.com"
        rows["users"].append((user_id, username, email, "viewer", True, epoch, None))


def _add_server(
    cat: Catalogue, host: str, apps: list[str], location: str, rng: random.Random, today: date
) -> None:
    """One server (its first application is its main one): teams, allocations, 30 days of cost."""
    rows = cat.rows
    cores = rng.choice((2, 4, 8, 16))
    memory = cores * rng.choice((2, 4, 8))
    storage = rng.choice((50, 100, 200, 500))
    since = datetime.combine(today - timedelta(days=90 + rng.randrange(60)), time(0), UTC)
    os_name = rng.choice(("Debian 12", "Ubuntu 22.04", "Ubuntu 24.04"))
    rows["servers"].append(
        (host, location, apps[0], "production", os_name, cores, Decimal(memory), since)
    )
    team = cat.team_of_host[host] = cat.team_of_service[apps[0]]
    rows["team_server_assignment"] += [
        (team, host, "primary", since),
        (1, host, "secondary", since),
    ]
    share = 1 / len(apps)  # a server shared by several applications is split evenly
    for app in apps:
        rows["resource_allocation"].append(
            (host, app, _money(cores * share), _money(memory * share), _money(storage * share),
             since.date(), None)
        )  # fmt: skip
    for day in _last_days(today):
        for app in apps:
            costs = (
                ("compute", 0.048 * 24 * cores * share * rng.uniform(0.9, 1.1)),
                ("storage", storage * share * 0.1 / 30),
                ("network", rng.uniform(0.5, 4.0)),
            )
            for category, amount in costs:
                rows["cost_data"].append((day, app, host, category, _money(amount), "USD"))


def _add_access_logs(
    cat: Catalogue, services: Sequence[str], rng: random.Random, today: date
) -> None:
    """5 to 15 platform accesses a day by random users, about 10 % of logins failing."""
    users = cat.rows["users"]
    for day in _last_days(today):
        midnight = datetime.combine(day, time(0), UTC)
        for _ in range(rng.randrange(5, 15)):
            user_id, username = users[rng.randrange(len(users))][:2]
            action, resource = rng.choice(_ACTIONS)
            failed = action == "login" and rng.random() < 0.1
            address = ipaddress.ip_address(f"10.{rng.randrange(256)}.{rng.randrange(256)}.7")
            cat.rows["user_access_logs"].append(
                (user_id, username, midnight + timedelta(seconds=rng.randrange(86_400)), action,
                 resource, rng.choice(services), address, rng.choice(_AGENTS), not failed,
                 "bad_password" if failed else None)
            )  # fmt: skip


def _last_days(today: date) -> list[date]:
    return [today - timedelta(days=back) for back in range(COST_DAYS)]


def _money(amount: float) -> Decimal:
    return Decimal(str(round(amount, 2)))


def response_rows(incidents: Sequence[Any], cat: Catalogue) -> list[tuple[Any, ...]]:
    """incident_response_logs rows for existing incidents, by the owning team's on-call member."""
    out: list[tuple[Any, ...]] = []
    for inc in incidents:
        team = cat.team_of_host.get(inc["host"]) or cat.team_of_service.get(inc["service"], 1)
        member = cat.on_call[team]
        if inc["acknowledged_at"] is not None:
            note = inc["ack_comment"] or f"acknowledged by {inc['acknowledged_by'] or 'on-call'}"
            out.append((inc["incident_id"], member, "acknowledged", inc["acknowledged_at"], note))
            investigating = inc["acknowledged_at"] + timedelta(minutes=1)
            if inc["resolved_at"] is None or inc["resolved_at"] > investigating:
                note = f"investigating {inc['rule']}"
                out.append((inc["incident_id"], member, "investigating", investigating, note))
        if inc["resolved_at"] is not None:
            out.append((inc["incident_id"], member, "resolved", inc["resolved_at"], "resolved"))
    return out


async def seed_demo(
    dsn: str,
    *,
    hosts: int = 10,
    services: Sequence[str] = ("shop", "api", "auth"),
    seed: int = 42,
    today: date | None = None,
) -> dict[str, int]:
    """Replace the business tables with demo data for ``hosts`` servers; return rows per table."""
    if hosts < 1:
        raise ValueError(f"seed_demo: hosts must be at least 1 (got {hosts})")
    services = list(dict.fromkeys(services))
    if not services:
        raise ValueError("seed_demo: give at least one service name")
    cat = build_catalogue(hosts, services, seed, today or datetime.now(UTC).date())
    conn = await connect(dsn, "seed-demo")
    try:
        async with conn.transaction():
            tables = [*COLUMNS, *IDENTITY_TABLES]
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
            for table, rows in cat.rows.items():
                if rows:
                    await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            for table, column in _EXPLICIT_IDS.items():
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT max({column}) FROM {table}))"
                )
            incidents = await conn.fetch(
                "SELECT incident_id, host, service, rule, acknowledged_at, acknowledged_by,"
                " ack_comment, resolved_at FROM incidents ORDER BY opened_at, incident_id"
            )
            responses = response_rows(incidents, cat)
            if responses:
                await conn.copy_records_to_table(
                    "incident_response_logs",
                    records=responses,
                    columns=COLUMNS["incident_response_logs"],
                )
            cat.rows["incident_response_logs"] = responses
    finally:
        await conn.close()
    return {table: len(rows) for table, rows in cat.rows.items()}


async def seed_demo_command(
    settings: Settings,
    services: Services,
    *,
    hosts: int = 10,
    service_count: int = 3,
    seed: int = 42,
) -> dict[str, int]:
    """``lookout seed-demo``: demo business tables that join to the simulator's hosts/services."""
    counts = await seed_demo(
        services.postgres_dsn, hosts=hosts, services=service_names(service_count), seed=seed
    )
    for table, count in counts.items():
        print(f"seed-demo: {table}: {count} rows")
    return counts
