# unix_machine: the `machine` module of the virtual reader (MicroPython unix port).
#
# unix_boot installs this module as sys.modules["machine"]. It provides what the
# firmware uses from a real board's machine module: reset()/soft_reset() (the
# pty bridge plays the board's reset), unique_id(), reset_cause(), RTC, WDT,
# freq(), idle(). Resets are requested over the bridge's control pipe
# (TAPCERT_CONTROL_FD); without a bridge they exit the interpreter with
# HARD_RESET_STATUS / SOFT_RESET_STATUS.
import os
import sys
import time

try:
    from micropython import const
except ImportError:  # CPython, for tests
    def const(value):
        return value

# reset causes, numbered as on the ESP32 port
PWRON_RESET = const(1)
HARD_RESET = const(2)
WDT_RESET = const(3)
DEEPSLEEP_RESET = const(4)
SOFT_RESET = const(5)

HARD_RESET_STATUS = const(82)  # exit status meaning "hard reset" (ASCII 'R')
SOFT_RESET_STATUS = const(83)  # exit status meaning "soft reset" (ASCII 'S')

_CAUSES = {"power-on": PWRON_RESET, "hard": HARD_RESET, "wdt": WDT_RESET,
           "soft": SOFT_RESET}

try:
    import machine as _builtin  # the unix port's own (idle, mem8, Signal, ...)
except ImportError:
    _builtin = None
if _builtin is not None and getattr(_builtin, "__name__", "") == __name__:
    _builtin = None

_control = None  # file object on the bridge's control pipe, opened by unix_boot
_namespace = None  # the __main__ globals (main.py's, then the REPL's)
_FILE_TYPES = ("FileIO", "TextIOWrapper", "BufferedWriter")


def attach_control(stream):
    # unix_boot hands over the control pipe it opened while the host FS was mounted
    global _control
    _control = stream


def attach_namespace(namespace):
    global _namespace
    _namespace = namespace


def finalise():
    # What a board's soft reset does with gc_sweep_all(): close every file, so
    # data still in LittleFS caches reaches the flash. unix_boot registers this
    # with sys.atexit (one function only: firmware must not use sys.atexit).
    # Reaches files in module globals and __main__, then any unreachable ones.
    spaces = [m.__dict__ for m in sys.modules.values() if m is not sys]
    if _namespace is not None:
        spaces.append(_namespace)
    keep = (sys.stdin, sys.stdout, sys.stderr, _control)
    for space in spaces:
        for value in list(space.values()):
            if type(value).__name__ in _FILE_TYPES and not any(value is k for k in keep):
                try:
                    value.close()
                except Exception:
                    pass
    import gc
    gc.collect()


def notify(code):
    # one byte to the bridge: b"M" main.py starts, b"R" REPL only, b"H"/b"S" reset
    if _control is None:
        return False
    try:
        _control.write(code)
        _control.flush()
    except OSError:
        return False
    return True


def _reset(code, status):
    if code == b"S":
        finalise()
    if notify(code):
        # the bridge cuts this process within milliseconds, as a reset would
        deadline = time.ticks_add(time.ticks_ms(), 5000)
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(20)
    raise SystemExit(status)


def reset():
    _reset(b"H", HARD_RESET_STATUS)


def soft_reset():
    _reset(b"S", SOFT_RESET_STATUS)


def reset_cause():
    return _CAUSES.get(os.getenv("TAPCERT_RESET_CAUSE") or "power-on", PWRON_RESET)


def _derive_id():
    explicit = os.getenv("TAPCERT_UNIQUE_ID")
    if explicit:
        try:
            import binascii
            return binascii.unhexlify(explicit.strip())
        except ValueError:
            pass
    import hashlib
    seed = os.getenv("TAPCERT_FLASH") or "virtual-reader"
    return hashlib.sha256(seed.encode()).digest()[:8]


_UNIQUE_ID = None


def unique_id():
    global _UNIQUE_ID
    if _UNIQUE_ID is None:
        _UNIQUE_ID = _derive_id()
    return _UNIQUE_ID


def freq(hz=None):
    return 240000000


def idle():
    if _builtin is not None and hasattr(_builtin, "idle"):
        _builtin.idle()
    else:
        time.sleep_ms(1)


_rtc_offset = 0  # seconds added to the host clock; kept until the next reset


class RTC:
    # A clock that keeps time while powered and forgets any setting at reset.
    def __init__(self, id=0):
        pass

    def datetime(self, value=None):
        global _rtc_offset
        if value is None:
            t = time.gmtime(int(time.time()) + _rtc_offset)
            # (year, month, day, weekday, hours, minutes, seconds, subseconds)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        year, month, day, _weekday, hours, minutes, seconds = value[:7]
        wanted = time.mktime((year, month, day, hours, minutes, seconds, 0, 0))
        # time.mktime on the unix port is localtime; take the zone out again
        zone = time.mktime(time.gmtime(0))
        _rtc_offset = int(wanted - zone) - int(time.time())

    def init(self, value):
        self.datetime(value)


class WDT:
    # No-op watchdog: remembers its timeout and the last feed, never bites.
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.last_feed = time.ticks_ms()

    def feed(self):
        self.last_feed = time.ticks_ms()


def __getattr__(name):
    # everything else the unix port's machine has (mem8, Signal, PinBase ...)
    if _builtin is not None:
        return getattr(_builtin, name)
    raise AttributeError(name)
