"""The virtual reader: the real firmware on the MicroPython unix port, behind a pty.

    with VirtualReader(tmp_path / "r1") as reader:      # start() ... stop()
        reader.port                                       # open it like /dev/ttyACM0
        reader.tap(bytes.fromhex("04a1b2c3d4e5f6"))       # -> {"event": "recorded", ...}
        reader.power_cut(); reader.power_on()

A work directory holds everything a reader has:

    flash.img      its 2 MiB LittleFS flash (firmware, config, journal, keys)
    tty            symlink to the pty, the reader's "USB port"
    host/          mounted at /host on the reader: events.jsonl, boot.jsonl
    unique_id      the chip's id (machine.unique_id()), made once
    console.log    everything the interpreter printed, with the bridge's notes
    bridge.err     the bridge process's own errors

CLI: python -m hil_tests.targets.virtual --dir DIR [--label R-0001] [--heapsize 128K]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from hil_tests.targets import cardfield
from hil_tests.timescale import scaled
from hil_tests.targets.flashimage import FlashImage, config_bytes, firmware_files

REPO = Path(__file__).resolve().parents[2]


class VirtualReaderError(Exception):
    """The virtual reader could not do what was asked; the message says why and what to do."""


class VirtualReader:
    def __init__(self, workdir, *, heapsize=None, micropython=None, label="R-0001",
                 card_field_port=None, rx_buffer=None) -> None:
        self.workdir = Path(workdir).resolve()
        self.rx_buffer = rx_buffer  # e.g. 260: an ESP32's console input that drops overflow
        self.host_dir = self.workdir / "host"
        self.image = FlashImage(self.workdir / "flash.img")
        self.heapsize = heapsize
        self.micropython = micropython
        self.label = label
        self.card_field_port = card_field_port
        self._bridge: subprocess.Popen | None = None
        self._err = None

    # -- flash -----------------------------------------------------------------

    def install_firmware(self, files: dict | None = None, config: dict | None = None) -> None:
        """Write firmware (default: firmware/ and protocol/ of this checkout) and config.json
        straight into the flash image, as `mpremote fs cp` would lay them out."""
        self._require_unpowered("install firmware")
        self.workdir.mkdir(parents=True, exist_ok=True)
        files = dict(firmware_files() if files is None else files)
        if config is not None:
            files["/config.json"] = config_bytes(config)
        self.image.install(files)

    def read_file(self, path: str) -> bytes:
        self._require_unpowered("read the flash image")
        return self.image.read_file(path)

    def write_file(self, path: str, data: bytes) -> None:
        self._require_unpowered("write the flash image")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.image.write_file(path, data)

    def listdir(self, path: str = "/") -> list[str]:
        self._require_unpowered("read the flash image")
        return self.image.listdir(path)

    def _require_unpowered(self, what: str) -> None:
        if self.running and self._status().get("powered"):
            raise VirtualReaderError("cannot {} of {} while it runs: its firmware has the flash"
                                     " mounted; call power_cut() or stop() first".format(what, self.label))

    # -- lifecycle ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._bridge is not None and self._bridge.poll() is None

    @property
    def port(self) -> str:
        """The reader's serial port (a stable symlink to its pty)."""
        return str(self.workdir / "tty")

    def start(self, *, timeout: float = 10.0, powered: bool = True) -> None:
        """Start the bridge; returns when the pty exists and the interpreter has booted."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_dir.mkdir(exist_ok=True)
        if self.card_field_port is None:
            self.card_field_port = cardfield.free_port()
        env = dict(os.environ)
        env.update(TAPCERT_CARD_FIELD_PORT=str(self.card_field_port), TAPCERT_LABEL=self.label,
                   TAPCERT_UNIQUE_ID=self._unique_id())
        cmd = [sys.executable, "-m", "hil_tests.targets.ptybridge", "--workdir", str(self.workdir),
               "--flash", str(self.image.path), "--host-dir", str(self.host_dir)]
        if self.heapsize:
            cmd += ["--heapsize", str(self.heapsize)]
        if self.micropython:
            cmd += ["--micropython", str(self.micropython)]
        if self.rx_buffer:
            cmd += ["--rx-buffer", str(self.rx_buffer)]
        if not powered:
            cmd.append("--powered-off")
        self._err = open(self.workdir / "bridge.err", "ab")
        self._bridge = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._err, cwd=str(REPO), env=env,
                                        start_new_session=True)
        try:
            ready = self._read_reply(timeout)
            if not ready.get("ok"):
                raise VirtualReaderError("the pty bridge of {} did not start: {}".format(
                    self.label, ready.get("error")))
            if powered:
                self.wait_booted(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        bridge, self._bridge = self._bridge, None
        if bridge is None:
            return
        try:
            if bridge.poll() is None:
                try:
                    bridge.stdin.write(b"stop\n")
                    bridge.stdin.flush()
                except OSError:
                    pass
                try:
                    bridge.wait(scaled(timeout))
                except subprocess.TimeoutExpired:
                    os.killpg(bridge.pid, signal.SIGKILL)
                    bridge.wait(5)
        finally:
            for stream in (bridge.stdin, bridge.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            if self._err is not None:
                self._err.close()
                self._err = None

    def __enter__(self) -> "VirtualReader":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- power and USB ---------------------------------------------------------

    def power_cut(self) -> None:
        """Cut power now: the interpreter is killed wherever it is (mid-write included)."""
        self._command("power_cut")

    def power_on(self, *, wait: bool = True, timeout: float = 10.0) -> None:
        """Power on: main.py runs. With wait=False return as soon as the interpreter starts."""
        self._command("power_on")
        if wait:
            self.wait_booted(timeout)

    def reset(self, *, timeout: float = 10.0) -> None:
        """Press the reset button (a hard reset: main.py runs)."""
        boots = self._status()["boots"]
        self._command("reset")
        self._wait(lambda s: s["boots"] > boots and s["booted"], timeout, "come back from reset")

    def unplug(self) -> None:
        """Pull the USB cable: power off and the pty goes away (readers get EIO)."""
        self._command("unplug")

    def plug(self, *, timeout: float = 10.0) -> None:
        """Plug it back: a new pty behind the same `port` symlink, and power-on."""
        self._command("plug")
        self.wait_booted(timeout)

    def status(self) -> dict:
        return self._status()

    def wait_booted(self, timeout: float = 10.0) -> None:
        self._wait(lambda s: s["booted"], timeout, "boot")

    def wait_boot(self, after: int, cause: str | None = None, timeout: float = 10.0) -> dict:
        """Wait for a boot beyond the first `after` entries of boots() (of `cause`, if given)
        to finish; returns its entry. E.g. after `mpremote reset`: wait_boot(n, "hard")."""
        found: list[dict] = []

        def done(status):
            if not status["booted"]:
                return False
            found[:] = [b for b in self.boots()[after:] if cause is None or b["cause"] == cause]
            return bool(found)

        self._wait(done, timeout, "boot" + (" ({})".format(cause) if cause else ""))
        return found[-1]

    def _wait(self, done, timeout: float, what: str) -> None:
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while True:
            status = self._status()
            if done(status):
                return
            if not status["powered"] or time.monotonic() > deadline:
                raise VirtualReaderError("{} did not {} within {:.0f} s; see {}".format(
                    self.label, what, timeout, self.workdir / "console.log"))
            time.sleep(0.02)

    # -- card field and feedback ------------------------------------------------

    def tap(self, uid: bytes, kind: int = 1, timeout: float = 5.0) -> dict:
        """Present a card to the reader; returns its feedback event."""
        if self.card_field_port is None:
            raise VirtualReaderError("{} has no card field: start() it first".format(self.label))
        try:
            return cardfield.tap(self.card_field_port, uid, kind, timeout=scaled(timeout))
        except cardfield.CardFieldError as exc:
            raise VirtualReaderError("{}: {}; see {}".format(
                self.label, exc, self.workdir / "console.log")) from exc

    def events(self) -> list[dict]:
        """Feedback events the firmware appended to /host/events.jsonl."""
        return _read_jsonl(self.host_dir / "events.jsonl")

    def boots(self) -> list[dict]:
        """One entry per interpreter start: cause, run_main, formatted (blank/unmountable/False)."""
        return _read_jsonl(self.host_dir / "boot.jsonl")

    def failures(self) -> list[dict]:
        """Scripts (boot.py, main.py) that ended in an exception: {"file", "error"}."""
        return _read_jsonl(self.host_dir / "failures.jsonl")

    def wait_firmware(self, *, after_events: int = 0, after_failures: int = 0,
                      timeout: float = 30.0) -> dict:
        """Wait until the firmware has started (its "boot" feedback event) and return that
        event; raises VirtualReaderError naming the error if main.py failed instead."""
        deadline = time.monotonic() + timeout
        while True:
            failed = self.failures()[after_failures:]
            if failed:
                raise VirtualReaderError("{} failed to boot: {} in {}; see {}".format(
                    self.label, failed[-1]["error"], failed[-1]["file"],
                    self.workdir / "console.log"))
            booted = [e for e in self.events()[after_events:] if e.get("event") == "boot"]
            if booted:
                return booted[-1]
            if time.monotonic() > deadline:
                raise VirtualReaderError("{} firmware did not start within {:.0f} s; see {}"
                                         .format(self.label, timeout, self.workdir / "console.log"))
            time.sleep(0.05)

    def console(self) -> str:
        path = self.workdir / "console.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    # -- plumbing -------------------------------------------------------------------

    def _unique_id(self) -> str:
        path = self.workdir / "unique_id"
        if not path.exists():
            path.write_text(os.urandom(8).hex() + "\n")
        return path.read_text().strip()

    def _status(self) -> dict:
        return self._command("status")

    def _command(self, verb: str, timeout: float = 10.0) -> dict:
        if not self.running:
            raise VirtualReaderError("{} is not running: call start() first (bridge log: {})".format(
                self.label, self.workdir / "bridge.err"))
        self._bridge.stdin.write(verb.encode() + b"\n")
        self._bridge.stdin.flush()
        reply = self._read_reply(timeout)
        if not reply.get("ok"):
            raise VirtualReaderError("{}: {} failed: {}".format(self.label, verb, reply.get("error")))
        return reply

    def _read_reply(self, timeout: float) -> dict:
        timeout = scaled(timeout)
        out = self._bridge.stdout
        deadline = time.monotonic() + timeout
        line = b""
        fd = out.fileno()
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise VirtualReaderError("the pty bridge of {} did not answer within {:.0f} s;"
                                         " see {}".format(self.label, timeout, self.workdir / "bridge.err"))
            chunk = os.read(fd, 1)
            if not chunk:
                raise VirtualReaderError("the pty bridge of {} exited; see {}".format(
                    self.label, self.workdir / "bridge.err"))
            line += chunk
        return json.loads(line)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text("utf-8", "replace").splitlines():
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a power cut
    return events


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hil_tests.targets.virtual",
        description="Run one virtual reader until Ctrl-C.",
        epilog="example: python -m hil_tests.targets.virtual --dir /tmp/r1 --label R-0001")
    parser.add_argument("--dir", required=True, help="work directory (flash image, tty, logs)")
    parser.add_argument("--label", default="R-0001", help="the reader's human label")
    parser.add_argument("--heapsize", help="interpreter heap, e.g. 128K (default 2M)")
    parser.add_argument("--micropython", help="interpreter binary (default: $MICROPYTHON or the venv's)")
    parser.add_argument("--config", help="JSON file installed as /config.json with a new image")
    parser.add_argument("--card-field-port", type=int, help="TCP port of the card field (default: free)")
    args = parser.parse_args(argv)
    reader = VirtualReader(args.dir, heapsize=args.heapsize, micropython=args.micropython,
                           label=args.label, card_field_port=args.card_field_port)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        if reader.image.is_blank():
            config = json.loads(Path(args.config).read_text()) if args.config else None
            reader.install_firmware(config=config)
            print("installed firmware into new flash image {}".format(reader.image.path), flush=True)
        events, failures = len(reader.events()), len(reader.failures())
        reader.start()
        reader.wait_firmware(after_events=events, after_failures=failures)
        print("reader {} running: port {}  card field 127.0.0.1:{}  console {}".format(
            args.label, reader.port, reader.card_field_port, reader.workdir / "console.log"),
            flush=True)
        while not stop and reader.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    except (VirtualReaderError, OSError, ValueError) as exc:
        print("virtual reader: {}".format(exc), file=sys.stderr)
        return 1
    finally:
        reader.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
