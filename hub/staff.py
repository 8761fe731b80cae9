"""Staff credentials: argon2id password hashes, session and API-token secrets (no I/O).

Only the SHA-256 of a session or token secret is stored, so a copy of the database gives
nobody a way in; passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's
second recommended parameter set).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MIN_PASSWORD",
    "USER_ID",
    "check_password",
    "hash_password",
    "needs_rehash",
    "new_secret",
    "rehash",
    "secret_digest",
]

USER_ID = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
MIN_PASSWORD = 12
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so an unknown user id takes as long to
# refuse as a wrong password (no account enumeration by timing).
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of a new password; ValueError if it is too short."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: must be at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """True if `password` matches the stored hash; None (no such user) always fails."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def rehash(password: str) -> str:
    """A fresh hash of a password already in use (no length rule: it was checked when
    the password was set)."""
    return _HASHER.hash(password)


def needs_rehash(stored: str) -> bool:
    """True if the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(stored)


def new_secret() -> str:
    """A fresh session or API-token secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """What the database keeps of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()
