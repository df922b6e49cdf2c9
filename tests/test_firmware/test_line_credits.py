"""Line credits (SPEC.md §3): the agent's lines reach a reader whose console holds 260 bytes.

An ESP32's console buffers 260 bytes of input and drops what does not fit. The virtual reader
models that (`rx_buffer=260`: the pty bridge drops input beyond 260 bytes the firmware has not
read); the station agent's own reader link (agent/readerport.py) writes a blocked-card list
of 200 cards - 13 B lines of up to 249 bytes, then a Q - as agent/core.py does, back to back.
Without flow control between lines the list arrives cut; with the reader crediting each line
every byte arrives and the reader holds exactly the list.
"""

from __future__ import annotations

import binascii
import queue

import pytest

from agent.readerport import ReaderPort
from hil_tests.linkprobe import health_through
from hil_tests.targets.virtual import VirtualReader
from protocol import blocklist as wire
from protocol import link

pytestmark = pytest.mark.slow  # system-level: a real firmware behind a pty

CONFIG = {"label": "R-0044", "station": "S-0007", "auto_keygen": True, "test_mode": True}
ESP32_CONSOLE = 260


def blocked_uids(count: int) -> list[bytes]:
    return [bytes([0x04, 0x10, i >> 8, i & 0xFF, 0x20, 0x30, 0x40]) for i in range(count)]


class AgentLink:
    """The agent's ReaderPort on the reader's pty, its events in a queue."""

    def __init__(self, port: str):
        self.events: queue.Queue = queue.Queue()
        self.port = ReaderPort(port, self.events.put).start()

    def health(self, check, timeout: float = 60.0) -> dict:
        return health_through(self.port, self.events, check, timeout)


@pytest.fixture
def reader(tmp_path):
    r = VirtualReader(tmp_path / "reader", label="R-0044", rx_buffer=ESP32_CONSOLE)
    r.install_firmware(config=CONFIG)
    r.start()
    try:
        yield r
    finally:
        r.stop()


def test_a_long_blocked_list_reaches_a_reader_with_a_260_byte_console(reader):
    agent = AgentLink(reader.port)
    try:
        first = agent.health(lambda h: h.get("rid"))
        assert first.get("rid"), "no health from the reader: {}".format(first)
        uids = blocked_uids(200)
        lines = [link.encode(link.BLOCKED, body) for body in wire.frame_bodies(uids)]
        assert len(lines) == 13 and max(map(len, lines)) <= link.MAX_LINE_TO_READER
        for line in lines + [link.encode(link.QUERY)]:  # as agent/core.py _send_blocked
            assert agent.port.send(line)
        crc = binascii.crc32(wire.encode_list(1, uids)[wire.HEADER:]) & 0xFFFFFFFF
        health = agent.health(lambda h: h.get("blocked") == 200 and h.get("bcrc") == crc)
        dropped = reader.status().get("rx_dropped")
        assert (health.get("blocked"), health.get("bcrc"), dropped) == (200, crc, 0), \
            "the reader holds {} cards (crc {}), its console dropped {} bytes".format(
                health.get("blocked"), health.get("bcrc"), dropped)
        assert health.get("fc") == 1  # it credits the agent's lines
        counts = agent.port.link_counts()
        assert counts["line_pacing"] == "credit" and counts["credits"] >= 15
    finally:
        agent.port.stop()
