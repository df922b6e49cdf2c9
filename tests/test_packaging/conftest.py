"""tests/test_packaging: the wheel and ops/ (wheelcheck.py is also a script: .ci/run runs it)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
