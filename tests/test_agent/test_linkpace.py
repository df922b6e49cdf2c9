"""The agent's line pacing toward a reader (agent/linkpace.py, SPEC.md §3 "Line credits")."""

from agent.linkpace import CREDITING, LEGACY, LinePacer
from protocol import link, linkcredit

REQUEST = linkcredit.encode_credit()


def _b(n: int) -> bytes:
    """A B line of 249 bytes (16 entries of 10-byte UIDs: the longest)."""
    line = link.encode(link.BLOCKED, bytes([1]) + bytes([10, 4, 1, 2, 3, 4, 5, 6, 7, 8, n]) * 16)
    assert len(line) == 249
    return line


def test_the_request_goes_first_and_at_most_256_bytes_wait_for_credit():
    p = LinePacer()
    p.opened(0.0)
    lines = [_b(i) for i in range(4)]
    for line in lines:
        assert p.push(line)
    out = p.take(0.0)
    assert out == [REQUEST]  # 13 + 249 > 256: the first B waits for the request's credit
    assert p.take(1.0) == [] and p.waiting == 4
    p.credit(1, 1.0)
    assert p.take(1.0) == [lines[0]] and p.in_flight == len(lines[0])
    p.credit(1, 1.1)
    assert p.take(1.1) == [lines[1]]
    assert p.mode == CREDITING and p.in_flight <= link.MAX_LINE_TO_READER


def test_short_lines_share_the_budget():
    p = LinePacer()
    p.opened(0.0)
    ack = link.encode_ack(b"\x01" * 8, 5, 5)
    for _ in range(10):
        p.push(ack)
    out = p.take(0.0)
    assert out[0] == REQUEST and sum(map(len, out)) <= link.MAX_LINE_TO_READER
    assert len(out) == 1 + (link.MAX_LINE_TO_READER - len(REQUEST)) // len(ack)
    p.credit(len(out), 0.5)
    assert len(p.take(0.5)) == 10 - (len(out) - 1)


def test_an_old_reader_gets_its_lines_unpaced_once_its_health_says_nothing_of_credits():
    p = LinePacer()
    p.opened(0.0)
    for i in range(5):
        p.push(_b(i))
    assert p.take(0.0) == [REQUEST]
    p.health({"rid": "00", "fw": "0.9"}, 0.2)
    assert p.mode == LEGACY and len(p.take(0.2)) == 5 and p.deadline() is None


def test_a_reader_that_stops_crediting_holds_lines_only_until_the_timeout():
    p = LinePacer(timeout_s=5.0)
    p.opened(0.0)
    p.take(0.0)
    p.credit(1, 0.0)
    p.push(_b(1))
    p.push(_b(2))
    assert p.take(1.0) == [_b(1)]
    assert p.deadline() == 6.0
    assert p.take(5.9) == []
    assert p.take(6.0) == [_b(2)] and p.stats["credit_timeouts"] == 1
    p.credit(2, 6.1)  # the late credit for the line taken as read
    assert p.stats["overcredits"] == 1 and p.in_flight == 0


def test_a_reset_reader_is_asked_again_and_its_empty_buffer_counted():
    p = LinePacer()
    p.opened(0.0)
    assert p.take(0.0) == [REQUEST]
    p.health({"rid": "00", "fc": 0}, 0.1)  # written before it read the request: wait for it
    assert p.take(0.1) == []
    p.credit(1, 0.2)
    p.push(_b(1))
    assert p.take(0.3) == [_b(1)]
    p.health({"rid": "00", "fc": 0}, 9.0)  # crediting before, not now: it was reset
    p.push(_b(2))
    assert p.take(9.0) == [REQUEST]  # asked again first; _b(1) is gone with the reset
    p.credit(1, 9.1)
    assert p.take(9.1) == [_b(2)]


def test_a_reader_that_takes_nothing_ends_the_link_rather_than_the_agent_s_memory():
    p = LinePacer(max_waiting=3)
    p.opened(0.0)
    assert all(p.push(_b(i)) for i in range(2))  # the request is waiting too
    assert not p.push(_b(3))
