"""A loopback TCP proxy that can cut one station's network on demand.

A station's agent connects to the broker through its own `NetCut` proxy. `cut()` drops every
open connection and refuses new ones (the cable is out); `blackhole()` keeps connections open
but forwards nothing (a half-open link: only keepalives notice); `heal()` restores service.
127.0.0.1 only; one thread per direction per connection; bounded by the connections made.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

OPEN, CUT, BLACKHOLE = "open", "cut", "blackhole"


class NetCut:
    def __init__(self, target_port: int, listen_port: int = 0, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._server = self._listen(listen_port)
        self.port = self._server.getsockname()[1]
        self.state = OPEN
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stopping = False
        self.connections = 0
        self._thread = threading.Thread(target=self._accept_loop, name=f"netcut:{self.port}",
                                        daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(64)
        return server

    # control -------------------------------------------------------------------------
    def cut(self) -> None:
        """Cable out: open connections reset, new ones refused (nothing listens)."""
        with self._lock:
            self.state = CUT
            pairs, self._pairs = self._pairs, []
            _close(self._server)
        for a, b in pairs:
            _close(a)
            _close(b)

    def blackhole(self) -> None:
        with self._lock:
            self.state = BLACKHOLE

    def heal(self) -> None:
        with self._lock:
            if self.state == CUT and not self._stopping:
                self._server = self._listen(self.port)
            self.state = OPEN

    def close(self) -> None:
        self._stopping = True
        self.cut()
        _close(self._server)
        self._thread.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # plumbing ------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping:
            server = self._server
            if self.state == CUT:
                threading.Event().wait(0.05)
                continue
            try:
                server.settimeout(0.2)
                client, _ = server.accept()
                client.settimeout(None)
            except socket.timeout:
                continue
            except OSError:
                if self._stopping:
                    return
                threading.Event().wait(0.05)
                continue
            if self.state == CUT:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        socks = [client, upstream]
        try:
            while not self._stopping:
                readable, _, _ = select.select(socks, [], [], 0.5)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    if self.state == OPEN:
                        (upstream if s is client else client).sendall(data)
                    elif self.state == CUT:
                        return
        except (OSError, ValueError):
            return
        finally:
            _close(client)
            _close(upstream)
            with self._lock:
                with contextlib.suppress(ValueError):
                    self._pairs.remove((client, upstream))


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
