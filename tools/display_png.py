"""An SSD1306 display RAM dump (the virtual reader's /host/display.bin) as a PNG.

The dump is 128 columns x height/8 pages, one byte per column and page, bit 0 at the top
(the controller's layout, which the firmware's frame buffer mirrors). The PNG shows lit
pixels light blue on black, each pixel as a `scale` x `scale` square with a one-pixel
dark gap, like the panel up close. Written with zlib alone (no imaging library).

    python tools/display_png.py host/display.bin screen.png [--scale 4]
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

WIDTH = 128
_LIT = (0x9C, 0xE6, 0xFF)
_DARK = (0x10, 0x14, 0x18)
_GAP = (0x00, 0x00, 0x00)


def pixels(ram: bytes, width: int = WIDTH) -> list[list[int]]:
    """Rows of 0/1 from the page-organised display RAM."""
    if not ram or len(ram) % width:
        raise ValueError("display RAM of {} bytes is not a whole number of {}-column pages".format(
            len(ram), width))
    height = len(ram) // width * 8
    return [[ram[(y >> 3) * width + x] >> (y & 7) & 1 for x in range(width)]
            for y in range(height)]


def png(ram: bytes, scale: int = 4, width: int = WIDTH) -> bytes:
    grid = pixels(ram, width)
    rows = []
    for line in grid:
        cells = []
        for lit in line:
            colour = bytes(_LIT if lit else _DARK)
            cells.append(colour * (scale - 1) + bytes(_GAP) if scale > 1 else colour)
        row = b"".join(cells)
        gap = bytes(_GAP) * (len(line) * scale)
        rows.extend([row] * (scale - 1) + [gap] if scale > 1 else [row])
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width * scale, len(grid) * scale, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", type=Path, help="display RAM dump, e.g. host/display.bin")
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--scale", type=int, default=4, help="screen pixels per panel pixel")
    args = parser.parse_args(argv)
    try:
        args.out.write_bytes(png(args.dump.read_bytes(), args.scale))
    except (OSError, ValueError) as exc:
        print("display_png: {}".format(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
