"""The agent's local control socket: bench commands for a running agent (test readers only).

A Unix stream socket beside the queue (`control.sock`, mode 0600, root/the agent's user
only). One JSON request line in, one JSON answer line out:

    {"cmd": "inject", "reader": "<reader id hex or label>", "uid": "04a1b2c3", "kind": 1}
    -> {"ok": true, "event": "recorded", "seq": 12}

`inject` sends the reader a test tap (link `I` frame, SPEC §3) through the port the agent
holds, and waits for the reader's health frame that names the feedback it gave ("inj"). A
reader not enrolled in test mode refuses it (the answer then times out with that reason).
This is how hil_tests runs its scenarios on real readers while the agent owns the port.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time

from protocol import link

INJECT_TIMEOUT_S = 5.0


class ControlServer:
    def __init__(self, path, core):
        self.path = str(path)
        self.core = core
        self._sock = None
        self._thread = None
        self._stopping = False

    def start(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.listen(4)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        if self._thread is not None:
            self._thread.join(2)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _serve(self):
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    line = conn.makefile("rb").readline(4096)
                    answer = self.handle(json.loads(line))
                except (ValueError, OSError) as exc:
                    answer = {"ok": False, "error": "bad request: {}".format(exc)}
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(answer).encode() + b"\n")

    def handle(self, req):
        if not isinstance(req, dict) or req.get("cmd") != "inject":
            return {"ok": False, "error": "unknown command; this socket knows: inject"}
        state = self._find(str(req.get("reader", "")))
        if state is None:
            return {"ok": False, "error": "no reader {!r} on this agent".format(req.get("reader"))}
        if state.port is None or not state.online:
            return {"ok": False, "error": "reader {} is not connected".format(state.label or state.rid.hex())}
        try:
            uid = bytes.fromhex(str(req.get("uid", "")))
            frame = link.encode_inject(int(req.get("kind", 1)), uid)
        except (ValueError, TypeError, link.LocalProtocolError) as exc:
            return {"ok": False, "error": "bad tap: {}".format(exc)}
        before = (state.health.get("inj") or [0])[0]
        if not state.port.send(frame):
            return {"ok": False, "error": "the reader's port did not take the frame"}
        deadline = time.monotonic() + INJECT_TIMEOUT_S
        while time.monotonic() < deadline:
            inj = state.health.get("inj")
            if isinstance(inj, list) and len(inj) == 3 and inj[0] != before:
                return {"ok": True, "event": inj[1], "seq": inj[2]}
            time.sleep(0.02)
        return {"ok": False, "error": "the reader did not answer the test tap within {:.0f} s: is it "
                "enrolled with --test-mode?".format(INJECT_TIMEOUT_S)}

    def _find(self, name):
        for state in list(self.core.readers.values()):
            if state.rid.hex() == name.lower() or (state.label and state.label == name):
                return state
        return None


def request(path, obj, timeout=15.0):
    """Send one request to a running agent's control socket; -> its answer (dict)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(obj).encode() + b"\n")
        return json.loads(sock.makefile("rb").readline(65536))
