"""``/v1/auth``: token (OAuth2 password flow), refresh, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from gridcrew.config import get_settings
from mobile_api.auth import service, throttle
from mobile_api.deps import CurrentUser, DbConn
from mobile_api.problems import Problem
from mobile_api.ratelimit import client_key

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str
    crew_id: str | None


class RefreshRequest(BaseModel):
    refresh_token: str


class Me(BaseModel):
    username: str
    role: str
    crew_id: str | None


@router.post("/token", response_model=TokenPair)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, conn: DbConn
) -> dict:
    """Log in. After wrong passwords each further attempt waits longer (429 Retry-After)."""
    s = get_settings()
    policy = throttle.Policy(
        s.login_free_failures, s.login_client_free_failures, s.login_max_delay_s
    )
    client = client_key(request)
    with conn.transaction():
        throttle.lock(conn, form.username)
        wait = throttle.wait_s(conn, form.username, client, policy)
        if wait:
            raise Problem(
                429,
                "too_many_failed_logins",
                f"too many wrong passwords for this account or from this address; "
                f"try again in {wait} s",
                title="Too many failed logins",
                headers={"Retry-After": str(wait)},
                retry_after=wait,
            )
        user = service.authenticate(conn, form.username, form.password)
        if user is not None:
            return service.issue_tokens(conn, user)
        throttle.record_failure(conn, form.username, client)
    raise Problem(
        401,
        "bad_credentials",
        "wrong username or password",
        headers={"WWW-Authenticate": "Bearer"},
    )


@router.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshRequest, conn: DbConn) -> dict:
    with conn.transaction():
        pair = service.refresh(conn, body.refresh_token)
    if pair is None:
        raise Problem(
            401,
            "bad_refresh_token",
            "the refresh token is invalid, expired or already used; log in again",
        )
    return pair


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(username=user.username, role=user.role, crew_id=user.crew_id)
