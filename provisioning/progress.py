"""progress: how far long work is (flash, bundle build), how fast it goes and when it ends.

A Meter turns (done, total) calls into a rate and a time left; the Reporter draws them as a
bar on a terminal and, anywhere else (a log, a pipe, CI), as a line every LINE_EVERY_S
seconds and one at the end, so a 9-second flash is never 9 seconds of silence.
"""

from __future__ import annotations

import time

LINE_EVERY_S = 2.0


def _amount(n: float, unit: str) -> str:
    if unit == "bytes":
        from provisioning.ui import human_bytes
        return human_bytes(int(n))
    return "{:g} {}".format(round(n, 1), unit)


def _duration(seconds: float) -> str:
    return "{:.0f} s".format(seconds) if seconds < 90 else "{:.0f} min".format(seconds / 60)


class Meter:
    """One piece of work at a time: a call with less done than before (or another total)
    starts a new one."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.total = None
        self.done = 0
        self.started = 0.0
        self._next_line = 0.0

    def update(self, done: int, total: int) -> None:
        now = self.clock()
        if total != self.total or done < self.done:
            self.total, self.started, self._next_line = total, now, now + LINE_EVERY_S
        self.done = done

    def rate(self) -> float | None:
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0.2 and self.done else None

    def eta(self) -> float | None:
        rate = self.rate()
        return None if rate is None else max(0.0, (self.total - self.done) / rate)

    def line_due(self) -> bool:
        """A periodic line is due (every LINE_EVERY_S), or the last one of a long piece."""
        now = self.clock()
        finished = self.done >= self.total and now - self.started >= LINE_EVERY_S
        if now >= self._next_line or finished:
            self._next_line = float("inf") if finished else now + LINE_EVERY_S
            return True
        return False

    def describe(self, unit: str) -> str:
        """'34.0 kB of 120.0 kB (28%), 12.3 kB/s, about 7 s left'."""
        total = max(self.total or 0, 1)
        text = "{} of {} ({:.0f}%)".format(_amount(self.done, unit), _amount(self.total or 0, unit),
                                          100.0 * min(self.done, total) / total)
        rate, eta = self.rate(), self.eta()
        if rate is not None:
            text += ", {}/s".format(_amount(rate, unit))
            text += ", done" if self.done >= total else ", about {} left".format(_duration(eta))
        return text
