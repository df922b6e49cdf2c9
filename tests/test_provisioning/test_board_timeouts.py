"""Board.health() reads the link with short timeouts; the raw REPL that follows (mpremote's
raw paste reads the board's flow-control bytes blocking) must get the port's timeout back,
or a slow board (an ESP32 writing flash, a loaded CI machine) looks like it stopped answering
in the middle of a flash."""

from types import SimpleNamespace

from protocol import link
from provisioning.board import Board


class FakeSerial:
    def __init__(self, answer: bytes):
        self.timeout = None          # what mpremote's SerialTransport opens the port with
        self.pending = answer
        self.written = b""
        self.timeouts_seen = []

    @property
    def in_waiting(self):
        return len(self.pending)

    def read(self, n):
        self.timeouts_seen.append(self.timeout)
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def write(self, data):
        self.written += data

    def flush(self):
        pass


def board_on(serial):
    board = Board("/dev/fake")
    board.transport = SimpleNamespace(serial=serial)
    return board


def test_health_reads_with_short_timeouts_then_gives_the_port_its_timeout_back():
    frame = link.encode_json(link.HEALTH, {"rid": "ab" * 8, "fw": "0.1.0"})
    serial = FakeSerial(b"noise\n" + frame)
    assert board_on(serial).health(timeout=2.0)["fw"] == "0.1.0"
    assert serial.timeouts_seen and all(t <= 0.1 for t in serial.timeouts_seen)
    assert serial.timeout is None
    assert link.encode(link.QUERY) in serial.written


def test_no_answer_also_restores_the_timeout():
    serial = FakeSerial(b"")
    serial.timeout = 7.0
    assert board_on(serial).health(timeout=0.05) is None
    assert serial.timeout == 7.0
