"""The PostgreSQL store of users, tenant roles, ingest keys, refresh tokens, host assignments and
the audit log (``user_access_logs``): the one place that reads and writes them (docs/AUTH.md).

A tenant is a team: ``team_management.name`` is the ``tenant`` label. The host->tenant map is
the union of ``host_tenants`` (hosts claimed by the first ingest key that wrote them) and the
primary team of ``team_server_assignment`` (which wins); every worker loads it from here, so all
workers agree. Secrets are stored as digests (:mod:`app.tokens`), passwords as argon2 hashes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app.roles import Principal, Role
from app.tokens import Secret, new_secret, same_digest, secret_id
from sinks.pg_pool import open_pool

INGEST_PREFIX, REFRESH_PREFIX = "lk", "rt"
NO_TENANT = "no tenant {!r}: create it first (lookout tenants add)"
TENANT_EXISTS = "SELECT 1 FROM team_management WHERE name = $1"
GRANT = (
    "INSERT INTO tenant_roles (user_id, tenant, role) VALUES ($1, $2, $3)"
    " ON CONFLICT (user_id, tenant) DO UPDATE SET role = EXCLUDED.role"
)
HOST_MAP = "SELECT host, tenant FROM v_host_tenant"  # assignments win over key claims


class IdentityError(ValueError):
    """A user-caused problem (unknown user or tenant, duplicate name); the message says which."""


def ts(seconds: float) -> datetime:
    """A UTC timestamp from epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Audit:
    """One ``user_access_logs`` row: who did what to which target, from where, and how it went."""

    username: str
    action: str
    success: bool
    at: float
    user_id: int | None = None
    tenant: str | None = None
    target: str | None = None
    address: str | None = None
    user_agent: str | None = None
    reason: str | None = None


class IdentityStore:
    """Users, roles, keys, tokens, host assignments and audit rows in PostgreSQL."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def pool(self) -> Any:
        """The store's pool (opened on first use)."""
        async with self._lock:
            if self._pool is None:
                self._pool = await open_pool(
                    self.dsn, name="lookout-identity", size=4, statement_timeout=5.0
                )
            return self._pool

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await (await self.pool()).fetch(sql, *args))

    async def _row(self, sql: str, *args: Any) -> Any:
        return await (await self.pool()).fetchrow(sql, *args)

    # ---- tenants ------------------------------------------------------------------------------

    async def add_tenant(self, name: str, description: str = "") -> bool:
        """Create tenant ``name`` (a team); False when it exists."""
        row = await self._row(
            "INSERT INTO team_management (name, description) VALUES ($1, $2)"
            " ON CONFLICT (name) DO NOTHING RETURNING team_id",
            name,
            description or None,
        )
        return row is not None

    async def tenants(self) -> list[dict[str, Any]]:
        """Every tenant with its number of users, keys and hosts."""
        rows = await self._fetch(
            "SELECT t.name, t.description,"
            " (SELECT count(*) FROM tenant_roles r WHERE r.tenant = t.name) AS users,"
            " (SELECT count(*) FROM ingest_keys k WHERE k.tenant = t.name"
            "   AND k.revoked_at IS NULL) AS keys"
            " FROM team_management t ORDER BY t.name"
        )
        return [dict(r) for r in rows]

    async def host_map(self) -> dict[str, str]:
        """host -> tenant from primary team assignments and key claims."""
        return {row["host"]: row["tenant"] for row in await self._fetch(HOST_MAP)}

    async def claim_host(self, host: str, tenant: str) -> str:
        """Give ``host`` to ``tenant`` unless someone has it; the host's tenant afterwards."""
        async with (await self.pool()).acquire() as conn:
            owner = await conn.fetchval(
                "SELECT t.name FROM team_server_assignment a JOIN team_management t"
                " USING (team_id) WHERE a.host = $1 AND a.role = 'primary'",
                host,
            )
            if owner is not None:
                return str(owner)
            await conn.execute(
                "INSERT INTO host_tenants (host, tenant) VALUES ($1, $2)"
                " ON CONFLICT (host) DO NOTHING",
                host,
                tenant,
            )
            return str(await conn.fetchval("SELECT tenant FROM host_tenants WHERE host=$1", host))

    # ---- users ---------------------------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        password_hash: str,
        *,
        email: str | None,
        server_admin: bool,
        role: tuple[str, Role] | None = None,
    ) -> int:
        """Create a user, with ``role`` = (tenant, role) if given, all or nothing.

        :class:`IdentityError` when the name is taken or the tenant does not exist.
        """
        async with (await self.pool()).acquire() as conn, conn.transaction():
            uid = await conn.fetchval(
                "INSERT INTO users (username, email, password_hash, is_server_admin, role)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING user_id",
                username,
                email,
                password_hash,
                server_admin,
                "admin" if server_admin else "viewer",
            )
            if uid is None:
                raise IdentityError(f"user {username!r} (or its email) exists already")
            if role is not None:
                tenant, granted = role
                if await conn.fetchval(TENANT_EXISTS, tenant) is None:
                    raise IdentityError(NO_TENANT.format(tenant))
                await conn.execute(GRANT, uid, tenant, granted.value)
            return int(uid)

    async def user_id(self, username: str) -> int:
        """The id of ``username``; :class:`IdentityError` when unknown."""
        row = await self._row("SELECT user_id FROM users WHERE username = $1", username)
        if row is None:
            raise IdentityError(f"no user {username!r}")
        return int(row["user_id"])

    async def set_role(self, username: str, tenant: str, role: Role | None) -> None:
        """Give ``username`` ``role`` in ``tenant`` (None: take every role there away)."""
        uid = await self.user_id(username)
        if role is None:
            await self._fetch(
                "DELETE FROM tenant_roles WHERE user_id = $1 AND tenant = $2", uid, tenant
            )
            return
        if await self._row(TENANT_EXISTS, tenant) is None:
            raise IdentityError(NO_TENANT.format(tenant))
        await self._fetch(GRANT, uid, tenant, role.value)

    async def set_active(self, username: str, active: bool) -> None:
        """Enable or disable ``username``; disabling revokes its refresh tokens at once."""
        uid = await self.user_id(username)
        await self._fetch("UPDATE users SET is_active = $2 WHERE user_id = $1", uid, active)
        if not active:
            await self._fetch(
                "UPDATE refresh_tokens SET revoked_at = now()"
                " WHERE user_id = $1 AND revoked_at IS NULL",
                uid,
            )

    async def set_password(self, username: str, password_hash: str) -> None:
        """Replace ``username``'s password hash."""
        uid = await self.user_id(username)
        await self._fetch(
            "UPDATE users SET password_hash = $2 WHERE user_id = $1", uid, password_hash
        )

    async def users(self, tenants: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Users with their roles (only roles in ``tenants`` and users holding one, if given)."""
        wanted = None if tenants is None else sorted(tenants)
        rows = await self._fetch(
            "SELECT u.user_id, u.username, u.email, u.is_active, u.is_server_admin,"
            " u.last_login_at, coalesce(jsonb_object_agg(r.tenant, r.role)"
            "   FILTER (WHERE r.tenant IS NOT NULL), '{}'::jsonb)::text AS roles"
            " FROM users u LEFT JOIN tenant_roles r ON r.user_id = u.user_id"
            "   AND ($1::text[] IS NULL OR r.tenant = ANY($1))"
            " GROUP BY u.user_id ORDER BY u.username",
            wanted,
        )
        out = []
        for r in rows:
            roles = orjson.loads(r["roles"])
            if wanted is not None and not roles:
                continue
            out.append(
                {
                    "username": r["username"],
                    "email": r["email"],
                    "active": r["is_active"],
                    "server_admin": r["is_server_admin"],
                    "roles": roles,
                    "last_login_at": r["last_login_at"].isoformat() if r["last_login_at"] else None,
                }
            )
        return out

    async def disabled_users(self) -> set[int]:
        """Ids of the disabled users."""
        rows = await self._fetch("SELECT user_id FROM users WHERE NOT is_active")
        return {int(r["user_id"]) for r in rows}

    async def login_record(self, username: str) -> Any:
        """``(user_id, password_hash, is_active)`` of ``username``, or None."""
        return await self._row(
            "SELECT user_id, password_hash, is_active FROM users WHERE username = $1", username
        )

    async def principal(self, user_id: int, now: float | None = None) -> Principal | None:
        """The active user ``user_id`` with its roles (None: unknown or disabled)."""
        row = await self._row(
            "SELECT username, is_server_admin FROM users WHERE user_id = $1 AND is_active", user_id
        )
        if row is None:
            return None
        if now is not None:
            await self._fetch(
                "UPDATE users SET last_login_at = $2 WHERE user_id = $1", user_id, ts(now)
            )
        roles = await self._fetch(
            "SELECT tenant, role FROM tenant_roles WHERE user_id = $1", user_id
        )
        return Principal(
            row["username"],
            user_id=user_id,
            server_admin=row["is_server_admin"],
            roles={r["tenant"]: Role(r["role"]) for r in roles},
        )

    # ---- refresh tokens ------------------------------------------------------------------------

    async def new_refresh(self, user_id: int, now: float, ttl: int) -> str:
        """A new refresh token for ``user_id`` (its digest is stored)."""
        secret = new_secret(REFRESH_PREFIX)
        await self._fetch(
            "INSERT INTO refresh_tokens (token_id, user_id, token_hash, issued_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            secret.id,
            user_id,
            secret.digest,
            ts(now),
            ts(now + ttl),
        )
        return secret.text

    async def use_refresh(self, token: str, now: float) -> int | None:
        """Spend a refresh token (it is revoked: rotation); its user id, or None if not valid."""
        sid = secret_id(REFRESH_PREFIX, token)
        if sid is None:
            return None
        row = await self._row(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE token_id = $1"
            " AND revoked_at IS NULL AND expires_at > $2 RETURNING user_id, token_hash",
            sid,
            ts(now),
        )
        if row is None or not same_digest(token, row["token_hash"]):
            return None
        return int(row["user_id"])

    async def revoke_refresh(self, token: str, now: float) -> bool:
        """Revoke a refresh token (logout); False when it was not a live token."""
        return await self.use_refresh(token, now) is not None

    # ---- ingest keys ---------------------------------------------------------------------------

    async def new_key(self, tenant: str, name: str, created_by: str) -> Secret:
        """A new ingest key of ``tenant``; the returned text is shown once, never stored."""
        if await self._row(TENANT_EXISTS, tenant) is None:
            raise IdentityError(NO_TENANT.format(tenant))
        secret = new_secret(INGEST_PREFIX)
        await self._fetch(
            "INSERT INTO ingest_keys (key_id, tenant, key_hash, name, created_by)"
            " VALUES ($1, $2, $3, $4, $5)",
            secret.id,
            tenant,
            secret.digest,
            name,
            created_by,
        )
        return secret

    async def revoke_key(self, key_id: str, tenants: Iterable[str] | None = None) -> str | None:
        """Revoke a key (only one of ``tenants``, if given); its tenant, or None if not found."""
        wanted = None if tenants is None else sorted(tenants)
        row = await self._row(
            "UPDATE ingest_keys SET revoked_at = now() WHERE key_id = $1"
            " AND revoked_at IS NULL AND ($2::text[] IS NULL OR tenant = ANY($2)) RETURNING tenant",
            key_id,
            wanted,
        )
        return None if row is None else str(row["tenant"])

    async def keys(self, tenants: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Keys (of ``tenants``, if given), without their secrets."""
        wanted = None if tenants is None else sorted(tenants)
        rows = await self._fetch(
            "SELECT key_id, tenant, name, created_by, created_at, revoked_at FROM ingest_keys"
            " WHERE ($1::text[] IS NULL OR tenant = ANY($1)) ORDER BY created_at, key_id",
            wanted,
        )
        return [
            {
                "key_id": r["key_id"],
                "tenant": r["tenant"],
                "name": r["name"],
                "created_by": r["created_by"],
                "created_at": r["created_at"].isoformat(),
                "revoked": r["revoked_at"] is not None,
            }
            for r in rows
        ]

    async def key_tenant(self, key: str) -> str | None:
        """The tenant of a live ingest key, or None."""
        kid = secret_id(INGEST_PREFIX, key)
        if kid is None:
            return None
        row = await self._row(
            "SELECT tenant, key_hash FROM ingest_keys WHERE key_id = $1 AND revoked_at IS NULL",
            kid,
        )
        if row is None or not same_digest(key, row["key_hash"]):
            return None
        return str(row["tenant"])

    # ---- audit ---------------------------------------------------------------------------------

    async def audit(self, entry: Audit) -> None:
        """Write one audit row."""
        await self._fetch(
            "INSERT INTO user_access_logs (user_id, username, accessed_at, action, resource,"
            " ip_address, user_agent, success, failure_reason, tenant)"
            " VALUES ($1, $2, $3, $4, $5, $6::text::inet, $7, $8, $9, $10)",
            entry.user_id,
            entry.username,
            ts(entry.at),
            entry.action,
            entry.target,
            entry.address,
            (entry.user_agent or "")[:500] or None,
            entry.success,
            entry.reason,
            entry.tenant,
        )

    async def failures(self, username: str, address: str | None, since: float) -> tuple[int, int]:
        """Failed sign-ins since ``since``: ``(for this username, from this address)``."""
        row = await self._row(
            "SELECT count(*) FILTER (WHERE username = $1) AS by_user,"
            " count(*) FILTER (WHERE ip_address = $2::text::inet) AS by_address"
            " FROM user_access_logs WHERE action = 'login' AND NOT success AND accessed_at >= $3",
            username,
            address,
            ts(since),
        )
        return int(row["by_user"]), int(row["by_address"])

    async def audit_rows(
        self, tenants: Iterable[str] | None, limit: int, action: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest audit rows (of ``tenants``, if given), newest first."""
        wanted = None if tenants is None else sorted(tenants)
        rows = await self._fetch(
            "SELECT id, username, tenant, accessed_at, action, resource, host(ip_address) AS ip,"
            " success, failure_reason FROM user_access_logs"
            " WHERE ($1::text[] IS NULL OR tenant = ANY($1))"
            " AND ($2::text IS NULL OR action = $2) ORDER BY id DESC LIMIT $3",
            wanted,
            action,
            limit,
        )
        return [
            {
                "id": r["id"],
                "user": r["username"],
                "tenant": r["tenant"],
                "at": r["accessed_at"].isoformat(),
                "action": r["action"],
                "target": r["resource"],
                "address": r["ip"],
                "success": r["success"],
                "reason": r["failure_reason"],
            }
            for r in rows
        ]
