"""Stream a multipart photo upload straight into storage, hashing as it goes.

The body is parsed chunk by chunk (python-multipart's push parser): the file
part never sits whole in memory, each chunk goes on to the storage's spool file;
the type is decided from its first bytes, the canvas size from the first
:data:`~mobile_api.photos.inspect.PREFIX_BYTES` (a decompression bomb is refused before
it is stored), and the size limit is enforced while it arrives. After a refusal the
rest of the body is read and discarded, so the client always gets the answer instead
of a broken pipe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from mobile_api.photos.inspect import HEAD_BYTES, PREFIX_BYTES, canvas, sniff
from mobile_api.problems import Problem
from mobile_api.storage import Storage, Upload

MAX_FIELD_BYTES = 1024


@dataclass
class ReceivedFile:
    """The file part: stored under a temporary name until the service commits it."""

    upload: Upload | None = None
    size: int = 0
    head: bytes = b""
    prefix: bytearray = field(default_factory=bytearray)
    """The first bytes, until the canvas size is checked."""
    canvas_checked: bool = False
    content_type: str | None = None
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


@dataclass
class PhotoForm:
    fields: dict[str, str]
    file: ReceivedFile


class _Receiver:
    """python-multipart callbacks: one part at a time, file bytes to storage."""

    def __init__(self, storage: Storage, limit: int, max_pixels: int) -> None:
        self.storage, self.limit, self.max_pixels = storage, limit, max_pixels
        self.fields: dict[str, bytearray] = {}
        self.file: ReceivedFile | None = None
        self.refusal: Problem | None = None
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._part: str | None = None
        self._is_file = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }

    def _part_begin(self) -> None:
        self._headers, self._part, self._is_file = {}, None, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self._part = name
        if name == "file" and self.file is None:
            self._is_file = True
            self.file = ReceivedFile(upload=self.storage.begin())
        else:
            self.fields.setdefault(name, bytearray())

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.refusal is not None or self._part is None:
            return
        chunk = data[start:end]
        if not self._is_file:
            buf = self.fields[self._part]
            if len(buf) + len(chunk) > MAX_FIELD_BYTES:
                self._refuse(
                    Problem(413, "field_too_large", f"form field {self._part!r} is too long")
                )
                return
            buf.extend(chunk)
            return
        f = self.file
        assert f is not None and f.upload is not None
        f.size += len(chunk)
        if f.size > self.limit:
            self._refuse(
                Problem(
                    413,
                    "photo_too_large",
                    f"the photo is larger than the limit of {self.limit} bytes;"
                    " send a smaller or more compressed image",
                    limit_bytes=self.limit,
                )
            )
            return
        if f.content_type is None:
            f.head += chunk[: HEAD_BYTES - len(f.head)]
            if len(f.head) >= HEAD_BYTES:
                self._decide_type()
                if self.refusal is not None:
                    return
        if not f.canvas_checked:
            f.prefix += chunk[: PREFIX_BYTES - len(f.prefix)]
            if len(f.prefix) >= PREFIX_BYTES:
                self._check_canvas()
                if self.refusal is not None:
                    return
        f.digest.update(chunk)
        f.upload.write(chunk)

    def _check_canvas(self) -> None:
        """Refuse a canvas over the pixel bound from the file's first bytes (when they
        tell; otherwise decoding checks it)."""
        f = self.file
        assert f is not None and f.content_type is not None
        f.canvas_checked = True
        size = canvas(bytes(f.prefix), f.content_type)
        f.prefix = bytearray()
        if size is not None and size[0] * size[1] > self.max_pixels:
            self._refuse(
                Problem(
                    422,
                    "photo_too_many_pixels",
                    f"the photo is {size[0]} x {size[1]} pixels, more than {self.max_pixels}"
                    " in all; send it at a lower resolution",
                    max_pixels=self.max_pixels,
                )
            )

    def _decide_type(self) -> None:
        f = self.file
        assert f is not None
        f.content_type = sniff(f.head)
        if f.content_type is None:
            self._refuse(
                Problem(
                    415,
                    "unsupported_photo_type",
                    "the file is not a JPEG, PNG or HEIC image (decided from its bytes,"
                    " not its name)",
                )
            )

    def _refuse(self, problem: Problem) -> None:
        self.refusal = problem
        self.abort()

    def abort(self) -> None:
        if self.file is not None and self.file.upload is not None:
            self.file.upload.close()
            self.file.upload = None

    def finish(self) -> PhotoForm:
        if self.refusal is None and self.file is not None and self.file.content_type is None:
            self._decide_type()  # a file shorter than the sniffed head
        if self.refusal is None and self.file is not None and not self.file.canvas_checked:
            self._check_canvas()  # a file shorter than the prefix
        if self.refusal is not None:
            raise self.refusal
        if self.file is None or self.file.size == 0:
            self.abort()
            raise Problem(422, "file_required", "send the photo as the multipart part 'file'")
        fields = {k: bytes(v).decode("utf-8", "replace") for k, v in self.fields.items()}
        return PhotoForm(fields, self.file)


async def receive(request: Request, storage: Storage, limit: int, max_pixels: int) -> PhotoForm:
    """Read the multipart body of *request*; the caller commits the file and closes it."""
    media, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise Problem(
            415, "multipart_required", "send the photo as multipart/form-data with a 'file' part"
        )
    receiver = _Receiver(storage, limit, max_pixels)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())
        async for chunk in request.stream():
            if receiver.refusal is None:
                parser.write(chunk)
        if receiver.refusal is None:
            parser.finalize()
    except (MultipartParseError, ValueError) as e:
        receiver.abort()
        raise Problem(400, "bad_multipart", f"the multipart body cannot be read: {e}") from None
    except BaseException:
        receiver.abort()
        raise
    return receiver.finish()
