# compat: const and ticks_* on both MicroPython and CPython.
try:
    from micropython import const  # noqa: F401
except ImportError:
    def const(value):
        return value

try:
    from time import ticks_ms, ticks_us, ticks_diff, ticks_add  # noqa: F401
except ImportError:
    import time as _time

    _PERIOD = 1 << 30
    _HALF = _PERIOD >> 1

    def ticks_ms():
        return int(_time.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_us():
        return int(_time.monotonic() * 1000000) & (_PERIOD - 1)

    def ticks_add(ticks, delta):
        return (ticks + delta) & (_PERIOD - 1)

    def ticks_diff(end, start):
        return ((end - start + _HALF) & (_PERIOD - 1)) - _HALF

IS_MICROPYTHON = False
try:
    import sys as _sys
    IS_MICROPYTHON = _sys.implementation.name == "micropython"
except AttributeError:
    pass
