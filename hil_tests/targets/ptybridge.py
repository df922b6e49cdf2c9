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
import select
import signal
import sys
import time
from pathlib import Path

from hil_tests.targets.interpreter import Interpreter, find_micropython
from hil_tests.targets.replstate import FRIENDLY_BANNER_START, RAW_BANNER, REPLTracker
from hil_tests.targets.usbport import USBPort

REPO = Path(__file__).resolve().parents[2]
BOOT_SCRIPT = REPO / "firmware" / "board" / "unix_boot.py"
HARD_RESET_STATUS = 82        # unix_machine.HARD_RESET_STATUS
SOFT_REBOOT = b"MPY: soft reboot\r\n"
_HOLD_AFTER_INTERRUPT = 2.0   # s: input waits this long for the prompt after a SIGINT
_SETTLE = 0.1                 # s: after input that may run code, wait this long before SIGINT
_BOOT_GRACE = 3.0             # s: input is accepted after this even without a boot notice
_RAW_ENTRY_TIMEOUT = 5.0
_MAX_PENDING = 256 * 1024
_LOG_LIMIT = 4 * 1024 * 1024
_FAILED_BOOTS_LIMIT = 3


class Bridge:
    def __init__(self, workdir, flash, host_dir, *, micropython=None, heapsize=None,
                 boot_script=BOOT_SCRIPT, env=None, rx_buffer=None) -> None:
        self.workdir = Path(workdir)
        self.flash = Path(flash).resolve()
        self.host_dir = Path(host_dir).resolve()
        self.micropython = find_micropython(micropython)
        self.heapsize = heapsize
        self.rx_buffer = rx_buffer       # model an ESP32's 260-byte console input (drops overflow)
        self.rx_dropped = 0
        self.boot_script = str(boot_script)
        self.env = dict(os.environ if env is None else env)
        self.env.pop("MICROPYPATH", None)  # unix_boot sets the board's sys.path
        self.port = USBPort(self.workdir / "tty")
        self.tracker = REPLTracker()
        self.chip: Interpreter | None = None
        self.boots = 0
        self.failed_boots = 0
        self.held = b""                  # input held back after a Ctrl-C
        self.held_until = 0.0
        self.holding = False
        self.suppress: bytearray | None = None  # output held while entering the raw REPL
        self.suppress_until = 0.0
        self.stopping = False
        self.console = self._open_console()

    # -- power and resets ---------------------------------------------------------

    def spawn(self, *, run_main: bool, cause: str, enter_raw: bool = False) -> None:
        env = dict(self.env, TAPCERT_FLASH=str(self.flash), TAPCERT_HOST_DIR=str(self.host_dir),
                   TAPCERT_RUN_MAIN="1" if run_main else "0", TAPCERT_RESET_CAUSE=cause)
        cmd = [self.micropython]
        if self.heapsize:
            cmd += ["-X", "heapsize=" + str(self.heapsize)]
        cmd += ["-i", self.boot_script]
        self.chip = Interpreter(cmd, env, str(self.host_dir), rx_buffer=self.rx_buffer)
        self.boots += 1
        self.tracker.reset()
        self.held, self.holding = b"", False
        self.note("boot {} ({}, {})".format(self.boots, cause, "main.py" if run_main else "raw REPL"))
        self.suppress = None
        if enter_raw:
            self.chip.send(b"\x01")
            self.suppress = bytearray()
            self.suppress_until = time.monotonic() + _RAW_ENTRY_TIMEOUT

    def _reap(self) -> None:
        """The interpreter closed its pty: collect it and play the board's reset."""
        chip, self.chip = self.chip, None
        status = chip.wait()
        while (data := chip.read()):
            self._from_chip(data)
        chip.close()
        reason = chip.killed_for
        self.note("interpreter exited (status {}, {})".format(status, reason or "by itself"))
        if reason in ("stop", "cut"):
            return
        if not chip.booted:
            self.failed_boots += 1
            if self.failed_boots >= _FAILED_BOOTS_LIMIT:
                self.port.send(("\r\nvirtual reader: the interpreter exited during boot {} times"
                                " (status {}); powered off - see {}\r\n").format(
                                    self.failed_boots, status, self.workdir / "console.log").encode())
                return
        else:
            self.failed_boots = 0
        if reason == "hard" or status == HARD_RESET_STATUS:
            self.spawn(run_main=True, cause="hard")
        elif reason == "soft" or status >= 0 or status == -signal.SIGINT:
            self.port.send(SOFT_REBOOT)
            if self.tracker.raw_mode:
                self.spawn(run_main=False, cause="soft", enter_raw=True)
            else:
                self.spawn(run_main=True, cause="soft")
        else:  # killed by a signal nobody here sent: the chip crashed, the board reboots
            self.spawn(run_main=True, cause="hard")

    def _power_off(self, reason: str) -> None:
        """Kill the interpreter and wait; whatever it still had in its pty is lost."""
        chip, self.chip = self.chip, None
        if chip is None:
            return
        chip.kill(reason)
        chip.wait()
        chip.close()
        self.note("power cut" if reason == "cut" else "stopped")
        self.suppress = None
        self.held, self.holding = b"", False

    # -- byte pumping --------------------------------------------------------------

    def _from_chip(self, data: bytes) -> None:
        self.console.write(data)
        self.console.flush()
        self.tracker.feed_output(data)
        if self.suppress is not None:
            # soft reset into the raw REPL: a board prints no banner there, only the raw prompt
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
        self.port.send(data)

    def _from_outside(self, data: bytes) -> None:
        """Input from the port; Ctrl-C is the board's interrupt, not a byte."""
        now = time.monotonic()
        while data:
            cut = data.find(b"\x03")
            if cut < 0:
                self._to_chip(data, now)
                return
            self._to_chip(data[:cut], now)
            rest = data[cut + 1:]
            t = self.tracker
            if t.idle or self.chip is None:
                self._to_chip(b"\x03", now)
            elif t.executing_since is not None and now - t.executing_since < _SETTLE:
                # it was just told to run something: it may be back at the prompt already
                self._hold(b"\x03" + rest, t.executing_since + _SETTLE)
                return
            else:
                self.note("Ctrl-C: SIGINT to the running interpreter")
                t.executing_since = None
                self.chip.interrupt()
                self._hold(rest, now + _HOLD_AFTER_INTERRUPT)
                return
            data = rest

    def _hold(self, data: bytes, until: float) -> None:
        self.held, self.held_until, self.holding = data, until, True

    def _release(self, now: float) -> None:
        if self.holding and (self.tracker.idle or now >= self.held_until or self.chip is None):
            data, self.held, self.holding = self.held, b"", False
            self._from_outside(data)

    def _to_chip(self, data: bytes, now: float) -> None:
        if data and self.chip is not None:
            self.tracker.feed_input(data, now)
            self.rx_dropped += self.chip.send(data)

    def _accepting_input(self, now: float) -> bool:
        chip = self.chip
        if chip is None:
            return True  # powered off: bytes go nowhere
        if self.suppress is not None or self.holding or chip.pending:
            return False
        return chip.booted or self.tracker.idle or now - chip.started > _BOOT_GRACE

    def _on_notices(self, data: bytes) -> None:
        for code in data:
            if code in b"MR":
                self.chip.booted = True
            elif code == ord("H"):
                self.chip.kill("hard")
            elif code == ord("S"):
                self.chip.kill("soft")

    # -- commands ----------------------------------------------------------------

    def command(self, line: str) -> dict:
        verb = line.strip()
        if verb == "status":
            return self.status()
        if verb == "power_cut":
            self._power_off("cut")
            return {"ok": True}
        if verb == "power_on":
            if self.chip is not None:
                return {"ok": True, "already": True}
            self.failed_boots = 0
            self.spawn(run_main=True, cause="power-on")
            return {"ok": True}
        if verb == "reset":
            if self.chip is None:
                return {"ok": False, "error": "the reader is powered off: use power_on"}
            self.chip.kill("hard")
            return {"ok": True}
        if verb == "unplug":
            self._power_off("cut")
            self.port.close()
            return {"ok": True}
        if verb == "plug":
            if not self.port.is_open:
                self.port.open()
            if self.chip is None:
                self.failed_boots = 0
                self.spawn(run_main=True, cause="power-on")
            return {"ok": True, "tty": str(self.port.link), "pts": self.port.pts}
        if verb == "stop":
            self.stopping = True
            return {"ok": True}
        return {"ok": False, "error": "unknown command {!r}: status, power_cut, power_on,"
                                      " reset, unplug, plug, stop".format(verb)}

    def status(self) -> dict:
        chip = self.chip
        return {"ok": True, "powered": chip is not None, "booted": bool(chip and chip.booted),
                "pid": chip.pid if chip else None, "boots": self.boots,
                "raw_mode": self.tracker.raw_mode, "idle": self.tracker.idle,
                "tty": str(self.port.link) if self.port.is_open else None, "pts": self.port.pts,
                "connected": self.port.connected(), "rx_dropped": self.rx_dropped}

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
                self.port.send(pending)
            connected = self.port.connected()
            if not connected:
                self.port.pending.clear()
            poller = select.poll()
            poller.register(cmd_fd, select.POLLIN)
            chip = self.chip
            if chip is not None:
                if chip.control_open:
                    poller.register(chip.control, select.POLLIN)
                ev = select.POLLOUT if chip.pending else 0
                if len(self.port.pending) < _MAX_PENDING:
                    ev |= select.POLLIN  # else the interpreter blocks on output, as on a stuck USB host
                if ev:
                    poller.register(chip.master, ev)
            if connected:
                ev = select.POLLOUT if self.port.pending else 0
                if self._accepting_input(now):
                    ev |= select.POLLIN
                if ev:
                    poller.register(self.port.fd, ev)
            busy = self.holding or self.suppress is not None or (chip and not chip.booted)
            timeout = 20 if busy or (self.port.is_open and not connected) else 200
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
                            replies.write(json.dumps(self.command(line.decode("utf-8", "replace"))) + "\n")
                            replies.flush()
                elif chip is not None and chip is self.chip and fd == chip.control:
                    self._on_notices(chip.read_notices())
                elif chip is not None and chip is self.chip and fd == chip.master:
                    if ev & select.POLLOUT:
                        chip.flush()
                    if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                        data = chip.read()
                        if data is None:
                            self._reap()
                        elif data:
                            self._from_chip(data)
                elif fd == self.port.fd:
                    if ev & select.POLLOUT:
                        self.port.flush()
                    if ev & select.POLLIN:
                        data = self.port.read()
                        if self.chip is not None:
                            self._from_outside(data)
        self.shutdown()

    def shutdown(self) -> None:
        self._power_off("stop")
        self.port.close()
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
    parser.add_argument("--rx-buffer", type=int, help="console input the firmware has not read that"
                        " fits before bytes are dropped (an ESP32's UART: 260; default: a pty's, which waits)")
    args = parser.parse_args(argv)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    Path(args.host_dir).mkdir(parents=True, exist_ok=True)
    try:
        bridge = Bridge(args.workdir, args.flash, args.host_dir, micropython=args.micropython,
                        heapsize=args.heapsize, rx_buffer=args.rx_buffer)
    except RuntimeError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}), flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: setattr(bridge, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(bridge, "stopping", True))
    bridge.port.open()
    if not args.powered_off:
        bridge.spawn(run_main=True, cause="power-on")
    print(json.dumps({"ok": True, "ready": True, "tty": str(bridge.port.link), "pts": bridge.port.pts,
                      "pid": os.getpid()}), flush=True)
    bridge.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
