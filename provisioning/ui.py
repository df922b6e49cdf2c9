"""What the technician sees: step lines on stdout, progress with rate and time left.

The bar is drawn on stderr only when stderr is a terminal; a log or a pipe gets a progress
line every few seconds on stdout instead, among the step lines (never carriage returns). `quiet` keeps only summaries and errors.
"""

from __future__ import annotations

import sys

from provisioning.progress import Meter


def human_bytes(n: int) -> str:
    if n < 1024:
        return "{} B".format(n)
    if n < 1024 * 1024:
        return "{:.1f} kB".format(n / 1024)
    return "{:.1f} MB".format(n / 1024 / 1024)


def _as_is(text: str) -> str:
    return text


class Reporter:
    """`say` turns an English line into the technician's language (provisioning/messages.py)."""

    def __init__(self, out=None, err=None, quiet: bool = False, say=_as_is):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.say = say
        self.tty = hasattr(self.err, "isatty") and self.err.isatty()
        self.meter = Meter()
        self._bar = False

    def step(self, message: str) -> None:
        if not self.quiet:
            self.clear()
            print(self.say(message), file=self.out, flush=True)

    def summary(self, message: str) -> None:
        self.clear()
        print(self.say(message), file=self.out, flush=True)

    def warn(self, message: str) -> None:
        self.clear()
        print(self.say("warning: " + message), file=self.err, flush=True)

    def progress(self, done: int, total: int, label: str = "", unit: str = "bytes") -> None:
        """A bar with rate and time left on a terminal; elsewhere a line every few seconds."""
        if self.quiet or total <= 0:
            return
        self.meter.update(done, total)
        if not self.tty:
            if self.meter.line_due():
                # with the step lines on stdout: stderr stays one line per error
                print(self.say("  {} - {}".format(self.meter.describe(unit), label)), file=self.out,
                      flush=True)
            return
        width = 20
        filled = int(width * min(done, total) / total)
        self.err.write("\r[{}{}] {} {}".format("#" * filled, "." * (width - filled),
                                               self.say(self.meter.describe(unit)), label[:30])[:110].ljust(110))
        self.err.flush()
        self._bar = True

    def clear(self) -> None:
        if self._bar:
            self.err.write("\r" + " " * 110 + "\r")
            self.err.flush()
            self._bar = False
