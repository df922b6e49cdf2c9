# pins: default pin maps of the supported boards, the reader config's hardware
# settings, and the checks that turn a wiring mistake into a clear message.
#
# The reader config may carry a "board" section (or the keys at top level):
#   {"nfc": "mfrc522", "display": "ssd1306_128x32", "pins": {"buzzer": 14}}
# Pin numbers are GPIO numbers (GP numbers on the Pico); "LED" is the Pico's
# own LED. A pin set to None is not wired.
from drivers.errors import BoardConfigError

ESP32_DEVKITC = {
    "i2c_id": 0, "sda": 21, "scl": 22,  # PN532 (I2C) and the display share this bus
    "spi_id": 2, "sck": 18, "mosi": 23, "miso": 19,  # VSPI, for the MFRC522
    "nfc_cs": 5, "nfc_reset": 4, "nfc_irq": None,
    "uart_id": 2, "uart_tx": 17, "uart_rx": 16,  # PN532 in HSU mode
    "led_red": 25, "led_green": 26, "led_blue": 27, "led": None,
    "buzzer": 13,
}

PICO = {
    "i2c_id": 0, "sda": 4, "scl": 5,  # GP4/GP5, I2C0
    "spi_id": 0, "sck": 18, "mosi": 19, "miso": 16,  # SPI0
    "nfc_cs": 17, "nfc_reset": 20, "nfc_irq": None,
    "uart_id": 0, "uart_tx": 0, "uart_rx": 1,
    "led_red": 13, "led_green": 14, "led_blue": 15, "led": "LED",
    "buzzer": 10,  # PWM slice 5; the RGB LED is on slices 6 and 7
}

PIN_MAPS = {"esp32": ESP32_DEVKITC, "rp2": PICO}

SETTINGS = {
    "nfc": "pn532",  # pn532 (I2C) | pn532_uart | mfrc522 (SPI)
    "led": "rgb",  # rgb | single | none
    "led_active_low": False,  # True for a common-anode RGB LED
    "led_brightness": 100,  # percent
    "buzzer": "passive",  # passive (piezo, PWM tones) | active (on/off) | none
    "buzzer_volume": 50,  # percent duty, 50 = loudest
    "display": "none",  # none | ssd1306_128x32 | ssd1306_128x64
    "i2c_freq": 100000,
    "spi_baudrate": 1000000,
    "uart_baudrate": 115200,
    "nfc_poll_ms": 40,  # PN532: longest wait for one search
    "watchdog_ms": 8000,  # 0 = off; fed while the tap loop and the link make progress
}

_CHOICES = {
    "nfc": ("pn532", "pn532_uart", "mfrc522"),
    "led": ("rgb", "single", "none"),
    "buzzer": ("passive", "active", "none"),
    "display": ("none", "ssd1306_128x32", "ssd1306_128x64"),
}
_INPUT_ONLY_OK = ("miso", "uart_rx", "nfc_irq")


def board_section(config):
    section = config.get("board") if isinstance(config, dict) else None
    if isinstance(section, dict):
        return section
    return config if isinstance(config, dict) else {}


def resolve(board_name, config):
    # -> (pins, settings) for this board with the config's overrides, checked
    if board_name not in PIN_MAPS:
        raise BoardConfigError("unknown board {!r}; supported: esp32, rp2".format(board_name))
    section = board_section(config)
    pins = dict(PIN_MAPS[board_name])
    overrides = section.get("pins") or {}
    for name in overrides:
        if name not in pins:
            raise BoardConfigError("unknown pin name {!r} in the reader config; known: {}"
                                   .format(name, ", ".join(sorted(pins))))
        pins[name] = overrides[name]
    settings = dict(SETTINGS)
    for name in SETTINGS:
        if name in section:
            settings[name] = section[name]
    for name in _CHOICES:
        if settings[name] not in _CHOICES[name]:
            raise BoardConfigError("{} = {!r} in the reader config; choose one of: {}".format(
                name, settings[name], ", ".join(_CHOICES[name])))
    check(board_name, used_pins(pins, settings), pins)
    return pins, settings


def used_pins(pins, settings):
    # -> {pin name: required?} for the parts this config actually drives
    used = {}
    nfc = settings["nfc"]
    if nfc == "pn532":
        used.update({"sda": True, "scl": True, "nfc_irq": False, "nfc_reset": False})
    elif nfc == "pn532_uart":
        used.update({"uart_tx": True, "uart_rx": True, "nfc_reset": False})
    else:
        used.update({"sck": True, "mosi": True, "miso": True, "nfc_cs": True,
                     "nfc_reset": False})
    if settings["display"] != "none":
        used.update({"sda": True, "scl": True})
    if settings["led"] == "rgb":
        used.update({"led_red": True, "led_green": True, "led_blue": True})
    elif settings["led"] == "single":
        used["led"] = True
    if settings["buzzer"] != "none":
        used["buzzer"] = True
    return used


def check(board_name, used, pins):
    owner = {}
    for name in sorted(used):
        pin = pins.get(name)
        if pin is None:
            if used[name]:
                raise BoardConfigError("pin {!r} is needed by this configuration but not set; "
                                       "add it under 'pins' in the reader config".format(name))
            continue
        if pin in owner:
            raise BoardConfigError("pin {} is used for both {!r} and {!r}; fix 'pins' in the "
                                   "reader config".format(pin, owner[pin], name))
        owner[pin] = name
        if board_name == "esp32":
            _check_esp32(name, pin)
        else:
            _check_rp2(name, pin, pins)
    if board_name == "rp2":
        _check_rp2_pwm(used, pins)


def _check_esp32(name, pin):
    if not isinstance(pin, int) or pin < 0 or pin > 39 or pin in (20, 24, 28, 29, 30, 31):
        raise BoardConfigError("{} = {!r}: not an ESP32 GPIO number".format(name, pin))
    if 6 <= pin <= 11:
        raise BoardConfigError("{} = GPIO{}: GPIO6-11 belong to the SPI flash".format(name, pin))
    if pin >= 34 and name not in _INPUT_ONLY_OK:
        raise BoardConfigError("{} = GPIO{}: GPIO34-39 are inputs only".format(name, pin))


_RP2_ROLES = {
    # name: (function, role (pin % 4), bus of pin, bus id key)
    "sda": ("I2C SDA", None, lambda p: (p >> 1) & 1, "i2c_id"),
    "scl": ("I2C SCL", None, lambda p: (p >> 1) & 1, "i2c_id"),
    "miso": ("SPI RX (MISO)", 0, lambda p: (p >> 3) & 1, "spi_id"),
    "sck": ("SPI SCK", 2, lambda p: (p >> 3) & 1, "spi_id"),
    "mosi": ("SPI TX (MOSI)", 3, lambda p: (p >> 3) & 1, "spi_id"),
    "uart_tx": ("UART TX", 0, lambda p: ((p + 4) >> 3) & 1, "uart_id"),
    "uart_rx": ("UART RX", 1, lambda p: ((p + 4) >> 3) & 1, "uart_id"),
}


def _check_rp2(name, pin, pins):
    if pin == "LED" and name == "led":
        return
    if not isinstance(pin, int) or pin < 0 or pin > 29:
        raise BoardConfigError("{} = {!r}: not an RP2040 GPIO number (0-29)".format(name, pin))
    role = _RP2_ROLES.get(name)
    if role is None:
        return
    function, modulo, bus_of, bus_key = role
    if modulo is None:  # I2C: SDA on pins 4n and 4n+2, SCL on 4n+1 and 4n+3
        modulo_ok = pin % 2 == (0 if name == "sda" else 1)
    else:
        modulo_ok = pin % 4 == modulo
    if not modulo_ok or bus_of(pin) != pins[bus_key]:
        raise BoardConfigError("{} = GP{} cannot be {} of {} {}; see the RP2040 pin function "
                               "table".format(name, pin, function, bus_key[:-3].upper(),
                                              pins[bus_key]))


def _check_rp2_pwm(used, pins):
    # PWM channels on one slice share a frequency: the buzzer's tones would
    # change the LED's PWM and the LED's 1 kHz would change the tone
    if "buzzer" not in used or pins.get("buzzer") is None:
        return
    buzzer_slice = (pins["buzzer"] >> 1) & 7
    for name in ("led_red", "led_green", "led_blue"):
        pin = pins.get(name)
        if name in used and isinstance(pin, int) and (pin >> 1) & 7 == buzzer_slice:
            raise BoardConfigError("buzzer GP{} and {} GP{} share PWM slice {}; move one of "
                                   "them".format(pins["buzzer"], name, pin, buzzer_slice))
