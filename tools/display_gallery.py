"""Pictures of every fixed display phrase, drawn by the firmware itself, for the docs.

Runs the reader's own display path (drivers/feedback_pwm.py -> drivers/ssd1306.py ->
the virtual panel board/unix_panel.py) on the MicroPython binary for each phrase of
firmware/phrases.py, in Chinese and in English, and writes the panel's RAM as PNGs to
docs/images/display/. tests/test_firmware/test_phrases.py checks the committed
pictures are what the firmware draws today.

    python tools/display_gallery.py            # rewrite docs/images/display/*.png
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tools.display_png import png  # noqa: E402

OUT = REPO / "docs" / "images" / "display"
SAMPLE_NUMBERS = ("12", "85")  # a record number, a fill percentage

_SCRIPT = """
import sys
from binascii import hexlify
from board.unix_panel import PanelBus
from drivers.feedback_pwm import PWMFeedback
from drivers.ssd1306 import SSD1306
for line in sys.stdin:
    language, text = line.rstrip("\\n").split(" ", 1)
    bus = PanelBus(None)
    display = SSD1306(bus, language=language)
    display.begin()
    feedback = PWMFeedback(display=display)
    feedback.show("duplicate", text)
    feedback.tick()
    print(hexlify(bus.ram).decode())
"""


def micropython() -> str:
    found = os.environ.get("MICROPYTHON") or shutil.which("micropython") or str(
        REPO / ".venv" / "bin" / "micropython")
    return found


def examples() -> list[tuple[str, str]]:
    """(file stem, English text with sample numbers) for each phrase of the table."""
    sys.path.insert(0, str(REPO / "firmware"))
    try:
        import phrases
        from version import FW_VERSION
    finally:
        sys.path.pop(0)
    out = []
    for index, (english, _lines) in enumerate(phrases.rows()):
        count = english.count("{}")
        numbers = FW_VERSION.split(".") if english.startswith("tapcert") else SAMPLE_NUMBERS
        text = english.format(*numbers[:count])
        slug = re.sub(r"[^a-z0-9]+", "-", english.replace("{}", "n").lower()).strip("-")
        out.append(("{:02d}-{}".format(index + 1, slug), text))
    return out


def draw(texts: list[tuple[str, str]]) -> list[bytes]:
    """[(language, English text)] -> the panel RAM the firmware leaves for each."""
    env = dict(os.environ, MICROPYPATH=str(REPO / "firmware"))
    stdin = "".join("{} {}\n".format(language, text) for language, text in texts)
    done = subprocess.run([micropython(), "-c", _SCRIPT], input=stdin.encode(), env=env,
                          capture_output=True, timeout=120, check=False)
    lines = done.stdout.decode().split()
    if done.returncode != 0 or len(lines) != len(texts):
        raise RuntimeError("the firmware's display path failed on MicroPython: {}".format(
            done.stderr.decode()[-800:]))
    return [bytes.fromhex(line) for line in lines]


def pictures() -> dict[str, bytes]:
    """file name -> PNG bytes, for every phrase in both languages."""
    items = examples()
    wanted = [(language, text) for _stem, text in items for language in ("zh", "en")]
    rams = iter(draw(wanted))
    out = {}
    for stem, _text in items:
        for language in ("zh", "en"):
            out["{}-{}.png".format(stem, language)] = png(next(rams))
    return out


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    made = pictures()
    for old in OUT.glob("*.png"):
        if old.name not in made:
            old.unlink()
    for name, data in made.items():
        (OUT / name).write_bytes(data)
    print("wrote {} pictures to {}".format(len(made), OUT.relative_to(REPO)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
