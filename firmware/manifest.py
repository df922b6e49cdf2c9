# manifest: the reader firmware frozen into a MicroPython image (FROZEN_MANIFEST=this file).
#
# Frozen modules live in the image's flash and are run from there: their code and
# constants (the 48 KB signing table, the phrase bitmaps) cost no heap. The port's own
# frozen set comes first (asyncio, ...). main.py is not frozen: the board runs /main.py
# from its filesystem, and files on the filesystem shadow frozen modules ("" is before
# ".frozen" on sys.path), so a fleet update's .mpy files still replace these.
# The board/unix* modules are the virtual reader's and stay out.
# Build commands: docs/firmware.md "Frozen images". tests/test_firmware/test_manifest.py
# checks that every module the firmware imports is named here.

include("$(PORT_DIR)/boards/manifest.py")

FIRMWARE = (
    "app.py", "ballast.py", "blocked.py", "bootcount.py", "config.py", "debounce.py",
    "feedback.py", "fwswap.py", "journal.py", "keys.py", "linkport.py", "persist.py",
    "phrase_bitmaps.py", "phrases.py", "presence.py", "rawboot.py", "rawlog.py", "recovery.py",
    "signtable.py", "tablefile.py", "tailpace.py", "tailslots.py", "version.py",
)
BOARD = ("__init__.py", "assembly.py", "esp32.py", "pins.py", "rp2.py", "silicon.py")
DRIVERS = (
    "errors.py", "feedback_pwm.py", "mfrc522.py", "pn532.py", "pn532_frame.py",
    "rtc_clock.py", "ssd1306.py", "textcanvas.py", "timebase.py",
)
PROTOCOL = (
    "__init__.py", "boundedjson.py", "compat.py", "ed25519.py", "ed25519_table.py",
    "ed25519_viper.py", "errors.py", "link.py", "record.py", "sha512.py", "sha512_viper.py",
)

# protocol/ed25519_thumb.py is ARM Thumb assembly (the signer's field arithmetic on an RP2040;
# ed25519_limbs.py runs the comb on it): frozen into ARM images only. makemanifest.py runs
# with the port's mpy-cross flags on its command line (-march=armv6m on rp2, xtensawin on esp32).
import sys  # noqa: E402

_MARCH = [a for a in sys.argv if "-march=" in a]
if not _MARCH or any("-march=armv" in a for a in _MARCH):
    PROTOCOL += ("ed25519_limbs.py", "ed25519_thumb.py")

for name in FIRMWARE:
    module(name)
package("board", files=BOARD)
package("drivers", files=DRIVERS)
package("protocol", files=PROTOCOL, base_path="..")
