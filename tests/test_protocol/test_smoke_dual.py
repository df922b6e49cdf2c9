# dual: micropython
from protocol.errors import RemoteProtocolError
from protocol.compat import const, ticks_ms, ticks_diff


def test_error_carries_reason():
    try:
        raise RemoteProtocolError("short", "truncated")
    except RemoteProtocolError as exc:
        assert exc.reason == "truncated"
        assert str(exc) == "short"


def test_ticks():
    t = ticks_ms()
    assert ticks_diff(ticks_ms(), t) >= 0
    assert const(3) == 3
