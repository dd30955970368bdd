"""``/v1/auth``: token (OAuth2 password flow), refresh, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from mobile_api.auth import service
from mobile_api.deps import CurrentUser, DbConn
from mobile_api.problems import Problem

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
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: DbConn) -> dict:
    user = service.authenticate(conn, form.username, form.password)
    if user is None:
        raise Problem(
            401,
            "bad_credentials",
            "wrong username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with conn.transaction():
        return service.issue_tokens(conn, user)


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
