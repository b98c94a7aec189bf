"""Sign-in, tokens, tenants, ingest keys, users and the audit log: the identity views.

``POST /api/auth/login`` checks the password (argon2, the same work for an unknown user), throttles
failed sign-ins per user name and per address (LOOKOUT_LOGIN_MAX_FAILURES in LOOKOUT_LOGIN_WINDOW,
counted from the audit log so every worker agrees: 429 with Retry-After), and answers an access
token (JWT) and a refresh token. Refresh rotates the refresh token; logout revokes it. Tenant
admins manage the keys and users of their tenants; a server admin manages tenants. Every call
that changes something is audited (:mod:`app.api.access`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from faust import web
from pydantic import BaseModel, ValidationError

from app.api.access import Access, address, audit_note, caller
from app.api.identity_models import Login, NewKey, NewTenant, NewUser, RefreshToken, RoleGrant
from app.passwords import WeakPassword, check_password, hash_password
from app.roles import Principal, Role
from sinks.identity import Audit, IdentityError, IdentityStore

if TYPE_CHECKING:
    from agents.runtime import Lookout

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 65536
MAX_AUDIT = 500
WRONG = "wrong user name or password"


class Refused(Exception):
    """An answer other than success: status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


async def read_body(request: Any, model: type[M]) -> M:
    """The JSON body as ``model``; :class:`Refused` 400 when it is not."""
    raw = await request.content.read(MAX_BODY)
    try:
        return model.model_validate(orjson.loads(raw or b"null"))
    except orjson.JSONDecodeError:
        raise Refused(400, "body must be JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Refused(400, f"{where}: {first.get('msg')}") from None


def admin_tenants(who: Principal) -> list[str] | None:
    """Tenants ``who`` administers (None: every tenant, for a server admin)."""
    if who.server_admin:
        return None
    return sorted(t for t, r in who.roles.items() if r is Role.ADMIN)


def administers(who: Principal, tenant: str) -> bool:
    """True if ``who`` is admin of ``tenant``."""
    return who.can(Role.ADMIN, tenant)


def register_account_views(lk: Lookout, access: Access) -> None:
    """Add the sign-in, tenant, key, user and audit views to the worker's web server."""
    app, settings = lk.app, lk.settings
    signer, identity = access.signer, access.identity

    def store() -> IdentityStore:
        if identity is None:
            raise Refused(503, "no PostgreSQL configured")
        return identity

    def tokens_for(who: Principal, refresh: str, now: float) -> dict[str, Any]:
        assert signer is not None
        return {
            "access_token": signer.issue(who, now),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": signer.ttl,
        }

    def answer(view: web.View, exc: Refused) -> web.Response:
        return view.json({"error": exc.message}, status=exc.status, headers=exc.headers)

    async def administered(view: web.View, request: Any, name: str) -> web.Response:
        """The keys or users of the tenants the caller administers."""
        try:
            db = store()
        except Refused as exc:
            return answer(view, exc)
        fetch = db.keys if name == "keys" else db.users
        return view.json({name: await fetch(admin_tenants(caller(request)))})

    async def audit(request: Any, who: str, action: str, ok: bool, **more: Any) -> None:
        await access.record(
            Audit(
                username=who,
                action=action,
                success=ok,
                at=time.time(),
                address=address(request),
                user_agent=request.headers.get("User-Agent"),
                **more,
            )
        )

    async def login(request: Any) -> dict[str, Any]:
        if signer is None:
            raise Refused(503, "sign-in is off: set LOOKOUT_JWT_SECRET")
        body = await read_body(request, Login)
        db, now, addr = store(), time.time(), address(request)
        by_user, by_addr = await db.failures(body.username, addr, now - settings.login_window)
        if max(by_user, by_addr) >= settings.login_max_failures:
            await audit(request, body.username, "login.throttled", False, reason="throttled")
            wait = str(settings.login_window)
            raise Refused(429, "too many failed sign-ins; retry later", {"Retry-After": wait})
        rec = await db.login_record(body.username)
        ok = check_password(rec["password_hash"] if rec else None, body.password)
        who = await db.principal(rec["user_id"], now) if ok and rec["is_active"] else None
        if who is None:
            why = "unknown user" if rec is None else "disabled" if ok else "wrong password"
            uid = rec["user_id"] if rec else None
            await audit(request, body.username, "login", False, user_id=uid, reason=why)
            raise Refused(401, WRONG)
        refresh = await db.new_refresh(rec["user_id"], now, settings.refresh_token_ttl)
        await audit(request, who.name, "login", True, user_id=who.user_id)
        return tokens_for(who, refresh, now)

    async def refresh(request: Any) -> dict[str, Any]:
        if signer is None:
            raise Refused(503, "sign-in is off: set LOOKOUT_JWT_SECRET")
        body = await read_body(request, RefreshToken)
        db, now = store(), time.time()
        uid = await db.use_refresh(body.refresh_token, now)
        who = None if uid is None else await db.principal(uid)
        if uid is None or who is None:
            await audit(request, "?", "refresh", False, user_id=uid, reason="invalid")
            raise Refused(401, "refresh token unknown, expired or revoked")
        token = await db.new_refresh(uid, now, settings.refresh_token_ttl)
        await audit(request, who.name, "refresh", True, user_id=uid)
        return tokens_for(who, token, now)

    async def logout(request: Any) -> dict[str, Any]:
        body = await read_body(request, RefreshToken)
        revoked = await store().revoke_refresh(body.refresh_token, time.time())
        await audit(request, "?", "logout", revoked)
        return {"done": "logged out"}

    def run(handler: Any, status: int = 200) -> type[web.View]:
        class View(web.View):
            async def post(self, request: web.Request, **kw: Any) -> web.Response:
                try:
                    return self.json(await handler(request, **kw), status=status)
                except Refused as exc:
                    return answer(self, exc)

        return View

    app.page("/api/auth/login")(run(login))
    app.page("/api/auth/refresh")(run(refresh))
    app.page("/api/auth/logout")(run(logout))

    @app.page("/api/auth/me")
    class Me(web.View):
        async def get(self, request: web.Request) -> web.Response:
            who = caller(request)
            roles = {t: r.value for t, r in who.roles.items()}
            return self.json({"name": who.name, "server_admin": who.server_admin, "roles": roles})

    @app.page("/api/tenants")
    class Tenants(web.View):
        async def get(self, request: web.Request) -> web.Response:
            who = caller(request)
            if not who.server_admin:
                items = [{"name": t, "role": r.value} for t, r in sorted(who.roles.items())]
                return self.json({"tenants": items})
            try:
                names = [t["name"] for t in await store().tenants()]
            except Refused:
                names = [settings.default_tenant]
            return self.json({"tenants": [{"name": n, "role": "admin"} for n in names]})

        async def post(self, request: web.Request) -> web.Response:
            try:
                body = await read_body(request, NewTenant)
                audit_note(request, tenant=body.name, target=body.name)
                if not await store().add_tenant(body.name, body.description):
                    raise Refused(409, f"tenant {body.name!r} exists")
            except Refused as exc:
                return answer(self, exc)
            return self.json({"done": f"tenant {body.name} created"}, status=201)

    @app.page("/api/keys")
    class Keys(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await administered(self, request, "keys")

        async def post(self, request: web.Request) -> web.Response:
            who = caller(request)
            try:
                body = await read_body(request, NewKey)
                audit_note(request, tenant=body.tenant)
                if not administers(who, body.tenant):
                    raise Refused(404, f"no tenant {body.tenant!r}")
                try:
                    secret = await store().new_key(body.tenant, body.name, who.name)
                except IdentityError as exc:
                    raise Refused(404, str(exc)) from None
            except Refused as exc:
                return answer(self, exc)
            audit_note(request, target=secret.id)
            (key,) = [k for k in await store().keys([body.tenant]) if k["key_id"] == secret.id]
            return self.json({**key, "key": secret.text}, status=201)

    @app.page("/api/keys/{key_id}")
    class KeyOne(web.View):
        async def delete(self, request: web.Request, key_id: str) -> web.Response:
            try:
                tenant = await store().revoke_key(key_id, admin_tenants(caller(request)))
            except Refused as exc:
                return answer(self, exc)
            access.forget_keys()
            if tenant is None:
                return self.error(404, f"no live key {key_id!r}")
            audit_note(request, tenant=tenant)
            return self.json({"done": f"key {key_id} revoked"})

    @app.page("/api/users")
    class Users(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await administered(self, request, "users")

        async def post(self, request: web.Request) -> web.Response:
            try:
                body = await read_body(request, NewUser)
                audit_note(request, tenant=body.tenant, target=body.username)
                if not administers(caller(request), body.tenant):
                    raise Refused(404, f"no tenant {body.tenant!r}")
                try:
                    await store().add_user(
                        body.username,
                        hash_password(body.password),
                        email=body.email,
                        server_admin=False,
                        role=(body.tenant, Role(body.role)),
                    )
                except WeakPassword as exc:
                    raise Refused(400, str(exc)) from None
                except IdentityError as exc:
                    status = 404 if str(exc).startswith("no tenant") else 409
                    raise Refused(status, str(exc)) from None
            except Refused as exc:
                return answer(self, exc)
            return self.json({"done": f"user {body.username} created"}, status=201)

    @app.page("/api/users/{username}/roles")
    class UserRoles(web.View):
        async def post(self, request: web.Request, username: str) -> web.Response:
            try:
                body = await read_body(request, RoleGrant)
                audit_note(request, tenant=body.tenant)
                if not administers(caller(request), body.tenant):
                    raise Refused(404, f"no tenant {body.tenant!r}")
                role = None if body.role is None else Role(body.role)
                try:
                    await store().set_role(username, body.tenant, role)
                except IdentityError as exc:
                    raise Refused(404, str(exc)) from None
            except Refused as exc:
                return answer(self, exc)
            return self.json({"done": f"{username}: {body.role or 'no role'} in {body.tenant}"})

    @app.page("/api/audit")
    class AuditLog(web.View):
        async def get(self, request: web.Request) -> web.Response:
            try:
                limit = int(request.query.get("limit", "100"))
            except ValueError:
                limit = 0
            if not 1 <= limit <= MAX_AUDIT:
                return self.error(400, f"limit must be an integer from 1 to {MAX_AUDIT}")
            action = request.query.get("action") or None
            try:
                rows = await store().audit_rows(admin_tenants(caller(request)), limit, action)
            except Refused as exc:
                return answer(self, exc)
            return self.json({"audit": rows})
