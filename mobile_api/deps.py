"""Typed dependencies used by every router: the database connection and the caller.

``DbConn`` is a pooled psycopg connection in autocommit mode: a handler that
writes wraps its statements in ``with conn.transaction():`` so that the
commit happens before the response is built;
``CurrentUser`` is the authenticated caller; ``DispatcherUser`` / ``CrewUser``
narrow it by role (403 otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import jwt
import psycopg
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from gridcrew.config import get_settings
from mobile_api.problems import Problem

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
ALGORITHM = "HS256"


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    with request.app.state.pool.connection() as conn:
        yield conn


DbConn = Annotated[psycopg.Connection, Depends(get_conn)]


@dataclass(frozen=True)
class User:
    username: str
    role: str
    crew_id: str | None

    @property
    def is_dispatcher(self) -> bool:
        return self.role in ("dispatcher", "admin")


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "not_authenticated",
        detail,
        title="Not authenticated",
        headers={"WWW-Authenticate": "Bearer"},
    )


def decode_access_token(token: str) -> User:
    try:
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("the access token has expired; refresh it") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("the access token is not valid") from None
    if claims.get("typ") != "access":
        raise _unauthorized("not an access token")
    return User(claims["sub"], claims["role"], claims.get("crew"))


def current_user(token: Annotated[str | None, Depends(oauth2_scheme)]) -> User:
    if not token:
        raise _unauthorized("log in first: POST /v1/auth/token")
    return decode_access_token(token)


CurrentUser = Annotated[User, Depends(current_user)]


def dispatcher_user(user: CurrentUser) -> User:
    if not user.is_dispatcher:
        raise Problem(403, "dispatcher_only", "this needs a dispatcher or admin account")
    return user


def crew_user(user: CurrentUser) -> User:
    if user.role != "crew" or not user.crew_id:
        raise Problem(403, "crew_only", "this needs a crew account")
    return user


def admin_user(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Problem(403, "admin_only", "this needs an admin account")
    return user


DispatcherUser = Annotated[User, Depends(dispatcher_user)]
CrewUser = Annotated[User, Depends(crew_user)]
AdminUser = Annotated[User, Depends(admin_user)]
