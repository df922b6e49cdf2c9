# assembly: a Board for a real chip, built from its pin map, its settings and machine.
#
# Boot-only: make_board() (board/__init__.py) drops this module and board/pins.py once the
# board is made, so their code and the pin maps give their heap back (an ESP32 has ~100 KB).
# make_board() never fails because a part does not answer (the NFC front end is
# retried, a missing display is left out): the reader still boots, links to
# the agent and tells staff. A pin map that cannot work raises BoardConfigError.
from board.pins import resolve
from board.silicon import Board, NFCReader, Watchdog
from drivers.errors import BusError
from drivers.feedback_pwm import PinBuzzer, PWMBuzzer, PWMFeedback, RGBLED, SingleLED
from drivers.rtc_clock import RTCClock, TicksClock

_WATCHDOG_MAX_MS = {"rp2": 8388, "esp32": 0}  # 0: no limit below MicroPython's


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
