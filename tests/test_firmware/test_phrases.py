"""The display's Chinese phrases end to end: bitmaps from the font, the docs' pictures, and
the virtual reader's panel (/host/display.bin) showing what the firmware draws.

The pictures and the expected panel contents are drawn by the firmware's own display path on
the MicroPython binary (tools/display_gallery.py), so docs/firmware-hardware.md shows what a
reader shows; a board with an SSD1306 runs the same driver and bitmaps.
"""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest

from hil_tests.targets.virtual import VirtualReader
from tools import display_gallery, render_phrases
from tools.display_png import png

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"label": "R-0060", "station": "S-0006", "auto_keygen": True,
          "display_path": "/host/display.bin"}


def test_bitmaps_are_the_tables_characters_rendered_from_the_font():
    try:
        text = render_phrases.render()
    except render_phrases.RenderError as exc:
        pytest.fail("{} (the Makefile's system packages include both)".format(exc))
    assert text == (REPO / "firmware" / "phrase_bitmaps.py").read_text(), (
        "firmware/phrase_bitmaps.py is stale: run python tools/render_phrases.py")


@pytest.mark.slow
def test_docs_pictures_are_what_the_firmware_draws():
    made = display_gallery.pictures()
    folder = display_gallery.OUT
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(made), (
        "docs/images/display differs from the phrase table: run python tools/display_gallery.py")
    for name, data in made.items():
        assert (folder / name).read_bytes() == data, "{} is stale: run {}".format(
            name, "python tools/display_gallery.py")


def test_docs_page_shows_every_picture():
    page = (REPO / "docs" / "firmware-hardware.md").read_text()
    for name in display_gallery.pictures():
        assert "images/display/" + name in page, name


def test_png_is_a_valid_scaled_image():
    ram = bytearray(512)
    ram[0] = 0x01  # the top-left pixel lit
    data = png(bytes(ram), scale=2)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    width, height = struct.unpack(">II", data[16:24])
    assert (kind, width, height) == (b"IHDR", 256, 64)
    at = 8 + 12 + length
    idat_len, idat = struct.unpack(">I4s", data[at:at + 8])
    raw = zlib.decompress(data[at + 8:at + 8 + idat_len])
    assert idat == b"IDAT" and len(raw) == 64 * (1 + 256 * 3)
    assert raw[1:4] != raw[1 + 2 * 3 * 10:4 + 2 * 3 * 10]  # lit pixel vs a dark one
    with pytest.raises(ValueError):
        png(b"\x00" * 100)


def _wait_for_panel(reader: VirtualReader, want: bytes, what: str, timeout: float = 20.0):
    path = reader.host_dir / "display.bin"
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = path.read_bytes()
        except FileNotFoundError:
            seen = None
        if seen == want:
            return
        time.sleep(0.05)
    raise AssertionError("the virtual panel never showed {} (last: {})".format(
        what, "nothing" if seen is None else "{} other bytes".format(len(seen))))


@pytest.mark.slow
@pytest.mark.parametrize("language", ["zh", "en"])
def test_virtual_reader_panel_shows_the_phrase_in_the_configured_language(tmp_path, language):
    ready, unreadable = display_gallery.draw([(language, "Ready - tap card"),
                                              (language, "Card not readable - tap again")])
    config = dict(CONFIG, language=language) if language == "en" else CONFIG  # zh: default
    reader = VirtualReader(tmp_path / "reader", label=CONFIG["label"])
    reader.install_firmware(config=config)
    reader.start()
    try:
        _wait_for_panel(reader, ready, "'Ready - tap card' after the boot")
        event = reader.tap(b"\x04\x01\x02\x03\x04")  # 5 bytes: no card has such a UID
        assert event["text"] == "Card not readable - tap again"  # the API text stays English
        _wait_for_panel(reader, unreadable, "'Card not readable - tap again'")
    finally:
        reader.stop()
    assert ready != unreadable
