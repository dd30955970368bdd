"""The confirmation sheet in Chinese: the CJK font embedded (the PDF's font dictionary, as
poppler's pdffonts reads it), rendered by pdftoppm on a machine without fonts showing every
glyph of a known string (no empty boxes), rendered once and served as stored."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from pathlib import Path

from PIL import Image, ImageChops

from gridcrew import db
from tests.api.conftest import make_job, now_iso, query
from tests.api.test_photos import jpeg, upload
from tests.api.test_signoffs import body

COMMENT = "师傅很专业"  # five different glyphs: five empty boxes would all look alike
DPI = 150


def _signed_job(api, c) -> int:
    job = make_job(api.database_url, "CREW-01", status="on_site")
    with db.connect(api.database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO crew_members (crew_id, name, role) VALUES ('CREW-01', '张伟', 'leader'),"
            " ('CREW-01', '李娜', 'member') ON CONFLICT DO NOTHING"
        )
    assert upload(c, job, jpeg(), stage="completion").status_code == 201  # no GPS in EXIF
    c.post(f"/v1/jobs/{job}/status", json={"status": "work_done", "client_time": now_iso()})
    r = c.post(
        f"/v1/jobs/{job}/signoff",
        json=body(customer_name="王芳", comment=COMMENT, work_summary="更换熔断器，已恢复供电"),
    )
    assert r.status_code == 201, r.text
    return job


def _no_fonts_env(tmp: Path) -> dict[str, str]:
    """fontconfig with an empty font directory: the machine without CJK (or any) fonts."""
    conf = tmp / "fonts.conf"
    (tmp / "empty-fonts").mkdir(exist_ok=True)
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{tmp / 'empty-fonts'}</dir><cachedir>{tmp / 'fc-cache'}</cachedir></fontconfig>"
    )
    return {"FONTCONFIG_FILE": str(conf), "PATH": "/usr/bin:/bin", "HOME": str(tmp)}


def _word_box(pdf: Path, word: str) -> tuple[float, float, float, float]:
    """The bounding box (points) of *word* on page 1, from pdftotext's layout."""
    html = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>',
        html,
    ):
        if m.group(5) == word:
            return tuple(float(m.group(i)) for i in range(1, 5))  # type: ignore[return-value]
    raise AssertionError(f"{word!r} is not on the sheet: {html[:2000]}")


def test_sheet_embeds_the_cjk_font_and_renders_every_glyph(api, clients, tmp_path):
    c = clients["crew-01"].http
    job = _signed_job(api, c)
    r = c.get(f"/v1/jobs/{job}/sheet.pdf")
    assert r.status_code == 200
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(r.content)

    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    rows = [line.split() for line in fonts.stdout.splitlines()[2:]]
    assert rows, fonts.stdout
    for row in rows:  # every font is embedded, as a subset (name ABCDEF+...), TrueType
        assert re.match(r"[A-Z]{6}\+", row[0]), fonts.stdout
        assert "TrueType" in " ".join(row) and row[-5:-3] == ["yes", "yes"], fonts.stdout
    assert b"STSong" not in r.content  # the old, referenced-only CID font is gone

    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for expected in (
        "服务确认单",
        "Service confirmation sheet",
        "王芳",
        COMMENT,
        "张伟",
        "李娜",
        "无GPS定位",
        "no GPS",
        "Asia/Shanghai",
        "到达时限",
    ):
        assert expected in text, expected

    env = _no_fonts_env(tmp_path)
    subprocess.run(
        ["pdftoppm", "-r", str(DPI), "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "p")],
        env=env,
        check=True,
        capture_output=True,
    )
    (png,) = tmp_path.glob("p*.png")
    page = Image.open(png).convert("L")
    x0, y0, x1, y1 = (v * DPI / 72 for v in _word_box(pdf, COMMENT))
    line = page.crop((round(x0), round(y0), round(x1), round(y1)))
    width = line.width / len(COMMENT)
    cells = [
        line.crop((round(i * width), 0, round((i + 1) * width), line.height)).point(
            lambda v: 255 if v > 128 else 0
        )
        for i in range(len(COMMENT))
    ]
    for i, cell in enumerate(cells):
        ink = cell.histogram()[0]
        assert ink > 10, f"glyph {COMMENT[i]} rendered blank"
        for other in cells[i + 1 :]:
            assert ImageChops.difference(cell, other).getbbox() is not None, (
                "two glyphs of the known string render alike: empty boxes"
            )
    out = Path(__file__).resolve().parent.parent / "artifacts"
    out.mkdir(exist_ok=True)
    page.save(out / "sheet-zh-CN.png")


def test_sheet_is_rendered_once_and_served_as_stored(api, clients):
    c = clients["crew-01"].http
    job = _signed_job(api, c)
    (kept,) = query(
        api.database_url,
        "SELECT sha256, storage_key FROM signoff_sheets WHERE work_order_id = %s",
        job,
    )
    first = c.get(f"/v1/jobs/{job}/sheet.pdf").content
    # whatever changes later (a crew renamed), the signed sheet stays the one kept
    with db.connect(api.database_url, autocommit=True) as conn:
        conn.execute("UPDATE crews SET name = name || ' (renamed)' WHERE id = 'CREW-01'")
        try:
            again = c.get(f"/v1/jobs/{job}/sheet.pdf").content
        finally:
            conn.execute(
                "UPDATE crews SET name = replace(name, ' (renamed)', '') WHERE id = 'CREW-01'"
            )
        assert first == again and hashlib.sha256(first).hexdigest() == kept["sha256"]
        try:
            conn.execute("UPDATE signoff_sheets SET sha256 = 'x' WHERE work_order_id = %s", (job,))
            raise AssertionError("a kept sheet was changed")
        except Exception as e:  # noqa: BLE001
            assert "immutable" in str(e)
    assert io.BytesIO(first).read(5) == b"%PDF-"
