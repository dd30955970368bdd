"""Shapes of a sign-off (see docs/contracts.md, Mobile API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from mobile_api.jobs.schemas import ClientTime, Text

Rating = Field(ge=1, le=5)
MAX_STROKES = 100
MAX_STROKE_POINTS = 2000
MAX_POINTS = 20_000
"""A signature drawn on a terminal has tens of strokes of hundreds of points; these
bounds keep drawing the largest allowed one to milliseconds."""
Coordinate = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]
"""Terminal coordinates of one sample of the pen, any scale."""


class Ratings(BaseModel):
    attitude: int = Rating
    professional_skill: int = Rating
    response_speed: int = Rating
    process_standard: int = Rating


class SignOffRequest(BaseModel):
    customer_name: Text = Field(min_length=1, max_length=200)
    signed_at: ClientTime
    work_summary: Text = Field(min_length=1, max_length=5000)
    signature_png: str | None = Field(
        default=None, max_length=3_000_000, description="base64 PNG (or send strokes)"
    )
    strokes: list[Annotated[list[Point], Field(max_length=MAX_STROKE_POINTS)]] | None = Field(
        default=None,
        max_length=MAX_STROKES,
        description=f"[[[x, y], ...], ...] as drawn on the terminal: at most {MAX_STROKES}"
        f" strokes of {MAX_STROKE_POINTS} points, {MAX_POINTS} points in all",
    )
    ratings: Ratings
    comment: Text = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _one_signature(self) -> SignOffRequest:
        if (self.signature_png is None) == (self.strokes is None):
            raise ValueError("send the signature as signature_png or as strokes (one of them)")
        if self.strokes is not None and sum(len(s) for s in self.strokes) > MAX_POINTS:
            raise ValueError(f"a signature may have at most {MAX_POINTS} points in all")
        return self


class CallBack(BaseModel):
    id: int
    reason: str
    due_at: datetime
    plan_due_at: datetime | None


class SignOff(BaseModel):
    id: int
    work_order_id: int
    customer_name: str
    signed_at: datetime
    work_summary: str
    signature_sha256: str
    comment: str
    created_at: datetime
    ratings: Ratings
    call_back: CallBack | None
