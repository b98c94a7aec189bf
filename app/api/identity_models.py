"""Bodies and answers of the sign-in, key, user, tenant and audit endpoints (OpenAPI components).

Request bodies are checked by these models (``extra`` fields refused); answers are what the views
in :mod:`app.api.accounts` build.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.models import shape

RoleName = Literal["viewer", "operator", "admin"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


STRICT = ConfigDict(extra="forbid")  # request bodies: unknown fields are refused


class Login(BaseModel):
    """Sign in with a user name and password."""

    model_config = STRICT

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class RefreshToken(BaseModel):
    """A refresh token (to refresh, or to log out)."""

    model_config = STRICT

    refresh_token: str = Field(min_length=1, max_length=200)


class Tokens(BaseModel):
    """A new access token (JWT) and refresh token."""

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class Me(BaseModel):
    """The caller: name, server admin or not, role in each tenant."""

    name: str
    server_admin: bool
    roles: dict[str, RoleName]


class NewKey(BaseModel):
    """An ingest key to create in a tenant."""

    model_config = STRICT

    tenant: str = Field(pattern=NAME)
    name: str = Field("", max_length=200)


class Key(BaseModel):
    """An ingest key (never its secret)."""

    key_id: str
    tenant: str
    name: str
    created_by: str
    created_at: str
    revoked: bool


class CreatedKey(Key):
    """A new ingest key: ``key`` is shown this once and never stored."""

    key: str


class NewUser(BaseModel):
    """A user to create, with a role in one tenant."""

    model_config = STRICT

    username: str = Field(pattern=NAME)
    password: str = Field(min_length=8, max_length=1000)
    email: str | None = Field(None, max_length=200)
    tenant: str = Field(pattern=NAME)
    role: RoleName = "viewer"


class RoleGrant(BaseModel):
    """Give a user a role in a tenant (``role`` null: take it away)."""

    model_config = STRICT

    tenant: str = Field(pattern=NAME)
    role: RoleName | None


class User(BaseModel):
    """A user and its roles (those in the caller's tenants)."""

    username: str
    email: str | None
    active: bool
    server_admin: bool
    roles: dict[str, RoleName]
    last_login_at: str | None


class NewTenant(BaseModel):
    """A tenant (team) to create."""

    model_config = STRICT

    name: str = Field(pattern=NAME)
    description: str = Field("", max_length=500)


class Tenant(BaseModel):
    """A tenant the caller sees, and the caller's role in it."""

    name: str
    role: RoleName


class AuditRow(BaseModel):
    """One audit log row."""

    id: int
    user: str
    tenant: str | None
    at: str
    action: str
    target: str | None
    address: str | None
    success: bool
    reason: str | None


Keys = shape("Keys", "Ingest keys of the caller's tenants.", keys=list[Key])
Users = shape("Users", "Users of the caller's tenants.", users=list[User])
Tenants = shape("Tenants", "Tenants the caller sees.", tenants=list[Tenant])
AuditLog = shape("AuditLog", "Audit rows, newest first.", audit=list[AuditRow])
Done = shape("Done", "What was done.", done=str)
