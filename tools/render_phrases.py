"""Render the Chinese glyphs of firmware/phrases.py into firmware/phrase_bitmaps.py.

The reader carries no CJK font: only the 16x16 bitmaps of the characters its fixed
phrases use. This tool rasterises them from WenQuanYi Micro Hei (Debian
fonts-wqy-microhei) with otf2bdf (Debian otf2bdf, FreeType's monochrome renderer),
and writes them in the SSD1306's own layout (MONO_VLSB: per glyph 16 column bytes
for rows 0-7, then 16 for rows 8-15, bit 0 at the top) so the driver copies them
straight into its frame buffer.

    python tools/render_phrases.py           # rewrite firmware/phrase_bitmaps.py
    python tools/render_phrases.py --check   # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
OUTPUT = REPO / "firmware" / "phrase_bitmaps.py"
SIZE = 16  # pixels: one glyph cell, one display line
BASELINE = 14  # rows above the baseline in the cell (the font's ascent at 16 px)


class RenderError(Exception):
    pass


def phrase_chars() -> str:
    """Every non-ASCII character of the Chinese lines, in first-use order."""
    sys.path.insert(0, str(REPO / "firmware"))
    try:
        import phrases
    finally:
        sys.path.pop(0)
    seen = []
    for _english, lines in phrases.rows():
        for line in lines:
            for char in line:
                if ord(char) > 127 and char not in seen:
                    seen.append(char)
    return "".join(seen)


def bdf_glyphs(chars: str, font: Path = FONT) -> dict[str, tuple]:
    """char -> (advance, (width, height, x_offset, y_offset), rows as ints)."""
    if not font.exists():
        raise RenderError(f"font {font} not found: apt-get install fonts-wqy-microhei")
    subset = " ".join(str(ord(c)) for c in chars)
    try:
        bdf = subprocess.run(["otf2bdf", "-p", str(SIZE), "-r", "72", "-l", subset, str(font)],
                             capture_output=True, check=False, timeout=60).stdout
    except FileNotFoundError:
        raise RenderError("otf2bdf not found: apt-get install otf2bdf") from None
    glyphs = {}
    code = advance = bbx = None
    rows: list[int] | None = None
    for raw in bdf.decode("latin-1").splitlines():
        word, _, rest = raw.partition(" ")
        if word == "ENCODING":
            code = int(rest)
        elif word == "DWIDTH":
            advance = int(rest.split()[0])
        elif word == "BBX":
            bbx = tuple(int(v) for v in rest.split())
        elif word == "BITMAP":
            rows = []
        elif word == "ENDCHAR":
            glyphs[chr(code)] = (advance, bbx, rows)
            rows = None
        elif rows is not None:
            rows.append(int(word, 16))
    missing = [c for c in chars if c not in glyphs]
    if missing:
        raise RenderError("font {} has no glyph for {}".format(font, "".join(missing)))
    return glyphs


def cell(glyph) -> bytes:
    """One glyph as 2 x 16 MONO_VLSB bytes."""
    _advance, (width, height, x_off, y_off), rows = glyph
    out = bytearray(2 * SIZE)
    bytes_per_row = (width + 7) // 8
    for r, bits in enumerate(rows):
        y = BASELINE - (y_off + height) + r
        if not 0 <= y < SIZE:
            raise RenderError(f"glyph row {y} outside the {SIZE}-row cell")
        for c in range(width):
            if bits >> (8 * bytes_per_row - 1 - c) & 1:
                x = x_off + c
                if not 0 <= x < SIZE:
                    raise RenderError(f"glyph column {x} outside the {SIZE}-column cell")
                out[(y >> 3) * SIZE + x] |= 1 << (y & 7)
    return bytes(out)


def source(chars: str, blob: bytes) -> str:
    lines = [
        "# phrase_bitmaps: the Chinese glyphs of phrases.py as 16x16 bitmaps (generated: do not edit).",
        "#",
        "# Made by tools/render_phrases.py from WenQuanYi Micro Hei at 16 px (otf2bdf).",
        "# Glyph i of GLYPHS is BITMAPS[32 * i: 32 * i + 32]: 16 column bytes for rows 0-7,",
        "# then 16 for rows 8-15, bit 0 at the top (the SSD1306's MONO_VLSB layout).",
        "# {} glyphs, {} bytes.".format(len(chars), len(blob)),
        "",
        "GLYPHS = \"{}\"".format(chars),
        "BITMAPS = (",
    ]
    step = 32
    for i in range(0, len(blob), step):
        chunk = "".join("\\x{:02x}".format(b) for b in blob[i:i + step])
        lines.append("    b\"{}\"  # {}".format(chunk, chars[i // step]))
    lines.append(")")
    return "\n".join(lines) + "\n"


def render() -> str:
    chars = phrase_chars()
    glyphs = bdf_glyphs(chars)
    return source(chars, b"".join(cell(glyphs[c]) for c in chars))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare with the committed file; exit 1 if it differs")
    args = parser.parse_args(argv)
    try:
        text = render()
    except RenderError as exc:
        print(f"render_phrases: {exc}", file=sys.stderr)
        return 1
    if args.check:
        if OUTPUT.read_text() != text:
            print("render_phrases: firmware/phrase_bitmaps.py is stale: "
                  "run python tools/render_phrases.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
