"""``lookout users``, ``lookout tenants`` and ``lookout keys``: identity on the command line.

The first admin is created here (there is no default user or password):

    lookout tenants add acme
    lookout users add alice --tenant acme --role admin        # asks for the password
    echo "$PW" | lookout users add ci --server-admin --password-stdin
    lookout keys create acme --name telegraf                    # prints the key once

Every change is written to the audit log as ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.passwords import WeakPassword, hash_password
from app.roles import Role
from app.services import resolve_services
from app.settings import Settings
from sinks.identity import Audit, IdentityError, IdentityStore

ROLES = [r.value for r in Role]


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"lookout {prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def read_password(from_stdin: bool) -> str:
    """A new password: one line of stdin, or asked twice on the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise IdentityError("the passwords differ")
    return first


def _run(settings: Settings, work: Callable[[IdentityStore], Awaitable[str]]) -> int:
    async def go() -> str:
        store = IdentityStore(resolve_services(settings).postgres_dsn)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        print(asyncio.run(go()))
    except (IdentityError, WeakPassword) as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        return 1
    return 0


async def _audit(store: IdentityStore, action: str, target: str, tenant: str | None = None) -> None:
    who = f"cli:{getpass.getuser()}"
    await store.audit(Audit(who, action, True, time.time(), tenant=tenant, target=target))


def users_command(settings: Settings, args: list[str]) -> int:
    """``lookout users add|disable|enable|passwd|grant|list``."""
    p = _parser("users", "Users who sign in to the API and the live page (docs/AUTH.md).")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("username")
    add.add_argument("--email")
    add.add_argument("--server-admin", action="store_true", help="admin of every tenant")
    add.add_argument("--tenant", help="give the user a role in this tenant")
    add.add_argument("--role", choices=ROLES, default="viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    for name, text in [("disable", "disable a user (refresh stops at once)"), ("enable", "")]:
        sub.add_parser(name, help=text or "enable a user again").add_argument("username")
    pw = sub.add_parser("passwd", help="set a user's password")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    grant = sub.add_parser("grant", help="give a user a role in a tenant (none: take it away)")
    grant.add_argument("username")
    grant.add_argument("tenant")
    grant.add_argument("role", choices=[*ROLES, "none"])
    sub.add_parser("list", help="list users and their roles")
    ns = p.parse_args(args)

    async def work(store: IdentityStore) -> str:
        if ns.action == "add":
            hashed = hash_password(read_password(ns.password_stdin))
            first = (ns.tenant, Role(ns.role)) if ns.tenant else None
            await store.add_user(
                ns.username, hashed, email=ns.email, server_admin=ns.server_admin, role=first
            )
            await _audit(store, "user.create", ns.username, ns.tenant)
            return f"user {ns.username} created"
        if ns.action in ("disable", "enable"):
            await store.set_active(ns.username, ns.action == "enable")
            await _audit(store, f"user.{ns.action}", ns.username)
            return f"user {ns.username} {ns.action}d"
        if ns.action == "passwd":
            await store.set_password(ns.username, hash_password(read_password(ns.password_stdin)))
            await _audit(store, "user.passwd", ns.username)
            return f"password of {ns.username} set"
        if ns.action == "grant":
            role = None if ns.role == "none" else Role(ns.role)
            await store.set_role(ns.username, ns.tenant, role)
            await _audit(store, "user.role", ns.username, ns.tenant)
            return f"{ns.username}: {ns.role} in {ns.tenant}"
        return _table(
            await store.users(),
            lambda u: [
                u["username"],
                "active" if u["active"] else "disabled",
                "server-admin" if u["server_admin"] else "",
                " ".join(f"{t}:{r}" for t, r in sorted(u["roles"].items())),
            ],
        )

    return _run(settings, work)


def tenants_command(settings: Settings, args: list[str]) -> int:
    """``lookout tenants add|list``."""
    p = _parser("tenants", "Tenants (teams): every host, alert and key belongs to one.")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="create a tenant")
    add.add_argument("name")
    add.add_argument("--description", default="")
    sub.add_parser("list", help="list tenants")
    ns = p.parse_args(args)

    async def work(store: IdentityStore) -> str:
        if ns.action == "add":
            if not await store.add_tenant(ns.name, ns.description):
                raise IdentityError(f"tenant {ns.name!r} exists already")
            await _audit(store, "tenant.create", ns.name, ns.name)
            return f"tenant {ns.name} created"
        rows = await store.tenants()
        return _table(rows, lambda t: [t["name"], f"{t['users']} users", f"{t['keys']} keys"])

    return _run(settings, work)


def keys_command(settings: Settings, args: list[str]) -> int:
    """``lookout keys create|revoke|list``."""
    p = _parser("keys", "Ingest keys of a tenant (stored hashed; shown once at creation).")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a key and print it (once)")
    create.add_argument("tenant")
    create.add_argument("--name", default="")
    sub.add_parser("revoke", help="revoke a key").add_argument("key_id")
    sub.add_parser("list", help="list keys (never their secrets)").add_argument("--tenant")
    ns = p.parse_args(args)

    async def work(store: IdentityStore) -> str:
        if ns.action == "create":
            secret = await store.new_key(ns.tenant, ns.name, f"cli:{getpass.getuser()}")
            await _audit(store, "key.create", secret.id, ns.tenant)
            return secret.text
        if ns.action == "revoke":
            tenant = await store.revoke_key(ns.key_id)
            if tenant is None:
                raise IdentityError(f"no live key {ns.key_id!r}")
            await _audit(store, "key.revoke", ns.key_id, tenant)
            return f"key {ns.key_id} revoked"
        rows = await store.keys([ns.tenant] if ns.tenant else None)
        return _table(
            rows,
            lambda k: [k["key_id"], k["tenant"], k["name"], "revoked" if k["revoked"] else ""],
        )

    return _run(settings, work)


def _table(rows: list[dict[str, Any]], cells: Callable[[dict[str, Any]], list[str]]) -> str:
    return "\n".join("  ".join(cells(r)).rstrip() for r in rows) or "(none)"
