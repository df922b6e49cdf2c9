# silicon: the Board for real chips, assembled from a pin map and machine.
#
# Board interface (firmware/board/unix.py implements the same):
#   board.name            "esp32" | "rp2"
#   board.nfc             read_uid() -> bytes (4/7/10) | None; kind; fault (str | None)
#   board.feedback        show(event, text); tick() -> ms | -1; async run()
#   board.clock           now() -> unix seconds | 0 (unknown); set(unix_seconds)
#   board.watchdog        feed()  (arms machine.WDT on the first feed, if configured)
#   board.unique_id()     bytes from machine.unique_id()
#   board.flash           "/" (the port's own LittleFS)
#   board.faults()        [str]: hardware that did not start, for health reports
# board/assembly.py builds one (boot-only code: board/__init__.py drops it and the pin maps
# once the board is made, to give their heap back).
from drivers.errors import BusError, DriverError, FrameError
from drivers.timebase import ticks_add, ticks_diff, ticks_ms

_RETRY_MS = 5000
_FRAME_ERRORS_BEFORE_RESTART = 3  # garbled answers in a row: start the chip afresh


class NFCReader:
    # A front-end driver that starts on first use and restarts after a bus
    # failure (at most every 5 s), so a re-seated cable heals without a reboot,
    # and after a run of garbled answers (a chip out of step with the driver).
    def __init__(self, driver, clock=ticks_ms):
        self.kind = driver.kind
        self.driver = driver
        self._clock = clock
        self._started = False
        self._frame_errors = 0
        self._next_try = clock()
        self.fault = None

    def start(self):
        self._next_try = ticks_add(self._clock(), _RETRY_MS)
        try:
            self.driver.begin()
        except DriverError as exc:
            self.fault = "{} front end not working: {}".format(self.kind.upper(), exc)
            raise BusError(self.fault, exc.reason)
        except OSError as exc:
            self.fault = "{} front end not working: bus error {}".format(self.kind.upper(), exc)
            raise BusError(self.fault, "bus_error")
        self._started = True
        self.fault = None

    def read_uid(self):
        if not self._ready():
            return None
        try:
            uid = self.driver.read_uid()
        except Exception as exc:
            raise self._failed(exc)
        self._frame_errors = 0
        return uid

    async def poll_uid(self):
        # read_uid() with the chip's search awaited where the driver can (PN532)
        poll = getattr(self.driver, "poll_uid", None)
        if poll is None:
            return self.read_uid()
        if not self._ready():
            return None
        try:
            uid = await poll()
        except Exception as exc:
            raise self._failed(exc)
        self._frame_errors = 0
        return uid

    def _ready(self):
        # started, or started now; False while a failed front end waits for its retry
        # (None to the caller, no exception: a poll every 50 ms must not allocate; the
        # fault is in faults())
        if self._started:
            return True
        if self.fault is not None and ticks_diff(self._clock(), self._next_try) < 0:
            return False
        self.start()
        return True

    def _failed(self, exc):
        # -> the exception to raise for a failed poll; a bus failure restarts the chip
        if isinstance(exc, FrameError):
            self._frame_errors += 1
            if self._frame_errors >= _FRAME_ERRORS_BEFORE_RESTART:
                self._frame_errors = 0
                self._started = False
            return exc
        if isinstance(exc, BusError) or isinstance(exc, OSError):
            self._started = False
            self._next_try = ticks_add(self._clock(), _RETRY_MS)
            self.fault = "{} front end not working: {}".format(
                self.kind.upper(), exc if isinstance(exc, BusError) else "bus error {}".format(exc))
            return exc if isinstance(exc, BusError) else BusError(self.fault, "bus_error")
        return exc


class Watchdog:
    def __init__(self, machine, timeout_ms, max_ms=0):
        self._machine = machine
        self.timeout_ms = min(timeout_ms, max_ms) if timeout_ms and max_ms else timeout_ms
        self._wdt = None

    def feed(self):
        if self._wdt is None:
            if not self.timeout_ms:
                return
            self._wdt = self._machine.WDT(timeout=self.timeout_ms)  # cannot be stopped again
        self._wdt.feed()


class Board:
    flash = "/"

    def __init__(self, name, nfc, feedback, clock, watchdog, machine, pins, settings, faults):
        self.name = name
        self.nfc = nfc
        self.feedback = feedback
        self.clock = clock
        self.watchdog = watchdog
        self.pins = pins
        self.settings = settings
        self._machine = machine
        self._faults = faults

    def unique_id(self):
        return bytes(self._machine.unique_id())

    def faults(self):
        faults = list(self._faults)
        if self.nfc.fault:
            faults.append(self.nfc.fault)
        return faults
