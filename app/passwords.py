"""Password hashing with argon2id (argon2-cffi), and a check that takes as long for an unknown
user as for a wrong password (a dummy hash is verified), so timing does not tell who exists."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()
MIN_LENGTH = 8


class WeakPassword(ValueError):
    """A new password is too short."""


def hash_password(password: str) -> str:
    """The argon2id hash of a new password (at least :data:`MIN_LENGTH` characters)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password too short: give at least {MIN_LENGTH} characters")
    return HASHER.hash(password)


@cache
def _dummy() -> str:
    return HASHER.hash("not-a-password-of-anyone")


def check_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored`` (None: no such user; still costs one verify)."""
    try:
        return HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
