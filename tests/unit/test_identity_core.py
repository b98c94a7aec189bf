"""Roles per tenant, the host->tenant map, access tokens and secrets, passwords (pure)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from alerting.rules import series_labels
from app.passwords import WeakPassword, check_password, hash_password
from app.roles import ANONYMOUS, SERVER_ADMIN, Need, Principal, Role
from app.settings import ConfigError, load_settings
from app.tenancy import TenantMap
from app.tokens import Signer, TokenError, new_secret, same_digest, secret_id
from tables.records import Final
from tables.series import log_series

SECRET = "s" * 40
T0 = 1_800_000_000.0
ALICE = Principal("alice", user_id=7, roles={"acme": Role.OPERATOR, "beta": Role.VIEWER})


def signer(**env: str) -> Signer:
    found = Signer.from_settings(
        load_settings(
            {"LOOKOUT_JWT_SECRET": SECRET} | {f"LOOKOUT_{k.upper()}": v for k, v in env.items()}
        )
    )
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("who", "need", "allowed"),
    [
        (ALICE, Need.VIEWER, True),
        (ALICE, Need.OPERATOR, True),
        (ALICE, Need.ADMIN, False),
        (ALICE, Need.SERVER_ADMIN, False),
        (ALICE, Need.USER, True),
        (ANONYMOUS, Need.VIEWER, True),
        (ANONYMOUS, Need.OPERATOR, False),
        (ANONYMOUS, Need.USER, False),
        (SERVER_ADMIN, Need.SERVER_ADMIN, True),
        (SERVER_ADMIN, Need.ADMIN, True),
        (Principal("nobody", user_id=1), Need.VIEWER, False),
    ],
)
def test_an_operation_is_allowed_by_a_role_in_some_tenant(
    who: Principal, need: Need, allowed: bool
) -> None:
    assert who.allowed(need) is allowed


def test_roles_are_per_tenant() -> None:
    assert ALICE.can(Role.OPERATOR, "acme") and not ALICE.can(Role.OPERATOR, "beta")
    assert ALICE.sees("beta") and not ALICE.sees("gamma")
    assert SERVER_ADMIN.can(Role.ADMIN, "anything")
    assert ANONYMOUS.sees("anything") and not ANONYMOUS.can(Role.OPERATOR, "anything")
    assert ALICE.readable() == {"acme", "beta"}
    assert SERVER_ADMIN.readable() is None and ANONYMOUS.readable() is None


def test_tenant_of_a_host_assignment_then_tag_then_default() -> None:
    tenants = TenantMap("default", {"h1": "acme"})
    assert tenants.of("h1", {"tags": {"tenant": "beta"}}) == "acme"
    assert tenants.of("h2", {"tags": {"tenant": "beta"}}) == "beta"
    assert tenants.of("h2") == "beta"  # learnt once per host
    assert tenants.of("h3") == "default" and tenants.assigned("h3") is None
    tenants.replace({"h3": "gamma"})
    assert tenants.of("h3") == "gamma" and tenants.assigned("h1") is None


def test_a_token_round_trips_with_roles_and_expires() -> None:
    s = signer(access_token_ttl="60")
    token = s.issue(ALICE, T0)
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    assert s.verify(token, T0 + 30) == ALICE
    with pytest.raises(TokenError, match="expired"):
        s.verify(token, T0 + 120)


def b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_refused() -> None:
    s = signer()
    claims = {"iss": "lookout", "aud": "lookout-api", "sub": "7", "name": "alice", "sa": True}
    claims |= {"iat": int(T0), "exp": int(T0) + 300}
    other = jwt.encode(claims, "o" * 40, algorithm="HS256", headers={"kid": "k1"})
    unknown_kid = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k9"})
    none = f"{b64({'alg': 'none', 'kid': 'k1', 'typ': 'JWT'})}.{b64(claims)}."
    wrong_aud = jwt.encode({**claims, "aud": "x"}, SECRET, algorithm="HS256", headers={"kid": "k1"})
    for token in [other, unknown_kid, none, wrong_aud, "garbage", "a.b.c"]:
        with pytest.raises(TokenError):
            s.verify(token, T0)


def test_old_keys_still_verify_during_a_rotation() -> None:
    old = signer(jwt_kid="k0")
    new = signer(jwt_kid="k2", jwt_secret="n" * 40, jwt_old_secrets=f"k0:{SECRET}")
    assert new.verify(old.issue(ALICE, T0), T0) == ALICE


def test_a_short_jwt_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="LOOKOUT_JWT_SECRET"):
        load_settings({"LOOKOUT_JWT_SECRET": "short"})


def test_secrets_are_stored_as_digests_and_parsed_by_id() -> None:
    secret = new_secret("lk")
    assert secret.text.startswith(f"lk_{secret.id}_") and secret.id not in secret.text[16:]
    assert secret_id("lk", secret.text) == secret.id
    assert secret_id("rt", secret.text) is None and secret_id("lk", "lk_short_x") is None
    assert same_digest(secret.text, secret.digest)
    assert not same_digest(secret.text + "x", secret.digest)


def test_passwords_are_argon2_hashes() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert check_password(hashed, "correct horse")
    assert not check_password(hashed, "wrong horse")
    assert not check_password(None, "correct horse")  # unknown user: still one verify
    with pytest.raises(WeakPassword):
        hash_password("short")


def test_rs256_with_a_key_pair_and_an_old_public_key(tmp_path: Path) -> None:
    def pem(name: str) -> tuple[Path, Path]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
        private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        public.write_bytes(
            key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        return private, public

    old_private, old_public = pem("k0")
    new_private, _ = pem("k1")
    env = {"LOOKOUT_JWT_PRIVATE_KEY": str(old_private), "LOOKOUT_JWT_KID": "k0"}
    old = Signer.from_settings(load_settings(env))
    env = {"LOOKOUT_JWT_PRIVATE_KEY": str(new_private), "LOOKOUT_JWT_PUBLIC_KEYS": str(old_public)}
    new = Signer.from_settings(load_settings(env))
    assert old is not None and new is not None and new.algorithm == "RS256"
    token = old.issue(ALICE, T0)
    # the old public key verifies under its kid (the file name before the first dot)
    assert new.verify(token, T0) == ALICE
    assert new.verify(new.issue(ALICE, T0), T0) == ALICE
    with pytest.raises(TokenError):  # an HS256 token made with the public key as secret
        new.verify(jwt.encode({"sub": "7"}, "x" * 40, algorithm="HS256", headers={"kid": "k1"}), T0)


def test_final_records_and_alert_labels_carry_the_tenant_of_the_host() -> None:
    tenants = TenantMap("default", {"web-1": "acme"})
    sid = log_series("shop", "web-1")
    final = Final("web-1", 0, sid, "tumbling", 60, 120, {"requests": 1})
    assert final.to_record(130.0, tenants)["tenant"] == "acme"
    assert final.to_record(130.0)["tenant"] is None  # no map: as before tenants
    desc = {"type": "log", "service": "shop", "host": "web-1", "tenant": "acme"}
    assert series_labels(desc) == {"service": "shop", "host": "web-1", "tenant": "acme"}
    tagged = {"type": "metric", "tags": {"host": "h", "tenant": "spoofed"}, "tenant": "acme"}
    assert series_labels(tagged)["tenant"] == "acme"  # the host's tenant wins over a tag
