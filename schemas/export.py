"""JSON Schema export of the payload contract (``gridcrew schemas export``)."""

from __future__ import annotations

from typing import Any

from schemas.telemetry import PAYLOAD_MODELS


def export_all() -> dict[str, dict[str, Any]]:
    return {m.__name__: m.model_json_schema(by_alias=True) for m in PAYLOAD_MODELS}
