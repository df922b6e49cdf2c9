"""The firmware's real PN532 and feedback drivers on stock MicroPython in the emulated RP2040,
against the simulated PN532 (pn532sim.mjs) and the GPIO watch (gpiowatch.mjs).

The probe below is main.py on the reader's flash: it starts the PN532 driver on I2C0 (GP4/GP5,
firmware/board/pins.py PICO), polls, prints each change of UID with the poll's emulated
duration, and plays the "recorded" pattern of drivers/feedback_pwm.py (RGB LED GP13-15 and
buzzer GP10 on PWM) for every new card. The test puts cards on the emulated reader and waits
for the firmware's lines on the USB console and for the pin events.
"""

from __future__ import annotations

import re
import time

import pytest

from hil_tests.targets.flashimage import REPO
from hil_tests.targets.rp2040.reader import RP2040Reader, _scale

pytestmark = pytest.mark.slow

PROBE = b"""
import machine, time
from drivers.pn532 import PN532, I2CTransport
from drivers.feedback_pwm import PWMFeedback, RGBLED, PWMBuzzer
Pin, PWM = machine.Pin, machine.PWM
i2c = machine.I2C(0, scl=Pin(5), sda=Pin(4), freq=100000)
nfc = PN532(I2CTransport(i2c), poll_budget_ms=40)
feedback = PWMFeedback(RGBLED(PWM(Pin(13)), PWM(Pin(14)), PWM(Pin(15))), PWMBuzzer(PWM(Pin(10))))
print('PROBE firmware', nfc.begin())
last = 'start'
while True:
    t = time.ticks_us()
    try:
        uid = nfc.read_uid()
        key = uid.hex() if uid else 'none'
    except Exception as exc:
        key = 'error:' + getattr(exc, 'reason', repr(exc))
    spent = time.ticks_diff(time.ticks_us(), t)
    if key != last:
        print('PROBE uid', key, spent, hex(nfc.last_sens_res), hex(nfc.last_sel_res))
        if key not in ('none', 'start') and not key.startswith('error'):
            feedback.show('recorded')
        last = key
    feedback.tick()
    time.sleep_ms(20)
"""

DRIVERS = ("errors.py", "pn532.py", "pn532_frame.py", "timebase.py", "feedback_pwm.py")


@pytest.fixture
def reader(tmp_path):
    r = RP2040Reader(tmp_path / "r1")
    files = {"/drivers/" + name: (REPO / "firmware" / "drivers" / name).read_bytes()
             for name in DRIVERS}
    files["/main.py"] = PROBE
    r.install_firmware(files, mpy=False)
    r.start(timeout=120)
    yield r
    r.stop()


def _wait_line(reader, pattern: str, after: int = 0, timeout: float = 90.0) -> re.Match:
    deadline = time.monotonic() + timeout * _scale()
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        found = regex.search(reader.console(), after)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("no console line /{}/ within {:.0f} s; console:\n{}".format(
        pattern, timeout * _scale(), reader.console()[-3000:]))


def test_the_firmware_driver_reads_cards_from_the_simulated_pn532(reader):
    _wait_line(reader, r"PROBE firmware \(50, 1, 6, 7\)")
    _wait_line(reader, r"PROBE uid none (\d+)")

    reader.present(bytes.fromhex("deadbeef"))
    got = _wait_line(reader, r"PROBE uid deadbeef (\d+) 0x4 0x8")
    assert int(got.group(1)) < 40_000, "one poll with a card, emulated us"

    reader.remove()
    gone = _wait_line(reader, r"PROBE uid none (\d+)", got.end())

    reader.present(bytes.fromhex("04112233445566"))
    _wait_line(reader, r"PROBE uid 04112233445566 \d+ 0x44 0x0", gone.end())

    reader.present_many([bytes.fromhex("12345678"), bytes.fromhex("12345778")])
    _wait_line(reader, r"PROBE uid 12345778 ", gone.end())  # the chip resolves to one card


def test_feedback_of_a_tap_is_seen_on_the_led_and_buzzer_pins(reader):
    _wait_line(reader, r"PROBE uid none")
    reader.present(bytes.fromhex("deadbeef"))
    _wait_line(reader, r"PROBE uid deadbeef")
    deadline = time.monotonic() + 60 * _scale()
    while time.monotonic() < deadline:
        events = reader.gpio_events()
        tones = [e for e in events if e.get("name") == "buzzer" and e.get("mode") == "pwm"]
        if any(e["duty"] > 0 for e in tones) and tones[-1]["duty"] == 0:
            break
        time.sleep(0.1)
    on = next(e for e in tones if e["duty"] > 0)
    off = next(e for e in tones if e["duty"] == 0 and e["emulated_us"] > on["emulated_us"])
    assert on["slice"] == 5 and on["channel"] == "A"
    assert abs(on["freq_hz"] - 2700) < 5, on
    assert abs(on["duty"] - 0.5) < 0.01, on
    beep_ms = (off["emulated_us"] - on["emulated_us"]) / 1000
    assert 115 <= beep_ms <= 200, "recorded beep is 120 ms of emulated time, got {}".format(beep_ms)
    green = [e for e in reader.gpio_events() if e.get("name") == "led_green" and e.get("duty", 0) > 0.9]
    assert green, "the LED turned green"
