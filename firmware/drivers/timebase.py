# timebase: sleep_ms and ticks_* for drivers on MicroPython and CPython (tests).
try:
    from time import sleep_ms, ticks_ms, ticks_diff, ticks_add  # noqa: F401
except ImportError:
    import time as _time
    from protocol.compat import ticks_ms, ticks_diff, ticks_add  # noqa: F401

    def sleep_ms(ms):
        _time.sleep(ms / 1000)
