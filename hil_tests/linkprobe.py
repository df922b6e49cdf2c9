"""Ask a reader over its link (pty or /dev/ttyACM*) for its health frame — no agent needed."""

from __future__ import annotations

import time

import serial

from protocol import link
from protocol.errors import ProtocolError


def query_health(port: str, timeout: float = 10.0) -> dict:
    """Send `Q` until an `H` frame answers; return its JSON. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    decoder = link.LinkDecoder()
    with serial.Serial(port, 115200, timeout=0.2, exclusive=True) as ser:
        next_query = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_query:
                ser.write(link.encode(link.QUERY))
                next_query = time.monotonic() + 1.0
            decoder.feed(ser.read(4096))
            while True:
                try:
                    frame = decoder.next_message()
                except ProtocolError:
                    continue
                if frame is link.NEED_DATA:
                    break
                if frame.type == link.HEALTH:
                    return link.decode_json(frame.body)
    raise TimeoutError(f"no health frame from the reader on {port} within {timeout:.0f}s: "
                       "is the firmware running (not stopped at the REPL)?")
