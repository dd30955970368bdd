"""Where photo and signature bytes live: a local folder by default, an S3 bucket by setting.

Keys are relative paths made by the API (``jobs/<id>/<sha256>.jpg``), never
taken from a client; both implementations refuse a key that is not a plain
relative path. An upload is spooled chunk by chunk to a file below
``photos/.incoming`` (local disk, so ``write`` never waits on the network and
the photo is never held in memory) and becomes visible under its key only on
``commit``; ``close`` removes the spool whatever happened.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import threading
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gridcrew.config import get_settings

CHUNK = 64 * 1024


class StorageUnavailable(RuntimeError):
    """The configured storage cannot be used; ``fix`` says what to change."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.fix = fix


class Upload(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self, key: str) -> None: ...
    def open(self) -> BinaryIO: ...
    def close(self) -> None: ...


class Storage(Protocol):
    def begin(self) -> Upload: ...
    def put(self, key: str, data: bytes) -> None: ...
    def read(self, key: str) -> bytes: ...
    def stream(self, key: str) -> Iterator[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def check(self) -> str: ...


def plain_key(key: str) -> str:
    """*key* when it is a relative path of named segments (no ``..``, no leading ``/``)."""
    if "\\" in key or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"storage key {key!r} is not a plain relative path")
    return key


class _SpooledUpload:
    """Chunks written to a file below *incoming*; ``_store`` makes it visible under a key."""

    def __init__(self, incoming: Path) -> None:
        incoming.mkdir(parents=True, exist_ok=True)
        self._spool = incoming / uuid.uuid4().hex
        self._file = open(self._spool, "wb")
        self._committed: Path | None = None

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self, key: str) -> None:
        self._file.close()
        self._committed = self._store(plain_key(key))

    def _store(self, key: str) -> Path:
        """Store the closed spool under *key*; return a local file holding the same bytes."""
        raise NotImplementedError

    def open(self) -> BinaryIO:
        """The committed bytes as a seekable local file (Pillow reads EXIF from it)."""
        if self._committed is None:
            raise RuntimeError("open() before commit()")
        return open(self._committed, "rb")

    def close(self) -> None:
        """Remove the spool; before ``commit`` nothing is stored, after it the object stays."""
        self._file.close()
        self._spool.unlink(missing_ok=True)


class LocalUpload(_SpooledUpload):
    def __init__(self, storage: LocalStorage) -> None:
        super().__init__(storage.root / ".incoming")
        self._storage = storage

    def _store(self, key: str) -> Path:
        target = self._storage.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._spool, target)
        return target


class LocalStorage:
    """Files below *root* (``settings.photo_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        p = (self.root / plain_key(key)).resolve()
        if not p.is_relative_to(self.root) or p == self.root:
            raise ValueError(f"storage key {key!r} leaves the storage root")
        return p

    def begin(self) -> LocalUpload:
        return LocalUpload(self)

    def put(self, key: str, data: bytes) -> None:
        upload = self.begin()
        try:
            upload.write(data)
            upload.commit(key)
        finally:
            upload.close()

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def stream(self, key: str) -> Iterator[bytes]:
        with open(self.path(key), "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def check(self) -> str:
        existing = next(p for p in (self.root, *self.root.parents) if p.exists())
        if not os.access(existing, os.W_OK):
            raise StorageUnavailable(
                f"{existing} is not writable",
                "give the API's user write access to it or set GRIDCREW_DATA_DIR",
            )
        return f"local folder {self.root}"


class S3Upload(_SpooledUpload):
    def __init__(self, storage: S3Storage) -> None:
        super().__init__(storage.incoming)
        self._storage = storage

    def _store(self, key: str) -> Path:
        self._storage.upload_file(self._spool, key)
        return self._spool


class S3Storage:
    """Objects in *bucket* below *prefix*; uploads spool below *incoming* first.

    *client* is a botocore S3 client (thread-safe); None = the process's shared one
    (:func:`_s3_client`), made on first use by the thread that needs it: making a
    storage (on the event loop, for an upload) costs nothing."""

    def __init__(self, client: Any, bucket: str, prefix: str, incoming: Path) -> None:
        self._client, self.bucket, self.incoming = client, bucket, incoming
        self.prefix = prefix.strip("/")

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _s3_client()
        return self._client

    def object_key(self, key: str) -> str:
        key = plain_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def begin(self) -> S3Upload:
        return S3Upload(self)

    def upload_file(self, path: Path, key: str) -> None:
        """One PutObject streamed from *path* (photos are far below S3's 5 GiB limit)."""
        md5 = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                md5.update(chunk)
            f.seek(0)
            self._put_object(key, f, md5.digest())

    def put(self, key: str, data: bytes) -> None:
        self._put_object(key, data, hashlib.md5(data, usedforsecurity=False).digest())

    def _put_object(self, key: str, body: BinaryIO | bytes, md5: bytes) -> None:
        # Content-MD5: the store refuses the object if a byte changed on the way.
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Body=body,
            ContentMD5=base64.b64encode(md5).decode(),
            ContentType=_content_type(key),
        )

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()

    def stream(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def check(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        endpoint = self.client.meta.endpoint_url
        where = f"s3://{self.bucket} at {endpoint}"
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise StorageUnavailable(
                f"{where}: no credentials",
                "set GRIDCREW_S3_ACCESS_KEY_ID and GRIDCREW_S3_SECRET_ACCESS_KEY"
                " (or give the process an AWS profile or role)",
            ) from None
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageUnavailable(
                    f"{where}: bucket {self.bucket!r} does not exist",
                    "create the bucket or correct GRIDCREW_STORAGE_URL",
                ) from None
            raise StorageUnavailable(
                f"{where}: {e}",
                "check the keys' access to the bucket (GRIDCREW_S3_ACCESS_KEY_ID)",
            ) from None
        except BotoCoreError as e:
            raise StorageUnavailable(
                f"{where}: {e}", "check GRIDCREW_S3_ENDPOINT_URL and GRIDCREW_S3_REGION"
            ) from None
        return where + (f"/{self.prefix}" if self.prefix else "")


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


_client_lock = threading.Lock()


def _s3_client() -> Any:
    """The process's one client, made by the first caller. The first uploads come
    together, each in its own thread, and without the lock each made its own (measured:
    20 at once, peak RSS 147 -> 196 MB)."""
    with _client_lock:
        return _new_s3_client()


@lru_cache(maxsize=1)
def _new_s3_client() -> Any:
    """One client per process (botocore clients are thread-safe; sessions are not).

    botocore, not boto3: boto3's session adds nothing used here and costs about 2 MB
    more (boto3, s3transfer). Same credential chain (``AWS_*`` variables, profile,
    instance role) when no keys are set."""
    import botocore.session
    from botocore.config import Config

    s = get_settings()
    session = botocore.session.Session()
    # An S3-compatible server gets the bucket in the path: no wildcard DNS needed.
    addressing = "path" if s.s3_endpoint_url else "auto"
    secret = s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else None
    return session.create_client(
        "s3",
        endpoint_url=s.s3_endpoint_url,
        region_name=s.s3_region,
        aws_access_key_id=s.s3_access_key_id,
        aws_secret_access_key=secret,
        config=Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=40,  # as many as the API's threadpool runs at once
            # Integrity comes from Content-MD5 (every S3-compatible server checks it).
            # botocore's own body hashing and newer default checksums read the body in
            # 1 MiB blocks per upload thread (about 30 MB more RSS for 20 concurrent
            # uploads), and many S3-compatible servers refuse the newer checksum headers.
            s3={"addressing_style": addressing, "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def get_storage() -> Storage:
    s = get_settings()
    if not s.storage_url:
        return LocalStorage(s.photo_dir)
    bucket, _, prefix = s.storage_url.removeprefix("s3://").partition("/")
    return S3Storage(None, bucket, prefix, s.photo_dir / ".incoming")


def check_storage() -> dict[str, Any]:
    """The photo store: the local folder is writable, or the S3 bucket answers."""
    try:
        return {"ok": True, "detail": get_storage().check()}
    except StorageUnavailable as exc:
        return {"ok": False, "detail": str(exc), "fix": exc.fix}
