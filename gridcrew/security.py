"""Password hashing and device credentials (shared by the seed, the broker and the API).

Passwords are Argon2id (argon2-cffi). A device's broker password is derived
from the provisioning secret, so a fleet of 10,000 needs no stored secrets;
the broker stores only its PBKDF2 hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def device_password(device_id: str, secret: str) -> str:
    """The broker password of a device: HMAC-SHA256(provisioning secret, device id)."""
    return hmac.new(secret.encode(), device_id.encode(), hashlib.sha256).hexdigest()[:32]


def mosquitto_hash(password: str, *, iterations: int = 101, salt: bytes | None = None) -> str:
    """A Mosquitto 2.x password-file hash ($7$ = PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
