"""What the technician sees: step lines on stdout, a progress bar on a terminal's stderr.

The bar is drawn only when stderr is a terminal (a log or a test sees the step lines and the
summary, never carriage returns). `quiet` keeps only summaries and errors.
"""

from __future__ import annotations

import sys


def human_bytes(n: int) -> str:
    if n < 1024:
        return "{} B".format(n)
    if n < 1024 * 1024:
        return "{:.1f} kB".format(n / 1024)
    return "{:.1f} MB".format(n / 1024 / 1024)


class Reporter:
    def __init__(self, out=None, err=None, quiet: bool = False):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.tty = hasattr(self.err, "isatty") and self.err.isatty()
        self._bar = False

    def step(self, message: str) -> None:
        if not self.quiet:
            self.clear()
            print(message, file=self.out, flush=True)

    def summary(self, message: str) -> None:
        self.clear()
        print(message, file=self.out, flush=True)

    def warn(self, message: str) -> None:
        self.clear()
        print("warning: " + message, file=self.err, flush=True)

    def progress(self, done: int, total: int, label: str = "") -> None:
        if not self.tty or self.quiet or total <= 0:
            return
        width = 30
        filled = int(width * min(done, total) / total)
        self.err.write("\r[{}{}] {:3d}% {}".format("#" * filled, "." * (width - filled),
                                                   int(100 * done / total), label[:40].ljust(40)))
        self.err.flush()
        self._bar = True

    def clear(self) -> None:
        if self._bar:
            self.err.write("\r" + " " * 80 + "\r")
            self.err.flush()
            self._bar = False
