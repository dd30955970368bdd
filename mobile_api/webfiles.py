"""The web pages' static files (the map, the crew app, the customer page): a file is served
only from below its page's own folder, never by a path that climbs out of it."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

from mobile_api.problems import Problem


def static_file(
    root: Path,
    path: str,
    *,
    vendored_by: str | None = None,
    headers: dict[str, str] | None = None,
) -> FileResponse:
    """The file *path* below *root*, else 404. *vendored_by* names the set-up hook that
    vendors ``vendor/`` (its files are missing until it has run)."""
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        if vendored_by and path.startswith("vendor/"):
            raise Problem(
                404,
                "not_vendored",
                f"{path} is missing; run ./dev test or bash {vendored_by}",
            )
        raise Problem(404, "not_found", f"no static file {path}")
    return FileResponse(target, headers=headers)
