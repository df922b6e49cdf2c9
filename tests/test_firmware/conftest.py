"""tests/test_firmware: put firmware/ and this folder on sys.path (as MICROPYPATH does)."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parents[1] / "firmware"), str(_HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)
