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
# make_board() never fails because a part does not answer (the NFC front end is
# retried, a missing display is left out): the reader still boots, links to
# the agent and tells staff. A pin map that cannot work raises BoardConfigError.
from board.pins import resolve
from drivers.errors import BusError, DriverError, FrameError
from drivers.feedback_pwm import PinBuzzer, PWMBuzzer, PWMFeedback, RGBLED, SingleLED
from drivers.rtc_clock import RTCClock, TicksClock
from drivers.timebase import ticks_add, ticks_diff, ticks_ms

_RETRY_MS = 5000
_FRAME_ERRORS_BEFORE_RESTART = 3  # garbled answers in a row: start the chip afresh
_WATCHDOG_MAX_MS = {"rp2": 8388, "esp32": 0}  # 0: no limit below MicroPython's


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


def build(machine, name, config):
    pins, settings = resolve(name, config)
    Pin = machine.Pin
    faults = []
    i2c = None
    if settings["nfc"] == "pn532" or settings["display"] != "none":
        i2c = machine.I2C(pins["i2c_id"], scl=Pin(pins["scl"]), sda=Pin(pins["sda"]),
                          freq=settings["i2c_freq"])
    nfc = NFCReader(_front_end(machine, pins, settings, i2c))
    try:
        nfc.start()
    except BusError:
        pass  # nfc.fault says why; read_uid() retries
    feedback = PWMFeedback(_led(machine, pins, settings), _buzzer(machine, pins, settings),
                           _display(i2c, settings, faults, config.get("language", "zh")))
    try:
        clock = RTCClock(machine.RTC())
    except (AttributeError, OSError):
        clock = TicksClock()
    watchdog = Watchdog(machine, settings["watchdog_ms"], _WATCHDOG_MAX_MS.get(name, 0))
    return Board(name, nfc, feedback, clock, watchdog, machine, pins, settings, faults)


def _optional_pin(machine, pin, mode, value=None):
    if pin is None:
        return None
    if value is None:
        return machine.Pin(pin, mode)
    return machine.Pin(pin, mode, value=value)


def _front_end(machine, pins, settings, i2c):
    Pin = machine.Pin
    reset = _optional_pin(machine, pins["nfc_reset"], Pin.OUT, 1)
    kind = settings["nfc"]
    if kind == "mfrc522":
        from drivers.mfrc522 import MFRC522
        spi = machine.SPI(pins["spi_id"], baudrate=settings["spi_baudrate"], polarity=0, phase=0,
                          sck=Pin(pins["sck"]), mosi=Pin(pins["mosi"]), miso=Pin(pins["miso"]))
        return MFRC522(spi, Pin(pins["nfc_cs"], Pin.OUT, value=1), reset)
    from drivers.pn532 import PN532, I2CTransport, UARTTransport
    if kind == "pn532_uart":
        uart = machine.UART(pins["uart_id"], baudrate=settings["uart_baudrate"],
                            tx=Pin(pins["uart_tx"]), rx=Pin(pins["uart_rx"]))
        transport = UARTTransport(uart)
    else:
        transport = I2CTransport(i2c, irq=_optional_pin(machine, pins["nfc_irq"], Pin.IN))
    return PN532(transport, reset=reset, poll_budget_ms=settings["nfc_poll_ms"])


def _led(machine, pins, settings):
    kind = settings["led"]
    if kind == "none":
        return None
    Pin = machine.Pin
    if kind == "single":
        return SingleLED(Pin(pins["led"], Pin.OUT), settings["led_active_low"])
    return RGBLED(machine.PWM(Pin(pins["led_red"])), machine.PWM(Pin(pins["led_green"])),
                  machine.PWM(Pin(pins["led_blue"])), settings["led_active_low"],
                  settings["led_brightness"])


def _buzzer(machine, pins, settings):
    kind = settings["buzzer"]
    if kind == "none":
        return None
    Pin = machine.Pin
    if kind == "active":
        return PinBuzzer(Pin(pins["buzzer"], Pin.OUT))
    return PWMBuzzer(machine.PWM(Pin(pins["buzzer"])), settings["buzzer_volume"])


def _display(i2c, settings, faults, language):
    kind = settings["display"]
    if kind == "none":
        return None
    from drivers.ssd1306 import SSD1306
    display = SSD1306(i2c, height=32 if kind == "ssd1306_128x32" else 64, language=language)
    try:
        display.begin()
    except OSError:
        faults.append("display {} not found at I2C address 0x3C: check its wiring".format(kind))
        return None
    return display
