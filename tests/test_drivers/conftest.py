"""tests/test_drivers: firmware/ and this folder on sys.path (as MICROPYPATH and the tests do on micropython)."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE.parents[1] / "firmware"), str(_HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
