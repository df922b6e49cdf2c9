"""portcheck: why a serial port is not a MicroPython reader, said fast and in words.

Two moments. Opening fails: the port is missing, not ours to open, or locked by another
program (the station agent opens its readers exclusively) - `open_failure` says which, and
names the holder when /proc lets us see it. The port opens but nothing answers like
MicroPython: `probe` sends Ctrl-C and waits at most PROBE_S for a REPL sign, then says what
the port did send (nothing, or the text, e.g. a GPS's NMEA sentences) and what to do,
instead of mpremote's 10-second wait and a Python bytes repr.

CPython only. The maintenance link's errors are defined here, the lowest module of the link
(protocol/host/board.py re-exports them); each function raises or returns the `error` class
it is given (default BoardError), so a program's Board subclass gets its own tree's class.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time


PROBE_S = 4.0
STOP_AGENT = "systemctl stop tapcert-agent"
_REPL_SIGNS = (b">>>", b"raw REPL", b"KeyboardInterrupt", b"MicroPython", b"Traceback", b"\r\n>")
_SEEN_LIMIT = 4096


class BoardError(Exception):
    """The maintenance link failed: `message` says what, `fix` what to do."""

    def __init__(self, message, fix=None):
        super().__init__(message + ("; " + fix if fix else ""))
        self.message, self.fix = message, fix


class BoardRaised(BoardError):
    """Code run on the board raised; `message` is the last traceback line."""

    def __init__(self, last_line: str, raw: bytes):
        super().__init__("the reader raised: {}".format(last_line))
        self.raw = raw


def holders(port: str) -> list[tuple[int, str]]:
    """(pid, program) of the processes we can see with `port` open (like fuser)."""
    target = os.path.realpath(port)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/{}/fd".format(pid))
            if not any(os.path.realpath("/proc/{}/fd/{}".format(pid, fd)) == target for fd in fds):
                continue
            with open("/proc/{}/cmdline".format(pid), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        name = " ".join(a.decode("utf-8", "replace") for a in argv[:3] if a)
        found.append((int(pid), name))
    return [h for h in found if h[0] != os.getpid()]


def open_failure(port: str, error=BoardError) -> BoardError:
    """The reason opening `port` failed, found by trying it the way pyserial does."""
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        return error("there is no port {}".format(port),
                          "plug the reader in and find its port with `ls /dev/ttyACM* /dev/ttyUSB*`")
    except PermissionError:
        return error("no permission to open {}".format(port),
                          "add yourself to the dialout group (`sudo adduser $USER dialout`, then "
                          "log in again) or run as root")
    except OSError as exc:
        return error("cannot open {} ({})".format(port, exc.strerror or exc),
                          "unplug and replug the reader, then retry")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return locked(port, error)
        raise
    finally:
        os.close(fd)
    return error("cannot open {}".format(port),
                      "check the reader is plugged in and the port is right "
                      "(ls /dev/ttyACM* /dev/ttyUSB*)")


def locked(port: str, error=BoardError) -> BoardError:
    who = holders(port)
    agent = [h for h in who if "tapcert-agent" in h[1] or "agent.cli" in h[1]]
    if agent:
        return error("the agent holds this port ({}, pid {})".format(port, agent[0][0]),
                          "stop it with `{}` and run the command again; start it again "
                          "afterwards (`systemctl start tapcert-agent`)".format(STOP_AGENT))
    if who:
        return error("{} holds {} (pid {})".format(who[0][1], port, who[0][0]),
                          "close that program and run the command again")
    return error("another program holds {} - on a station, the agent".format(port),
                      "stop it with `{}` and run the command again".format(STOP_AGENT))


def probe(serial, port: str, timeout: float = PROBE_S, error=BoardError) -> None:
    """Interrupt whatever runs and wait for a REPL sign; BoardError saying what was there."""
    seen = b""
    saved = serial.timeout
    try:
        serial.write(b"\r\x03\x03")
        serial.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            serial.timeout = 0.1
            seen = (seen + serial.read(max(1, serial.in_waiting)))[-_SEEN_LIMIT:]
            if any(sign in seen for sign in _REPL_SIGNS):
                return
    except OSError as exc:
        raise error("{} went away ({})".format(port, exc), "check the USB cable and retry") from exc
    finally:
        serial.timeout = saved
    raise error("no MicroPython answers on {}: {}".format(port, describe(seen, timeout)),
                     "check this is the reader's port (`ls /dev/ttyACM* /dev/ttyUSB*`) and that "
                     "it runs MicroPython (a new board needs it flashed first: picotool for an "
                     "RP2040, esptool for an ESP32)")


def describe(seen: bytes, waited: float) -> str:
    text = seen.decode("ascii", "replace")
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    lines = ["".join(c if c.isprintable() else "?" for c in line) for line in lines if line]
    if not lines:
        return "the port stayed silent for {:.0f} s after Ctrl-C".format(waited)
    guess = ""
    if lines[0].startswith(("$GP", "$GN", "$GL")):
        guess = " (NMEA sentences: a GPS receiver?)"
    elif lines[0].upper().startswith(("AT", "OK", "ERROR")):
        guess = " (a modem?)"
    return "it sent {} line{} of other text, starting {!r}{}".format(
        len(lines), "" if len(lines) == 1 else "s", lines[0][:60], guess)
