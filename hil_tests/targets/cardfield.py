"""The virtual reader's card field, from the card's side.

The firmware's unix board listens on TCP 127.0.0.1:TAPCERT_CARD_FIELD_PORT.
One line per tap goes in, one JSON line (the feedback event) comes back:

    -> TAP 04a1b2c3d4e5f6 1\\n
    <- {"event": "recorded", "seq": 12, "text": "Recorded #12"}\\n

The firmware restarts on every power-on and reset, so a tap retries the
connection until its deadline.
"""

from __future__ import annotations

import json
import socket
import time


class CardFieldError(Exception):
    """No feedback for a tap: the firmware is not listening or did not answer."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tap_line(uid: bytes, kind: int) -> bytes:
    if not isinstance(uid, (bytes, bytearray)) or not 1 <= len(uid) <= 10:
        raise ValueError("a card UID is 1 to 10 bytes (4, 7 or 10 on real cards), got {!r}".format(uid))
    return "TAP {} {}\n".format(bytes(uid).hex(), int(kind)).encode()


def tap(port: int, uid: bytes, kind: int = 1, *, timeout: float = 5.0) -> dict:
    """Present a card once; returns the firmware's feedback event."""
    line = tap_line(uid, kind)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CardFieldError("no feedback from the card field on 127.0.0.1:{} within {:.1f} s"
                                 " ({}); is the firmware running?".format(port, timeout, last_error))
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=min(remaining, 1.0))
        except OSError as exc:  # not listening yet: the firmware is (re)booting
            last_error = exc
            time.sleep(0.05)
            continue
        # once the line is sent the card has been seen: never resend it (that is a second tap)
        with sock:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.sendall(line)
                return _read_event(sock, deadline)
            except OSError as exc:
                raise CardFieldError("the card field on 127.0.0.1:{} dropped the tap without"
                                     " feedback ({})".format(port, exc)) from exc


def _read_event(sock: socket.socket, deadline: float) -> dict:
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CardFieldError("the card field took the tap but sent no feedback line in time")
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            raise CardFieldError("the card field closed the connection before answering")
        buf += chunk
    text = buf.split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        event = json.loads(text)
    except ValueError:
        raise CardFieldError("the card field answered {!r}, not a JSON feedback event".format(text)) from None
    if not isinstance(event, dict) or "event" not in event:
        raise CardFieldError("the card field answered {!r}, which has no \"event\"".format(text))
    return event
