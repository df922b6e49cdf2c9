"""tests/test_virtual: put firmware/ on sys.path (as MICROPYPATH does on micropython)."""

import sys
from pathlib import Path

_FIRMWARE = str(Path(__file__).resolve().parents[2] / "firmware")
if _FIRMWARE not in sys.path:
    sys.path.insert(0, _FIRMWARE)
