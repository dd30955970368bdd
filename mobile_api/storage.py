"""Where photo and signature bytes live: a small interface, local folder by default.

Keys are relative paths made by the API (``jobs/<id>/<sha256>.jpg``), never
taken from a client; the local implementation refuses any key that would leave
its root. Uploads are written chunk by chunk to a temporary object and made
visible under their key only on ``commit``. An S3-compatible implementation
needs only these methods (multipart upload for ``begin``/``commit``) and a
branch in :func:`get_storage`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from gridcrew.config import get_settings

CHUNK = 64 * 1024


class Upload(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self, key: str) -> None: ...
    def abort(self) -> None: ...


class Storage(Protocol):
    def begin(self) -> Upload: ...
    def put(self, key: str, data: bytes) -> None: ...
    def read(self, key: str) -> bytes: ...
    def stream(self, key: str) -> Iterator[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def open(self, key: str) -> BinaryIO: ...


class LocalUpload:
    def __init__(self, storage: LocalStorage) -> None:
        self._storage = storage
        incoming = storage.root / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        self._tmp = incoming / uuid.uuid4().hex
        self._file = open(self._tmp, "wb")

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self, key: str) -> None:
        self._file.close()
        target = self._storage.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, target)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class LocalStorage:
    """Files below *root* (``settings.photo_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if not p.is_relative_to(self.root) or p == self.root:
            raise ValueError(f"storage key {key!r} leaves the storage root")
        return p

    def begin(self) -> LocalUpload:
        return LocalUpload(self)

    def put(self, key: str, data: bytes) -> None:
        upload = self.begin()
        upload.write(data)
        upload.commit(key)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def stream(self, key: str) -> Iterator[bytes]:
        with open(self.path(key), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def open(self, key: str) -> BinaryIO:
        """A seekable binary file (Pillow reads EXIF and thumbnails from it)."""
        return open(self.path(key), "rb")


def get_storage() -> Storage:
    return LocalStorage(get_settings().photo_dir)
