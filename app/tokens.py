"""Access tokens (JWT, PyJWT) and the random secrets behind ingest keys and refresh tokens.

Access tokens are short-lived JWTs signed HS256 with LOOKOUT_JWT_SECRET or RS256 with a key
pair; every token names its key (``kid``) so keys can be rotated: old keys stay in the verify
set (LOOKOUT_JWT_OLD_SECRETS, LOOKOUT_JWT_PUBLIC_KEYS) until the tokens they signed expired.
A token carries the user's roles per tenant, so any worker checks it without a database: a
disabled user keeps reading until the token expires (LOOKOUT_ACCESS_TOKEN_TTL), never longer.
Time is an argument: expiry is checked against ``now``, not the clock inside PyJWT.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import jwt

from app.roles import Principal, Role
from app.settings import Settings

LEEWAY = 5.0  # seconds of clock skew accepted between workers


class TokenError(ValueError):
    """A token is missing, malformed, expired, or not signed by a key we trust."""


@dataclass(frozen=True)
class Signer:
    """Signs and verifies access tokens."""

    algorithm: str
    kid: str
    signing_key: Any
    verify_keys: dict[str, Any]
    issuer: str
    audience: str
    ttl: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer | None:
        """The signer the settings describe; None when sign-in is off."""
        common = {
            "kid": settings.jwt_kid,
            "issuer": settings.jwt_issuer,
            "audience": settings.jwt_audience,
            "ttl": settings.access_token_ttl,
        }
        if settings.jwt_private_key is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            private = load_pem_private_key(settings.jwt_private_key.read_bytes(), None)
            keys: dict[str, Any] = {settings.jwt_kid: private.public_key()}  # type: ignore[union-attr]
            for path in settings.jwt_public_keys:
                keys.setdefault(path.name.split(".")[0], path.read_bytes())  # k0.pub.pem: k0
            return cls("RS256", signing_key=private, verify_keys=keys, **common)  # type: ignore[arg-type]
        if settings.jwt_secret is None:
            return None
        secret = settings.jwt_secret.get_secret_value()
        keys = {settings.jwt_kid: secret}
        old = settings.jwt_old_secrets.get_secret_value() if settings.jwt_old_secrets else ""
        for item in filter(None, (part.strip() for part in old.split(","))):
            kid, _, value = item.partition(":")
            keys.setdefault(kid, value)
        return cls("HS256", signing_key=secret, verify_keys=keys, **common)  # type: ignore[arg-type]

    def issue(self, who: Principal, now: float) -> str:
        """A signed access token for ``who``, valid for ``ttl`` seconds from ``now``."""
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(who.user_id),
            "name": who.name,
            "sa": who.server_admin,
            "roles": {tenant: role.value for tenant, role in who.roles.items()},
            "iat": int(now),
            "exp": int(now) + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self.kid}
        return jwt.encode(claims, self.signing_key, algorithm=self.algorithm, headers=headers)

    def verify(self, token: str, now: float) -> Principal:
        """The caller a token names; :class:`TokenError` unless it is valid at ``now``."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        key = self.verify_keys.get(str(header.get("kid")))
        if key is None:
            raise TokenError("token signed with an unknown key (kid)")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["exp", "iat", "sub", "iss", "aud"],
                    "verify_exp": False,  # checked below against ``now``
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        if float(claims["exp"]) + LEEWAY < now:
            raise TokenError("token expired")
        if float(claims["iat"]) - LEEWAY > now:
            raise TokenError("token issued in the future")
        try:
            roles = {str(t): Role(r) for t, r in (claims.get("roles") or {}).items()}
            return Principal(
                str(claims.get("name", "")),
                user_id=int(claims["sub"]),
                server_admin=bool(claims.get("sa")),
                roles=roles,
            )
        except (TypeError, ValueError, AttributeError):
            raise TokenError("invalid token claims") from None


class Secret(NamedTuple):
    """A new random secret: its public id, the text shown once, the digest that is stored."""

    id: str
    text: str
    digest: bytes


def digest(text: str) -> bytes:
    """SHA-256 of a secret (what is stored; the secret has 256 random bits)."""
    return hashlib.sha256(text.encode()).digest()


def new_secret(prefix: str) -> Secret:
    """A random secret ``<prefix>_<id>_<secret>`` (an ingest key ``lk``, a refresh token ``rt``)."""
    sid = secrets.token_hex(6)
    text = f"{prefix}_{sid}_{secrets.token_urlsafe(32)}"
    return Secret(sid, text, digest(text))


def secret_id(prefix: str, text: str) -> str | None:
    """The id of a secret ``<prefix>_<id>_<secret>``, or None when it has not that shape."""
    head, _, rest = text.partition("_")
    sid, _, tail = rest.partition("_")
    if head != prefix or len(sid) != 12 or not tail:
        return None
    return sid


def same_digest(text: str, stored: bytes) -> bool:
    """True if ``text`` hashes to ``stored`` (constant time)."""
    return hmac.compare_digest(digest(text), bytes(stored))
