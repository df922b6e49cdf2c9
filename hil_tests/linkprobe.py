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


def health_through(port, events, check, timeout: float, ask_every: float = 5.0) -> dict:
    """Through the agent's own reader link: `port` an agent.readerport.ReaderPort whose events
    go to the queue `events`. Send Q until a health frame passes `check`; return it, or the
    last health seen ({} if none) once `timeout` seconds have passed."""
    import queue

    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        port.send(link.encode(link.QUERY))
        until = min(deadline, time.monotonic() + ask_every)
        while time.monotonic() < until:
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if event[0] == "health":
                last = event[2]
                if check(last):
                    return last
                break
    return last
