"""What the MicroPython console is doing, judged from the bytes that cross it.

Theory of operation. A board turns Ctrl-C into KeyboardInterrupt in the USB
driver, whatever the interpreter is doing. The unix port does not: at a REPL
prompt it reads Ctrl-C as a character (and a SIGINT there kills the process),
while running code it only notices a SIGINT. So the pty bridge must know
whether the interpreter sits at a prompt (forward the byte) or runs code
(send SIGINT). This tracker answers that from the two byte streams, sans-I/O:

    feed_output(bytes)  what the interpreter printed
    feed_input(bytes)   what the bridge passed to it
    idle                True: waiting at a friendly (">>> ", "... ") or raw (">") prompt
    raw_mode            True: the last prompt was the raw REPL's
    executing_since     monotonic time input was sent that may have started code, or None

Raw REPL input is not echoed; only Ctrl-D runs it. Friendly REPL input is
echoed and Enter may run it. Ctrl-D at a prompt soft-resets the interpreter.
Raw-paste mode (Ctrl-E A Ctrl-A, answered "R\x01") reads input until Ctrl-D:
the interpreter counts as idle meanwhile, its flow-control bytes included.
"""

from __future__ import annotations

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_BANNER_START = b"MicroPython "
_RAW_END = b"\x04>"  # end of a raw REPL command's output: stdout \x04 stderr \x04 >
_PROMPTS = (b">>> ", b"... ")
_TAIL = 64


class REPLTracker:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A fresh interpreter: booting or running main.py, not at a prompt."""
        self.raw_mode = False
        self.idle = False
        self.executing_since: float | None = None
        self.paste = False
        self._paste_asked = False
        self._tail = b""

    def feed_output(self, data: bytes) -> None:
        if not data:
            return
        self._tail = (self._tail + data)[-_TAIL:]
        tail = self._tail
        if self._paste_asked and b"R\x01" in tail:
            self._paste_asked = False
            self.paste = True
        if self.paste:
            self.idle = True  # window header and flow-control bytes
            return
        if tail.endswith(RAW_BANNER):
            self.raw_mode, self.idle = True, True
        elif self.raw_mode and tail.endswith(_RAW_END):
            self.idle = True
        elif tail.endswith(_PROMPTS):
            self.raw_mode, self.idle = False, True
        else:
            self.idle = False
            return
        self.executing_since = None

    def feed_input(self, data: bytes, now: float) -> None:
        if not data:
            return
        if self.raw_mode and self.idle and b"\x05A\x01" in data:
            self._paste_asked = True
            self._tail = b""  # only an answer after this request counts
        runs = b"\x04" in data if self.raw_mode else (b"\r" in data or b"\x04" in data)
        if runs:
            self.paste = self._paste_asked = False
        if runs and self.idle:
            self.idle = False
            self.executing_since = now
