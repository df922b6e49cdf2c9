"""Line pacing to one reader (SPEC.md §3, "Line credits"): a sans-I/O core, no threads.

An ESP32's console holds 260 bytes of input; lines written back to back (a blocked list in
B frames, acks, a Q) overrun it and the overflow is gone. So the agent asks the reader to
credit its lines (an empty K, the first line after the port opens) and keeps at most
`budget` bytes written and not yet credited; the rest wait here, in order. The reader's
health says whether it credits: "fc": 1 yes, 0 not asked since it booted (it was reset: ask
again, its input buffer is empty), no "fc" at all: firmware from before line credits, which
gets its lines unpaced as it always did. Until the first credit or health nothing is known
and the budget holds. A reader that stops crediting (stopped in its REPL, a line lost) holds
lines only `timeout_s`: then what was outstanding is taken as read and writing goes on.

    pacer.opened(now)            -> the port is (re)opened: the request goes first
    pacer.push(line)             -> queue a line (False: too many waiting, the reader is stuck)
    pacer.credit(n, now)         -> a K from the reader
    pacer.health(obj, now)       -> a health frame from the reader
    pacer.take(now)              -> the lines to write now, in order
    pacer.deadline()             -> when take() may free lines by the timeout (None: never)
"""

from __future__ import annotations

from collections import deque

from protocol import link, linkcredit

CREDITING = "credit"   # the reader credits every line
LEGACY = "legacy"      # firmware without line credits: lines go unpaced, as before


class LinePacer:
    def __init__(self, *, budget: int = link.MAX_LINE_TO_READER, timeout_s: float = 5.0,
                 max_waiting: int = 1000) -> None:
        self.budget = budget
        self.timeout_s = timeout_s
        self.max_waiting = max_waiting
        self.mode: str | None = None
        self._waiting: deque[bytes] = deque()
        self._outstanding: deque[int] = deque()  # lengths of lines written, not yet credited
        self._in_flight = 0
        self._since: float | None = None          # last write into an empty window, or credit
        self._asked = False                      # a request is written and not yet credited
        self.stats = {"credits": 0, "credit_timeouts": 0, "overcredits": 0}

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def opened(self, now: float) -> None:
        """A (re)opened port: nothing is outstanding, and the reader is asked first."""
        self.mode = None
        self._outstanding.clear()
        self._in_flight = 0
        self._since = None
        self._asked = False
        self._waiting.appendleft(linkcredit.encode_credit())

    def push(self, line: bytes) -> bool:
        if len(self._waiting) >= self.max_waiting:
            return False
        self._waiting.append(line)
        return True

    def credit(self, lines: int, now: float) -> None:
        self.mode = CREDITING
        self.stats["credits"] += lines
        self._asked = False
        for _ in range(lines):
            if not self._outstanding:
                self.stats["overcredits"] += 1  # e.g. lines we forgot at a timeout
                break
            self._in_flight -= self._outstanding.popleft()
        self._since = now

    def health(self, obj: dict, now: float) -> None:
        fc = obj.get("fc")
        if fc is None:
            self.mode = LEGACY  # it answered without a word about credits: old firmware
        elif fc == 1:
            self.mode = CREDITING
        elif not self._asked and not any(line.startswith(b"~K:*") for line in self._waiting):
            # crediting before, not any more: it was reset and its input is empty - ask again
            self._forget()
            self._waiting.appendleft(linkcredit.encode_credit())

    def take(self, now: float) -> list[bytes]:
        out = []
        if self.mode == LEGACY:
            out = list(self._waiting)
            self._waiting.clear()
            return out
        if (self._waiting and self._outstanding and self._since is not None
                and now - self._since >= self.timeout_s):
            self.stats["credit_timeouts"] += 1
            self._forget()
        while self._waiting:
            size = len(self._waiting[0])
            if self._outstanding and self._in_flight + size > self.budget:
                break
            line = self._waiting.popleft()
            if not self._outstanding:
                self._since = now
            self._outstanding.append(size)
            self._in_flight += size
            if line.startswith(b"~K:*"):
                self._asked = True
            out.append(line)
        return out

    def deadline(self) -> float | None:
        if self.mode == LEGACY or not self._waiting or not self._outstanding or self._since is None:
            return None
        return self._since + self.timeout_s

    def _forget(self) -> None:
        self._outstanding.clear()
        self._in_flight = 0
        self._since = None
        self._asked = False
