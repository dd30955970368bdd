"""Token issue and refresh. Refresh tokens are single use: each refresh spends one and
issues the next of its family (the tokens descending from one login); presenting a
spent one again revokes the whole family (someone else holds a copy)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import psycopg

from gridcrew.config import get_settings
from gridcrew.security import hash_password, verify_password
from mobile_api.deps import ALGORITHM, User

# Verified against when the username is unknown, so timing does not tell which.
_DUMMY_HASH = hash_password("no user has this password")


def authenticate(conn: psycopg.Connection, username: str, password: str) -> User | None:
    row = None
    if "\x00" not in username:  # no user name holds NUL (PostgreSQL text cannot)
        row = conn.execute(
            "SELECT username, password_hash, role, crew_id FROM users"
            " WHERE username = %s AND active",
            (username,),
        ).fetchone()
    if row is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row["password_hash"], password):
        return None
    return User(row["username"], row["role"], row["crew_id"])


def issue_tokens(conn: psycopg.Connection, user: User, family: uuid.UUID | None = None) -> dict:
    """A new access token and refresh token; the refresh token starts a family unless
    it continues *family*."""
    s = get_settings()
    now = datetime.now(UTC)
    access = jwt.encode(
        {
            "sub": user.username,
            "role": user.role,
            "crew": user.crew_id,
            "typ": "access",
            "iat": now,
            "exp": now + timedelta(minutes=s.access_token_minutes),
        },
        s.jwt_secret,
        algorithm=ALGORITHM,
    )
    refresh_id = uuid.uuid4()
    expires = now + timedelta(days=s.refresh_token_days)
    conn.execute(
        "INSERT INTO refresh_tokens (id, username, expires_at, family) VALUES (%s, %s, %s, %s)",
        (refresh_id, user.username, expires, family or refresh_id),
    )
    refresh = jwt.encode(
        {"sub": user.username, "jti": str(refresh_id), "typ": "refresh", "exp": expires},
        s.jwt_secret,
        algorithm=ALGORITHM,
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": s.access_token_minutes * 60,
        "role": user.role,
        "crew_id": user.crew_id,
    }


def refresh(conn: psycopg.Connection, token: str) -> dict | None:
    """Spend a refresh token and issue the next pair of its family; None when it is
    invalid, expired, revoked or spent (spent: its family is revoked, in the caller's
    transaction)."""
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "jti"]},
        )
        token_id = uuid.UUID(claims["jti"])
    except (jwt.InvalidTokenError, ValueError):
        return None
    if claims.get("typ") != "refresh":
        return None
    row = conn.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE id = %s AND used_at IS NULL"
        " AND revoked_at IS NULL AND expires_at > now() RETURNING username, family",
        (token_id,),
    ).fetchone()
    if row is None:
        conn.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family ="
            " (SELECT family FROM refresh_tokens WHERE id = %s AND used_at IS NOT NULL)",
            (token_id,),
        )
        return None
    user = conn.execute(
        "SELECT username, role, crew_id FROM users WHERE username = %s AND active",
        (row["username"],),
    ).fetchone()
    if user is None:
        return None
    return issue_tokens(
        conn, User(user["username"], user["role"], user["crew_id"]), family=row["family"]
    )
