"""Line credits (SPEC.md §3) on the emulated RP2040: the station agent's lines reach a reader
whose console holds 260 bytes, as an ESP32's does.

The runner's USB host normally waits for the device to take input (USB flow control), so the
Pico never loses a byte; `console_buffer 260` makes it hold only 260 bytes the device has not
taken and drop the rest, as an ESP32's UART console does (the Pico's 512-byte CDC buffer still
sits behind it: more lenient than an ESP32, never stricter). The agent's reader link
(agent/readerport.py) writes a blocked-card list of 200 cards - 13 B lines of up to 249 bytes,
then a Q - as agent/core.py does, back to back. Without flow control between lines the list
arrives cut; with the reader crediting each line every byte arrives.
"""

import binascii
import queue

import pytest

from agent.readerport import ReaderPort
from hil_tests.linkprobe import health_through
from protocol import blocklist as wire
from protocol import link
from rpkit import SCALE

CONFIG = {"label": "R-0035", "station": "S-0003", "auto_keygen": True, "test_mode": True}
ESP32_CONSOLE = 260


def _health(events: queue.Queue, port: ReaderPort, check, timeout: float) -> dict:
    return health_through(port, events, check, timeout * SCALE, ask_every=10 * SCALE)


@pytest.mark.slow
def test_a_long_blocked_list_reaches_a_reader_with_an_esp32_console(make_rp_reader):
    reader = make_rp_reader(start=False)
    reader.install_firmware(config=CONFIG)
    reader.start()
    assert reader.runner.command("console_buffer", bytes=ESP32_CONSOLE)["console_buffer"] == 260
    events: queue.Queue = queue.Queue()
    port = ReaderPort(reader.port, events.put).start()
    try:
        first = _health(events, port, lambda h: h.get("rid"), 180)
        assert first.get("rid"), "no health from the reader: {}".format(first)
        uids = [bytes([0x04, 0x10, i, 0x20, 0x30, 0x40, 0x50]) for i in range(200)]
        lines = [link.encode(link.BLOCKED, body) for body in wire.frame_bodies(uids)]
        for line in lines + [link.encode(link.QUERY)]:  # as agent/core.py _send_blocked
            assert port.send(line)
        crc = binascii.crc32(wire.encode_list(1, uids)[wire.HEADER:]) & 0xFFFFFFFF
        health = _health(events, port, lambda h: h.get("blocked") == 200 and h.get("bcrc") == crc, 180)
        dropped = reader.runner.command("status")["console_dropped"]
        assert (health.get("blocked"), health.get("bcrc"), dropped) == (200, crc, 0), \
            "the reader holds {} cards (crc {}), its console dropped {} bytes".format(
                health.get("blocked"), health.get("bcrc"), dropped)
        assert health.get("fc") == 1 and port.link_counts()["line_pacing"] == "credit"
    finally:
        port.stop()
