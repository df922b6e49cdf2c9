"""The rp2040 runner process (runner.mjs under Node) and the pump between its USB CDC and a pty.

    runner = RunnerProcess(workdir, flash_path, image=None, timing=True, nfc="pn532",
                           display="none")
    runner.start(powered=True)          # -> the runner's "ready" line
    runner.command("status")            # -> {"ok": True, "powered": ..., ...}
    runner.stop()

One thread moves bytes between the pty the world opens (``usbport.USBPort``: ``<workdir>/tty``,
used like /dev/ttyACM0) and the socket that carries the emulated chip's USB CDC, and reads
the runner's JSON lines: replies wake the waiting `command`, events (boot, usb, power,
watchdog, gpio, card) are kept in order. Everything the chip sent is appended to console.log;
what its OLED shows (display events) goes to ``<workdir>/display.bin``, the panel's RAM as the
virtual reader's panel writes it, and to ``panel`` (bytes), ``panels`` (the last 64 distinct
pictures) and ``panel_writes``.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import termios
import threading
import time
from pathlib import Path

from hil_tests.targets.usbport import USBPort
from protocol import link, record
from protocol.errors import ProtocolError

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.mjs"
SOFT_REBOOT = b"MPY: soft reboot"
_LOG_LIMIT = 4 * 1024 * 1024
_MAX_PENDING = 256 * 1024


class RunnerError(Exception):
    """The runner could not be started or did not answer; the message says what to do."""


def node_binary() -> str:
    node = os.environ.get("TAPCERT_NODE") or shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise RunnerError("Node.js is not installed: `make system` installs it (Debian package nodejs)")
    if not (HERE / "node_modules" / "rp2040js").is_dir():
        raise RunnerError("rp2040js is not installed: run `npm ci --prefix {}` (make venv does it)".format(HERE))
    return node


class RunnerProcess:
    def __init__(self, workdir, flash: Path, *, image=None, bootrom=None, timing=True,
                 nfc: str = "pn532", display: str = "none") -> None:
        self.workdir = Path(workdir)
        self.flash = Path(flash)
        self.image = image
        self.bootrom = bootrom
        self.timing = timing
        self.nfc = nfc
        self.display = display
        self.panel: bytes | None = None    # the OLED's RAM as last written
        self.panel_writes = 0
        self.panels: collections.deque = collections.deque(maxlen=64)   # distinct pictures, in order
        self.port = USBPort(self.workdir / "tty")
        self.proc: subprocess.Popen | None = None
        self.events: list[dict] = []
        self.soft_reboots = 0
        self._ids = itertools.count(1)
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._stopping = False
        self._tail = b""
        self.pump_errors = 0
        # the records the chip offers on its link, as a USB sniffer sees them: seq -> uid hex
        self.offered: dict[int, str] = {}
        self.offer_conflicts: list[tuple[int, str, str]] = []   # (seq, first uid, later uid)
        self._link = link.LinkDecoder()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, powered: bool = True, timeout: float = 30.0) -> dict:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair()
        cmd = [node_binary(), str(RUNNER), "--flash", str(self.flash), "--cdc-fd", str(theirs.fileno())]
        if self.image:
            cmd += ["--image", str(self.image)]
        if self.bootrom:
            cmd += ["--bootrom", str(self.bootrom)]
        if not self.timing:
            cmd.append("--no-flash-timing")
        if not powered:
            cmd.append("--powered-off")
        cmd += ["--nfc", self.nfc, "--display", self.display]
        self._console = open(self._console_path(), "ab")
        self._err = open(self.workdir / "runner.err", "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        # reads happen only when poll says so; a write may wait for the runner to catch up
        ours.settimeout(10.0)
        self._sock = ours
        self.port.open()
        self._stopping = False
        self._thread = threading.Thread(target=self._pump, name="rp2040-pump " + str(self.workdir),
                                        daemon=True)
        self._thread.start()
        ready = self._wait_reply(0, timeout)
        if not ready.get("ok"):
            self.stop()
            raise RunnerError("the rp2040 runner did not start: {}".format(ready.get("error")))
        return ready

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send({"id": next(self._ids), "cmd": "stop"})
            except OSError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.proc = None
        for closeable in (proc.stdin, proc.stdout, self._sock, self._console, self._err):
            try:
                closeable.close()
            except (OSError, AttributeError):
                pass
        self.port.close()

    # -- control -------------------------------------------------------------------------------

    def command(self, cmd: str, timeout: float = 30.0, **fields) -> dict:
        if not self.running:
            raise RunnerError("the rp2040 runner is not running (see {})".format(self.workdir / "runner.err"))
        ident = next(self._ids)
        self._send(dict(fields, id=ident, cmd=cmd))
        return self._wait_reply(ident, timeout)

    def _send(self, msg: dict) -> None:
        with self._write_lock:
            self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
            self.proc.stdin.flush()

    def _wait_reply(self, ident: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                remaining = deadline - time.monotonic()
                if not self.running and ident not in self._replies:
                    raise RunnerError("the rp2040 runner exited; see {}".format(self.workdir / "runner.err"))
                if remaining <= 0:
                    raise RunnerError("the rp2040 runner did not answer within {:.0f} s; see {}".format(
                        timeout, self.workdir / "runner.err"))
                self._cond.wait(min(remaining, 0.5))
            return self._replies.pop(ident)

    def wait_event(self, predicate, timeout: float, what: str) -> dict:
        """The first event (from the start) for which predicate(event) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.running:
                    raise RunnerError("no {} within {:.0f} s; see {} and {}".format(
                        what, timeout, self._console_path(), self.workdir / "runner.err"))
                self._cond.wait(min(remaining, 0.5))

    # -- the pump ------------------------------------------------------------------------------

    def _pump(self) -> None:
        out_fd = self.proc.stdout.fileno()
        line = b""
        while not self._stopping:
            try:
                line = self._pump_once(out_fd, line)
            except Exception as exc:  # noqa: BLE001 - a hostile byte must not end the pump
                self.pump_errors += 1
                self._note("pump error: {!r}".format(exc))
                time.sleep(0.01)
            if line is None:
                break
        with self._cond:
            self._cond.notify_all()

    def _pump_once(self, out_fd: int, line: bytes):
        port = self.port
        connected = port.connected()
        if not connected:
            port.pending.clear()
        poller = select.poll()
        poller.register(out_fd, select.POLLIN)
        if len(port.pending) < _MAX_PENDING:
            poller.register(self._sock.fileno(), select.POLLIN)
        if connected:
            poller.register(port.fd, select.POLLIN | (select.POLLOUT if port.pending else 0))
        for fd, ev in poller.poll(20 if port.is_open and not connected else 200):
            if fd == out_fd:
                chunk = os.read(out_fd, 65536)
                if not chunk:
                    return None  # the runner exited
                line += chunk
                while b"\n" in line:
                    one, line = line.split(b"\n", 1)
                    self._on_runner_line(one)
            elif fd == self._sock.fileno():
                try:
                    data = self._sock.recv(65536)
                except (BlockingIOError, TimeoutError):
                    continue
                if data:
                    self._from_chip(data)
            elif fd == port.fd:
                if ev & select.POLLOUT:
                    port.flush()
                if ev & select.POLLIN:
                    data = port.read()
                    if data:
                        self._sock.sendall(data)
        return line

    def _on_runner_line(self, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self._note("runner said: {!r}".format(raw[:200]))
            return
        with self._cond:
            if "id" in msg:
                self._replies[msg["id"]] = msg
            elif "ready" in msg or msg.get("ok") is False:
                self._replies[0] = msg
            elif msg.get("event") == "display":
                self._show(msg)
            else:
                self.events.append(msg)
                if msg.get("event") == "power" and msg.get("state") == "off":
                    self._forget_output()
            self._cond.notify_all()

    def _show(self, msg: dict) -> None:
        # the panel's RAM, not kept in events (a refresh is 512 or 1,024 bytes)
        try:
            ram = bytes.fromhex(msg.get("ram", ""))
        except ValueError:
            self._note("display event without RAM: {!r}".format(msg)[:200])
            return
        self.panel = ram
        self.panel_writes += 1
        if not self.panels or self.panels[-1] != ram:
            self.panels.append(ram)
        tmp = self.workdir / "display.bin.tmp"
        tmp.write_bytes(ram)
        tmp.replace(self.workdir / "display.bin")   # whole, never half written

    def _forget_output(self) -> None:
        # Power is gone, and with it the USB device: what it sent and nobody read yet goes too
        # (a real ttyACM vanishes); a later reader must not take it for the next boot's words.
        self.port.pending.clear()
        if self.port.fd is not None:
            try:
                termios.tcflush(self.port.fd, termios.TCOFLUSH)
            except termios.error:
                pass

    def _from_chip(self, data: bytes) -> None:
        self._console.write(data)
        self._console.flush()
        seen = self._tail + data
        count = seen.count(SOFT_REBOOT)
        if count:
            with self._cond:
                self.soft_reboots += count
                self.events.append({"event": "boot", "cause": "soft", "soft": True})
                self._cond.notify_all()
        self._tail = seen[-(len(SOFT_REBOOT) - 1):]
        self.port.send(data)
        self._sniff(data)

    def _sniff(self, data: bytes) -> None:
        self._link.feed(data)
        while True:
            try:
                frame = self._link.next_message()
            except ProtocolError:
                continue  # REPL text and noise between frames
            if frame is link.NEED_DATA:
                return
            if frame.type != link.RECORD:
                continue
            try:
                offered = record.decode(frame.body)
            except ProtocolError:
                continue
            with self._cond:
                uid = offered.uid.hex()
                if self.offered.get(offered.seq, uid) != uid:   # a seq reused for another card
                    self.offer_conflicts.append((offered.seq, self.offered[offered.seq], uid))
                self.offered[offered.seq] = uid
                self._cond.notify_all()

    def _console_path(self) -> Path:
        path = self.workdir / "console.log"
        if path.exists() and path.stat().st_size > _LOG_LIMIT:
            path.replace(path.with_suffix(".log.1"))
        return path

    def _note(self, text: str) -> None:
        try:
            self._err.write("[pump {}] {}\n".format(time.strftime("%H:%M:%S"), text).encode())
            self._err.flush()
        except (OSError, ValueError):
            pass
