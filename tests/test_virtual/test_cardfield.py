"""Taps through the card field (stand-in firmware speaking the contract)."""

import pytest

from hil_tests.targets.cardfield import CardFieldError, tap, tap_line
from hil_tests.targets.virtual import VirtualReaderError


def test_tap_returns_the_feedback_event_and_it_is_in_events(make_reader):
    reader = make_reader()
    first = reader.tap(bytes.fromhex("04a1b2c3d4e5f6"))
    second = reader.tap(bytes.fromhex("04a1b2c3d4e5f6"), kind=2)
    assert first["event"] == "recorded" and first["uid"] == "04a1b2c3d4e5f6" and first["kind"] == 1
    assert second["seq"] == first["seq"] + 1 and second["kind"] == 2
    assert reader.events() == [first, second]


def test_tap_while_the_firmware_boots_waits_for_the_field(make_reader):
    reader = make_reader()
    reader.power_cut()
    reader.power_on(wait=False)
    assert reader.tap(b"\x01\x02\x03\x04")["event"] == "recorded"


def test_tap_with_no_firmware_listening_fails_in_time_and_says_so(make_reader):
    reader = make_reader(main=None)
    with pytest.raises(VirtualReaderError, match="is the firmware running"):
        reader.tap(b"\x01\x02\x03\x04", timeout=0.5)


@pytest.mark.slow
def test_tap_to_a_field_that_drops_the_card_is_not_retried(tmp_path):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    seen = []

    def serve():
        for _ in range(2):
            try:
                conn, _ = server.accept()
            except OSError:
                return
            seen.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(CardFieldError, match="closed the connection"):
            tap(server.getsockname()[1], b"\x01\x02\x03\x04", timeout=2)
    finally:
        server.close()
        thread.join(5)
    assert seen == [b"TAP 01020304 1\n"]  # exactly one tap reached the field


def test_tap_line_checks_the_uid():
    assert tap_line(b"\x04\xa1\xb2\xc3", 1) == b"TAP 04a1b2c3 1\n"
    with pytest.raises(ValueError, match="1 to 10 bytes"):
        tap_line(b"", 1)
    with pytest.raises(ValueError):
        tap_line("04a1b2c3", 1)
