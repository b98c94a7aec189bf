"""Who is calling, and may they: the access middleware of the worker's web server.

Each operation of :data:`app.api.openapi.ROUTES` names what it needs (``x-lookout-role``, an
:class:`app.roles.Need`); the middleware finds the caller and enforces it before any view runs:

* ``Authorization: Bearer LOOKOUT_API_TOKEN``: the server admin (automation);
* ``Authorization: Bearer <JWT>`` from ``POST /api/auth/login``: a user with roles per tenant;
* nothing: refused (401), except reads while sign-in is off (no LOOKOUT_JWT_SECRET), which
  stay open to everyone as before tenants existed.

A caller without the role the operation needs anywhere gets 403. Views then answer only the
caller's tenants (:func:`visible`): another tenant's host, alert or incident answers 404, never
403. Every write (ack, silences, rule reload, keys, users, tenants) is audited here, once, on the
worker the client called (not again on peers a write is forwarded to).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.api import auth
from app.api.middleware import json_error
from app.api.openapi import NEED, ROUTES
from app.roles import ANONYMOUS, SERVER_ADMIN, Need, Principal
from app.settings import Settings
from app.stats import Stats
from app.tenancy import TenantMap
from app.tokens import Signer, TokenError
from sinks.identity import Audit, IdentityStore

log = logging.getLogger(__name__)

PRINCIPAL = "lookout.principal"
AUDIT_TENANT = "lookout.audit_tenant"  # a view sets these for the audit row
AUDIT_TARGET = "lookout.audit_target"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="lookout"'}
KEY_CACHE_S = 5.0  # a key revoked on another worker stops working here within this
AUDITED = (Need.OPERATOR, Need.ADMIN, Need.SERVER_ADMIN)
OPEN_READS = (Need.VIEWER,)  # open to anyone while sign-in is off
ACTIONS = {
    "post /api/alerts/{fingerprint}/ack": "ack",
    "post /api/silences": "silence.create",
    "delete /api/silences/{silence_id}": "silence.delete",
    "post /api/rules/reload": "rules.reload",
    "post /api/keys": "key.create",
    "delete /api/keys/{key_id}": "key.revoke",
    "post /api/users": "user.create",
    "post /api/users/{username}/roles": "user.role",
    "post /api/tenants": "tenant.create",
}


def needs() -> dict[tuple[str, str], Need]:
    """``(method, path template) -> Need`` of every documented operation."""
    out = {}
    for route, doc in ROUTES.items():
        method, where = route.split(" ", 1)
        out[(method.upper(), where)] = Need(doc[NEED])
    return out


def caller(request: Any) -> Principal:
    """The caller the middleware found (anonymous reader when none was needed)."""
    found = request.get(PRINCIPAL)
    return found if isinstance(found, Principal) else ANONYMOUS


def audit_note(request: Any, *, tenant: str | None = None, target: str | None = None) -> None:
    """Tell the audit row of this request its tenant and target (a view knows them)."""
    if tenant is not None:
        request[AUDIT_TENANT] = tenant
    if target is not None:
        request[AUDIT_TARGET] = target


def address(request: Any) -> str | None:
    """The client's address (the peer of the connection; proxies are not trusted)."""
    remote = getattr(request, "remote", None)
    return str(remote) if remote else None


@dataclass
class Access:
    """The caller checks, shared by the middleware and the views."""

    settings: Settings
    stats: Stats
    tenants: TenantMap
    signer: Signer | None = None
    identity: IdentityStore | None = None
    disabled: set[int] = field(default_factory=set)  # kept current by agents.tenants

    def __post_init__(self) -> None:
        self.policy = needs()
        self.api_keys = auth.single_key(self.settings.api_token)
        self._keys: dict[str, tuple[str, float]] = {}

    def identify(self, presented: str, now: float) -> Principal | None:
        """The caller a bearer credential names, or None (wrong, expired, unknown key...)."""
        if self.api_keys and auth.key_index(presented, self.api_keys) is not None:
            return SERVER_ADMIN
        if self.signer is None or presented.count(".") != 2:
            return None
        try:
            who = self.signer.verify(presented, now)
        except TokenError:
            return None
        return None if who.user_id in self.disabled else who

    async def key_tenant(self, presented: str, now: float) -> str | None:
        """The tenant of an ingest key (cached :data:`KEY_CACHE_S` seconds; revocation clears)."""
        if self.identity is None:
            return None
        hit = self._keys.get(presented)
        if hit is not None and now - hit[1] < KEY_CACHE_S:
            return hit[0]
        tenant = await self.identity.key_tenant(presented)
        if tenant is None:
            self._keys.pop(presented, None)
            return None
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[presented] = (tenant, now)
        return tenant

    def forget_keys(self) -> None:
        """Drop the key cache (after a revocation on this worker)."""
        self._keys.clear()

    def visible(self, request: Any, host: str) -> bool:
        """True if the caller may see ``host`` (one of its tenants)."""
        return caller(request).sees(self.tenants.of(host))

    def visible_labels(self, request: Any, labels: Mapping[str, Any] | None) -> bool:
        """True if the caller may see an alert, incident or notification with these labels."""
        labels = labels or {}
        tenant = labels.get("tenant") or self.tenants.of(str(labels.get("host", "")))
        return caller(request).sees(str(tenant))

    async def record(self, entry: Audit) -> None:
        """Write an audit row (a failure is logged and counted, never fails the request)."""
        if self.identity is None:
            return
        try:
            await self.identity.audit(entry)
        except Exception as exc:  # the audit must not take the API down with Postgres
            self.stats.inc("lookout_audit_errors_total")
            log.warning(
                "audit row not written (%s): %s %s", type(exc).__name__, entry.action, entry.target
            )

    def refuse(self, need: Need) -> web.Response:
        """401 with a challenge, and a message that says what is missing."""
        self.stats.inc("lookout_api_unauthorized_total")
        if need not in OPEN_READS and not self.api_keys and self.signer is None:
            message = "write endpoints are disabled: set LOOKOUT_API_TOKEN or LOOKOUT_JWT_SECRET"
        else:
            message = "missing, expired or invalid token (Authorization: Bearer TOKEN)"
        return json_error(401, message, CHALLENGE)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Find the caller, refuse what its roles do not allow, audit writes."""
        route = request.match_info.route.resource
        need = self.policy.get((request.method, route.canonical)) if route is not None else None
        if route is None or need is None or need in (Need.PUBLIC, Need.INGEST):
            return await handler(request)
        now = time.time()
        presented = auth.presented_key(request.headers)
        if presented is None:
            if need not in OPEN_READS or self.settings.sign_in_enabled:
                return self.refuse(need)
            who = ANONYMOUS
        else:
            found = self.identify(presented, now)
            if found is None:
                return self.refuse(need)
            who = found
        if not who.allowed(need):
            return json_error(403, f"this needs the {need.value} role")
        request[PRINCIPAL] = who
        response = await handler(request)
        if need in AUDITED and request.method != "GET" and request.query.get("local") != "1":
            key = f"{request.method.lower()} {route.canonical}"
            await self.record(
                Audit(
                    username=who.name,
                    user_id=who.user_id,
                    action=ACTIONS.get(key, key),
                    success=response.status < 400,
                    at=now,
                    tenant=request.get(AUDIT_TENANT),
                    target=request.get(AUDIT_TARGET)
                    or "/".join(request.match_info.values())
                    or None,
                    address=address(request),
                    user_agent=request.headers.get("User-Agent"),
                    reason=None if response.status < 400 else str(response.status),
                )
            )
        return response
