"""Cards on the rp2040 reader, through each NFC chip the reader config can name, with the
whole firmware (.mpy) on stock MicroPython in the emulated RP2040; feedback is read off its
LED and buzzer pins, and its OLED (simulated SSD1306 on I2C0) is compared with what the
virtual target's panel shows for the same text.

    pn532       (I2C)  a card, a card resting on the reader, a phone, a silent card, two cards
    pn532_uart  (HSU)  a card, a card held for 300 ms of emulated time (rp2040_full: make hil)
    mfrc522     (SPI)  a card, two cards at once, a phone
"""

from __future__ import annotations

import time

import pytest

from hil_tests.targets.rp2040.reader import _SEARCHES_QUIET
from rpkit import SCALE
from tools import display_gallery

pytestmark = pytest.mark.slow

CONFIG = {"label": "R-0001", "station": "S-0001", "auto_keygen": True, "test_mode": True}
CARD = bytes.fromhex("04a1b2c3d4e5f6")
OTHER = bytes.fromhex("12345678")


def _reader(make_rp_reader, nfc: str, display: str = "none"):
    reader = make_rp_reader(start=False)
    reader.install_firmware(config=dict(CONFIG, board={"nfc": nfc, "display": display}))
    reader.start()
    status = reader.status()
    assert (status["nfc"], status["display"]) == (nfc, display)  # wired as the config says
    return reader


def _wait_quiet(reader, searches: int = _SEARCHES_QUIET) -> None:
    start = reader.status()["nfc_searches"]
    reader._wait(lambda s: s["nfc_searches"] >= start + searches, 120, "search for cards again")


def _wait_panel(reader, want: bytes, what: str) -> None:
    deadline = time.monotonic() + 120 * SCALE
    while want not in reader.panels():
        assert time.monotonic() < deadline, "the rp2040 reader's OLED never showed {} ({} pictures)".format(
            what, len(reader.panels()))
        time.sleep(0.1)


def test_pn532_i2c_cards_and_the_oled_shows_what_the_virtual_panel_shows(make_rp_reader):
    reader = _reader(make_rp_reader, "pn532", "ssd1306_128x32")
    ready, = display_gallery.draw([("zh", "Ready - tap card")])
    _wait_panel(reader, ready, "'Ready - tap card' (请刷卡)")
    assert (reader.host_dir / "display.bin").read_bytes() == reader.panel()

    first = reader.tap(CARD, rest=True)                  # the card stays on the reader
    assert first["event"] == "recorded" and first["seq"] is not None
    recorded, = display_gallery.draw([("zh", first["text"])])
    _wait_panel(reader, recorded, repr(first["text"]))
    _wait_quiet(reader)                                  # resting: one tap, however long
    assert [e["event"] for e in reader.events()] == ["recorded"]
    reader.remove()

    phone = reader.tap(phone=True)                       # a phone's random UID: refused
    assert phone["event"] == "random_uid" and phone["uid"][0] == 0x08
    refused, = display_gallery.draw([("zh", "Phone not accepted")])
    _wait_panel(reader, refused, "'Phone not accepted'")

    silent = reader.tap(OTHER, silent=True)              # in the field, never answering
    assert silent["event"] is None and reader.status()["powered"]

    both = reader.tap(OTHER, also=[bytes.fromhex("12345778")])
    assert both["event"] == "recorded"                   # the PN532 resolves one of them
    assert [e["event"] for e in reader.events()] == ["recorded", "random_uid", "recorded"]


@pytest.mark.rp2040_full  # make hil HIL_ARGS=--target=rp2040: the CI budget takes the other two
def test_pn532_hsu_card_and_a_card_held_for_300_ms(make_rp_reader):
    reader = _reader(make_rp_reader, "pn532_uart")
    assert reader.tap(CARD)["event"] == "recorded"
    held = reader.tap(OTHER, hold_ms=300)                # it leaves by itself
    assert held["event"] == "recorded"
    assert not reader.status()["cards"]                  # tap() waited for it to go
    assert any(e.get("event") == "card" and e.get("reason") == "hold" for e in reader.runner.events)


def test_mfrc522_spi_card_two_cards_and_a_phone(make_rp_reader):
    reader = _reader(make_rp_reader, "mfrc522")
    assert reader.tap(CARD)["event"] == "recorded"
    assert reader.tap(OTHER, also=[bytes.fromhex("12345778")])["event"] == "two_cards"
    assert reader.tap(phone=True)["event"] == "random_uid"
