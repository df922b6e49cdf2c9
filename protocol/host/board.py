"""A reader on its USB serial port, through mpremote's transport (the only file that knows it):
the maintenance link that provisioning (flash, enroll, doctor) and the agent (firmware
updates, agent/update.py) both use. CPython only (mpremote, pyserial, imported lazily).

Two ways to talk to one port, never at once:

* the link (SPEC §3): while the firmware runs, `health()` sends a `Q` frame and waits for
  the `H` health frame — how the tool learns the firmware version, reader id and unsynced
  count without stopping anything;
* the raw REPL: `enter()` interrupts the firmware (Ctrl-C) and soft-resets into the raw
  REPL without main.py, exactly as `mpremote connect PORT …` does; then `exec`, file
  hashes, writes and renames run on the board. `run_main()` leaves the raw REPL and
  soft-resets so main.py starts again.

Every mpremote/pyserial failure becomes a BoardError with the port in it and a fix. The class
raised is the Board's `Error` (and `Raised` for code that raised on the board): a program
subclasses Board to raise its own tree's classes (provisioning/board.py), which derive from
these, so `except BoardError` here catches them too.
"""

from __future__ import annotations

import contextlib
import io
import json
import time

from protocol import link
from protocol.errors import RemoteProtocolError
from protocol.host import portcheck
from protocol.host.portcheck import BoardError, BoardRaised


_FROZEN_SCRIPT = """
import sys, json
saved = list(sys.path)
had = sys.modules.pop(%m, None)
sys.path.clear()
sys.path.append('.frozen')
try:
    value = getattr(__import__(%m), %a, None)
except ImportError:
    value = None
sys.path.clear()
sys.path.extend(saved)
sys.modules.pop(%m, None)
if had is not None:
    sys.modules[%m] = had
print(json.dumps(value))
"""

_HASH_SCRIPT = """
import hashlib, json
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256(); b = bytearray(512); m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return ''.join('%02x' % x for x in h.digest())
print(json.dumps({p: _h(p) for p in %r}))
del _h
"""

_MAKEDIRS = """
import os
def _md(p):
    cur = ''
    for part in p.strip('/').split('/'):
        cur += '/' + part
        try:
            os.mkdir(cur)
        except OSError:
            pass
for p in %r:
    _md(p)
del _md
"""


_SHADOW_SCRIPT = """
import os, json
def _d(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False
print(json.dumps([p for p in %r if _d(p)]))
del _d
"""

# What a firmware update left on the board (protocol/host/fwapply.py, firmware/fwswap.py):
# the intent /fw.swap, files staged under /fw.next, the backup under /fw.prev.
_UPDATE_SCRIPT = """
import os, json
def _w(p, out):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for n in os.listdir(p):
            _w(p + '/' + n, out)
    else:
        out.append([p, st[6]])
def _r(p):
    try:
        f = open(p); t = f.read(); f.close(); return t
    except OSError:
        return None
_n = []; _p = []
_w('/fw.next', _n); _w('/fw.prev', _p)
print(json.dumps({'swap': _r('/fw.swap'), 'next': _n, 'prev': _p,
                  'prev_manifest': _r('/fw.prev/firmware.json')}))
del _w, _r, _n, _p
"""


class Board:
    Error = BoardError     # what this link raises; a program's subclass names its own
    Raised = BoardRaised
    ENTER_RETRY_S = 30.0  # the second try at the raw REPL (the first has mpremote's 10 s)

    def __init__(self, port: str, baudrate: int = 115200):
        self.port = port
        self.baudrate = baudrate
        self.transport = None
        self.in_repl = False
        self.link_noise = 0     # non-frame lines and damaged frames seen by the last health()

    # -- connection ------------------------------------------------------------------------

    def open(self) -> "Board":
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.transport = SerialTransport(self.port, baudrate=self.baudrate)
            # mpremote reads a USB serial port blocking (raw paste waits for the board's
            # flow-control bytes, however slow its flash). On a /dev/pts device it reads
            # instead of polling, and only a read timeout lets its overall timeouts fire
            # (a chatty device that is no REPL would hold it forever).
            if getattr(self.transport, "is_pty", False):
                self.transport.serial.timeout = 0.1
        except TransportError as exc:
            raise portcheck.open_failure(self.port, self.Error) from exc
        return self

    def close(self) -> None:
        # Never leave a reader sitting at the REPL: if the firmware was stopped, restart it.
        if self.transport is not None and self.in_repl:
            with contextlib.suppress(Exception):
                self.run_main()
        transport, self.transport = self.transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    @property
    def serial(self):
        return self.transport.serial

    # -- the link, while the firmware runs -------------------------------------------------

    def health(self, timeout: float = 2.0, query_every: float = 1.0) -> dict | None:
        """The firmware's H frame (a dict), or None if no firmware answers within `timeout`."""
        serial = self.serial
        saved = serial.timeout     # the raw REPL needs the port's own timeout back (open())
        try:
            return self._health(serial, timeout, query_every)
        finally:
            serial.timeout = saved

    def _health(self, serial, timeout, query_every):
        decoder = link.LinkDecoder()
        deadline = time.monotonic() + timeout
        next_query = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_query:
                self._write(link.encode(link.QUERY))
                next_query = now + query_every
            serial.timeout = min(0.1, max(0.01, deadline - now))
            try:
                data = serial.read(max(1, serial.in_waiting))
            except OSError as exc:
                raise self.Error("{} went away while reading ({})".format(self.port, exc),
                                 "check the USB cable and retry") from exc
            decoder.feed(data)
            self.link_noise = decoder.noise_lines + decoder.bad_frames
            while True:
                try:
                    frame = decoder.next_message()
                except RemoteProtocolError:
                    continue
                if frame is link.NEED_DATA:
                    break
                if frame.type == link.HEALTH:
                    try:
                        return link.decode_json(frame.body)
                    except RemoteProtocolError:
                        continue

    def send_frame(self, line: bytes) -> None:
        self._write(line)

    def _write(self, data: bytes) -> None:
        try:
            self.serial.write(data)
            self.serial.flush()
        except OSError as exc:
            raise self.Error("cannot write to {} ({})".format(self.port, exc),
                             "check the USB cable and retry") from exc

    # -- the raw REPL ------------------------------------------------------------------------

    def enter(self) -> None:
        """Stop the firmware and enter the raw REPL (soft reset, main.py does not run)."""
        from mpremote.transport import TransportError
        portcheck.probe(self.serial, self.port, error=self.Error)  # fast; says what is there
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                try:
                    self.transport.enter_raw_repl(soft_reset=True)
                except TransportError:
                    # a busy reader (writing flash, a loaded host behind a virtual one) can
                    # miss mpremote's 10 s: Ctrl-C again and give it longer, once
                    self.transport.enter_raw_repl(soft_reset=True,
                                                  timeout_overall=self.ENTER_RETRY_S)
        except (TransportError, OSError) as exc:
            seen = out.getvalue().strip().splitlines()[-1:] or [""]
            raise self.Error("no MicroPython REPL answers on {}{}".format(
                self.port, " (it said {})".format(seen[0][:60]) if seen[0] else ""),
                "check this is the reader's port and that the board runs MicroPython "
                "(a new board needs MicroPython flashed first: esptool/picotool)") from exc
        self.in_repl = True

    def exec(self, code: str, timeout: float = 30) -> str:
        from mpremote.transport import TransportError
        try:
            out = self.transport.exec_raw(code, timeout=timeout)
        except TransportError as exc:
            raise self.Error("the reader on {} stopped answering ({})".format(self.port, exc),
                             "unplug and replug the reader, then retry") from exc
        except OSError as exc:
            raise self.Error("{} went away ({})".format(self.port, exc),
                             "check the USB cable and retry") from exc
        stdout, stderr = out
        if stderr:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            raise self.Raised(lines[-1] if lines else "error", stderr)
        return stdout.decode("utf-8", "replace")

    def eval_json(self, code: str, timeout: float = 30):
        """Run `code`, which prints one JSON document last; return it decoded."""
        out = self.exec(code, timeout)
        lines = [line for line in out.strip().splitlines() if line.strip()]
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError) as exc:
            raise self.Error("the reader on {} gave an unexpected answer: {!r}".format(
                self.port, out[-120:]), "is this a tapcert reader running MicroPython?") from exc

    def identify(self) -> dict:
        """MicroPython's bytecode, platform, version and free flash."""
        return self.eval_json(
            "import sys, os, json\n"
            "try:\n st = os.statvfs('/'); free = st[0] * st[3]\n"
            "except Exception:\n free = -1\n"
            "print(json.dumps({'mpy': getattr(sys.implementation, '_mpy', None),"
            " 'platform': sys.platform, 'name': sys.implementation.name,"
            " 'version': '.'.join(str(v) for v in sys.implementation.version[:3]),"
            " 'free': free}))")

    def frozen_attr(self, module: str, attr: str):
        """`module.attr` of the copy of `module` frozen into the MicroPython image, or None if
        the image has no such frozen module. Files on the filesystem come before frozen
        modules on sys.path, so the import looks in '.frozen' alone (and puts sys.path and
        sys.modules back as they were)."""
        return self.eval_json(_FROZEN_SCRIPT.replace("%m", repr(module)).replace("%a", repr(attr)))

    def hashes(self, paths) -> dict:
        """{path: sha256 hex or None if absent} for every path, in one round trip."""
        paths = list(paths)
        result = {}
        for i in range(0, len(paths), 40):
            result.update(self.eval_json(_HASH_SCRIPT.replace("%r", repr(paths[i:i + 40])), 120))
        return result

    def shadowing_dirs(self, module_paths) -> list:
        """Directories that MicroPython would import instead of these modules: a directory
        /keys makes `import keys` a namespace package, ignoring /keys.mpy and /keys.py."""
        stems = sorted({p.rsplit(".", 1)[0] for p in module_paths if p.endswith((".py", ".mpy"))
                        and not p.endswith("/__init__.py") and not p.endswith("/__init__.mpy")})
        if not stems:
            return []
        return self.eval_json(_SHADOW_SCRIPT.replace("%r", repr(stems)))

    def update_leftovers(self) -> dict:
        """{"swap": intent text|None, "next": [[path, size]], "prev": [[path, size]],
        "prev_manifest": text|None}: what firmware updates left under /fw.*."""
        return self.eval_json(_UPDATE_SCRIPT)

    def makedirs(self, dirs) -> None:
        dirs = sorted(set(d for d in dirs if d and d != "/"))
        if dirs:
            self.exec(_MAKEDIRS.replace("%r", repr(dirs)))

    def write_file(self, path: str, data: bytes, progress=None) -> None:
        """Write `path` atomically: to path + '.new', then rename over the old file."""
        from mpremote.transport import TransportError
        tmp = path + ".new"
        try:
            self.transport.fs_writefile(tmp, data, chunk_size=1024, progress_callback=progress)
        except (TransportError, OSError) as exc:
            raise self.Error("writing {} to the reader failed ({})".format(path, exc),
                             "check the reader has free flash and the cable is good, then "
                             "flash again (files already written are kept)") from exc
        self.exec("import os\nos.rename({!r}, {!r})".format(tmp, path))

    def read_file(self, path: str) -> bytes | None:
        from mpremote.transport import TransportError
        try:
            return self.transport.fs_readfile(path)
        except FileNotFoundError:
            return None
        except (TransportError, OSError) as exc:
            if "ENOENT" in str(exc) or "No such file" in str(exc):
                return None
            raise self.Error("reading {} from the reader failed ({})".format(path, exc),
                             "check the cable and retry") from exc

    def remove(self, path: str) -> None:
        self.exec("import os\ntry:\n os.remove({!r})\nexcept OSError:\n pass".format(path))

    def run_main(self) -> None:
        """Leave the raw REPL and soft-reset: the board runs boot.py and main.py."""
        try:
            self.transport.exit_raw_repl()
            self.in_repl = False
            time.sleep(0.05)
            self._write(b"\x04")
        except OSError as exc:
            raise self.Error("{} went away during the reset ({})".format(self.port, exc),
                             "replug the reader and run doctor") from exc

