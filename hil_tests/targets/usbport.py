"""usbport: the virtual reader's USB serial port - a pty whose far end the world opens.

The bridge holds the pty master; pyserial, the agent and mpremote open the
slave through a stable symlink (``<workdir>/tty``), as they would open
/dev/ttyACM0. Like a USB CDC device with no host, output is dropped while
nobody has the port open (a pty master reports POLLHUP then). ``close()`` is
the cable pulled out: open readers get EIO.
"""

from __future__ import annotations

import os
import pty
import select
import tty
from pathlib import Path


class USBPort:
    def __init__(self, link: Path) -> None:
        self.link = Path(link)
        self.fd: int | None = None
        self.pts: str | None = None
        self.pending = bytearray()  # output the reader has not yet taken

    @property
    def is_open(self) -> bool:
        return self.fd is not None

    def open(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no line editing: a serial line (stays set while unopened)
        self.pts = os.ttyname(slave)
        os.close(slave)
        os.set_blocking(master, False)
        self.fd = master
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(self.pts, tmp)
        os.replace(tmp, self.link)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.link.is_symlink():
            self.link.unlink()
        self.pts = None
        self.pending.clear()

    def connected(self) -> bool:
        """Someone has the port open."""
        if self.fd is None:
            return False
        p = select.poll()
        p.register(self.fd, select.POLLOUT)
        return not any(ev & select.POLLHUP for _, ev in p.poll(0))

    def send(self, data: bytes) -> None:
        if data and self.connected():
            self.pending += data
            self.flush()

    def flush(self) -> None:
        while self.pending and self.fd is not None:
            try:
                n = os.write(self.fd, self.pending)
            except BlockingIOError:
                return
            except OSError:  # the reader went away: USB with no host drops output
                self.pending.clear()
                return
            del self.pending[:n]

    def read(self) -> bytes:
        """What the reader wrote (b"" if nothing or the port is gone)."""
        if self.fd is None:
            return b""
        try:
            return os.read(self.fd, 4096)
        except (BlockingIOError, OSError):
            return b""
