"""The network-cut proxy really cuts, blackholes and heals a TCP path."""

import socket
import threading

import pytest

from hil_tests.netcut import NetCut


@pytest.fixture
def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=lambda c=conn: [c.sendall(d) for d in iter(lambda: c.recv(100), b"")],
                             daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    stop.set()
    srv.close()


def _echo(port, payload=b"ping", timeout=1.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        return s.recv(100)


def test_proxy_forwards_cuts_and_heals(echo_server):
    with NetCut(echo_server) as net:
        assert _echo(net.port) == b"ping"
        s = socket.create_connection(("127.0.0.1", net.port), timeout=1)
        s.sendall(b"a")
        assert s.recv(10) == b"a"
        net.cut()
        s.settimeout(2)
        assert s.recv(10) == b""  # the open connection was dropped
        with pytest.raises(OSError):
            _echo(net.port)  # new connections are refused (closed at once)
        net.heal()
        assert _echo(net.port) == b"ping"


def test_blackhole_keeps_connection_but_forwards_nothing(echo_server):
    with NetCut(echo_server) as net:
        s = socket.create_connection(("127.0.0.1", net.port), timeout=1)
        net.blackhole()
        s.sendall(b"lost")
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(10)
        s.close()
