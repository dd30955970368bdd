"""What counts as a usable secret, and every service's refusal to start without one.

The three secrets (device provisioning secret, service password, JWT key) have no
default. A service calls ``require(...)`` with the ones it uses before it connects to
anything. This module never prints, logs or returns a secret's value.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gridcrew.config import SECRETS_FILE, Settings, get_settings

MIN_LENGTH = 32
"""Characters; a generated secret is at least 32 hex digits (128 bits)."""
MIN_DISTINCT = 6
"""Different characters; "aaaa..." or "abababab..." is not a secret."""


@dataclass(frozen=True)
class Secret:
    field: str
    """The settings attribute."""
    purpose: str
    random_bytes: int
    """How much randomness ``generate`` puts in (printed as twice as many hex digits)."""

    @property
    def env(self) -> str:
        return f"GRIDCREW_{self.field.upper()}"

    @property
    def command(self) -> str:
        return f"python3 -c 'import secrets; print(secrets.token_hex({self.random_bytes}))'"

    def generate(self) -> str:
        return secrets.token_hex(self.random_bytes)


SECRETS: dict[str, Secret] = {
    s.field: s
    for s in (
        Secret("device_secret", "the provisioning secret of the device passwords", 24),
        Secret("service_password", "the broker password of the service accounts", 16),
        Secret("jwt_secret", "the signing key of the API's tokens", 32),
    )
}
ALL = tuple(SECRETS)

KNOWN_DEFAULTS = frozenset(
    {
        # the defaults this project once shipped: public, in its history
        "dev-only-device-secret",
        "dev-only-service-password",
        "dev-only-jwt-secret-change-me-0123456789",
    }
)


@dataclass(frozen=True)
class Problem:
    secret: Secret
    reason: str
    missing: bool = False

    def __str__(self) -> str:
        return f"{self.secret.env} {self.reason} ({self.secret.purpose})"


def problems(settings: Settings, fields: Iterable[str] = ALL) -> list[Problem]:
    """What is wrong with each of *fields* in *settings*: missing, public or too weak."""
    found = []
    for field in fields:
        secret = SECRETS[field]
        value: str = getattr(settings, field)
        if not value:
            found.append(Problem(secret, "is not set", missing=True))
        elif value in KNOWN_DEFAULTS:
            found.append(Problem(secret, "is a published default"))
        elif len(value) < MIN_LENGTH:
            found.append(
                Problem(secret, f"is too short ({len(value)} characters, at least {MIN_LENGTH})")
            )
        elif len(set(value)) < MIN_DISTINCT:
            found.append(Problem(secret, "is too simple (fewer than 6 different characters)"))
    return found


def refusal(service: str, found: list[Problem]) -> str:
    """The message of a service that will not start, with a fix for each secret."""
    lines = [f"{service} refuses to start:"]
    for p in found:
        lines.append(f"  {p}")
        lines.append(f"    generate one: {p.secret.command}")
    lines.append(
        "  set them in the environment, or write the missing ones to var/secrets.env with"
        " `gridcrew secrets generate`; see docs/security.md."
    )
    lines.append(
        "  (a development machine only: GRIDCREW_DEV=1 accepts weak secrets and generates"
        " missing ones)"
    )
    return "\n".join(lines)


def write_missing(path: Path, fields: Iterable[str] = ALL, *, replace: bool = False) -> list[str]:
    """Add a generated value to *path* for each of *fields* it lacks (every one of
    *fields* with *replace*); the other lines are kept. Returns the variables written.
    The file is readable by its owner only and replaced in one rename."""
    lines = path.read_text().splitlines() if path.exists() else []
    present = {line.split("=", 1)[0].strip() for line in lines if "=" in line}
    wanted = [SECRETS[f] for f in fields]
    if replace:
        names = {s.env for s in wanted}
        lines = [line for line in lines if line.split("=", 1)[0].strip() not in names]
        present -= names
    written = [s for s in wanted if s.env not in present]
    if not written:
        return []
    lines += [f"{s.env}={s.generate()}" for s in written]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
    return [s.env for s in written]


def require(service: str, fields: Iterable[str] = ALL) -> None:
    """Exit with the refusal (status 2) unless every one of *fields* is usable.
    With GRIDCREW_DEV=1 a missing secret is generated into var/secrets.env instead, and a
    weak one only warned about."""
    fields = tuple(fields)
    found = problems(get_settings(), fields)
    if not found:
        return
    if not get_settings().dev:
        print(refusal(service, found), file=sys.stderr, flush=True)
        raise SystemExit(2)
    missing = [p.secret.field for p in found if p.missing]
    if missing:
        written = write_missing(SECRETS_FILE, missing)
        get_settings.cache_clear()
        if written:
            print(f"GRIDCREW_DEV: generated {', '.join(written)} into {SECRETS_FILE}", flush=True)
    found = problems(get_settings(), fields)
    still_missing = [p for p in found if p.missing]  # set empty in the environment
    if still_missing:
        print(refusal(service, still_missing), file=sys.stderr, flush=True)
        raise SystemExit(2)
    for p in found:
        print(f"GRIDCREW_DEV: {p}; never run like this in production", file=sys.stderr)
