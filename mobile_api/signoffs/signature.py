"""A customer's signature as PNG bytes: decoded from base64 or drawn from strokes.

Pure: bytes or point lists in, PNG bytes out; a signature that is not a PNG
or has no ink is refused with a reason the terminal can show.
"""

from __future__ import annotations

import base64
import binascii
import io

from PIL import Image, ImageDraw

WIDTH, HEIGHT, MARGIN = 600, 200, 10
MAX_PIXELS = 4 * 1024 * 1024
"""A signature pad's canvas at a terminal's resolution is well under this; a PNG with a
larger canvas is refused from its header, before any pixel is decoded (the sheet
would otherwise decode it whole)."""


class BadSignature(ValueError):
    pass


def from_base64_png(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("signature_png is not valid base64") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadSignature("signature_png is not a PNG image")
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
            width, height = image.size
            if width * height <= MAX_PIXELS:
                image.verify()
    except Exception:  # any decoder complaint means the same to the customer
        raise BadSignature("signature_png is a damaged PNG image") from None
    if width * height > MAX_PIXELS:
        raise BadSignature(
            f"signature_png is {width} x {height} pixels; at most {MAX_PIXELS} pixels in all"
        )
    return data


def from_strokes(strokes: list[list[tuple[float, float]]]) -> bytes:
    """Draw the strokes (terminal coordinates, any scale) into a 600x200 PNG."""
    points = [p for stroke in strokes for p in stroke]
    if not points:
        raise BadSignature("the signature has no strokes")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0 = min(xs), min(ys)
    fits = [
        (room / extent)
        for room, extent in (
            (WIDTH - 2 * MARGIN, max(xs) - x0),
            (HEIGHT - 2 * MARGIN, max(ys) - y0),
        )
        if extent > 0
    ]
    scale = min(fits, default=1.0)
    image = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        line = [(MARGIN + (x - x0) * scale, MARGIN + (y - y0) * scale) for x, y in stroke]
        if len(line) == 1:
            draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=0)
        else:
            draw.line(line, fill=0, width=3, joint="curve")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
