"""timescale: one setting, TAPCERT_TIMEOUT_SCALE, that stretches every wait of the tests,
the hil scenarios and the service starters on a slow or busy machine.

    TAPCERT_TIMEOUT_SCALE=3 make test      # a loaded CI runner: every wait three times longer

A wait here is a deadline for a state we can observe (a port answering, a boot notice, a
line on a console), never a sleep: raising the scale makes a slow machine pass and costs a
fast one nothing. The default is 1; a value that is not a number >= 1 is an error that
says so, not a silent default.
"""

from __future__ import annotations

import os

ENV = "TAPCERT_TIMEOUT_SCALE"


def scale() -> float:
    text = os.environ.get(ENV, "").strip()
    if not text:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1.0:  # also refuses nan
        raise ValueError("{}={!r} is not a number >= 1; unset it or give e.g. {}=3".format(
            ENV, text, ENV))
    return value


def scaled(seconds: float) -> float:
    """`seconds` stretched by TAPCERT_TIMEOUT_SCALE."""
    return seconds * scale()
