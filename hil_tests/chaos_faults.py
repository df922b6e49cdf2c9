"""The chaos run's hands: a card-field client that knows whether a tap was sent, a size-limited
disk for each agent, and the private mount namespace that makes one without touching the host.

Disk. As root, the chaos run re-executes itself under `unshare -m --propagation private`
(a private mount namespace: its mounts vanish with it and the host never sees them) and
mounts a tmpfs with `size=` over each agent's directory. `fill()` writes a file until the
kernel says ENOSPC, `free()` deletes it. Without root (or without `unshare`) disk faults
are reported as not applied, never silently passed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from hil_tests.targets import cardfield

NS_ENV = "TAPCERT_CHAOS_NAMESPACE"
FILLER = "chaos-filler.bin"


# -- namespace and disk ------------------------------------------------------------------

def can_limit_disk() -> tuple[bool, str]:
    if os.environ.get(NS_ENV) == "1":
        return True, "tmpfs (size-limited) in a private mount namespace"
    if os.geteuid() != 0:
        return False, "not root: no private mount namespace for a size-limited disk"
    if not shutil.which("unshare"):
        return False, "no `unshare` binary (util-linux)"
    return False, "not yet in a private mount namespace"


def reexec_in_namespace(argv: list[str]) -> None:
    """Replace this process by itself inside a private mount namespace (root only)."""
    env = dict(os.environ, **{NS_ENV: "1"})
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise OSError(f"unshare -m failed: {probe.stderr.strip()}")
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable,
                           "-m", "hil_tests.chaos", *argv], env)


def mount_tmpfs(path: Path, size_mb: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs",
                    str(path)], check=True, capture_output=True, text=True)


def fill(path: Path) -> int:
    """Write a file in `path` until the filesystem is full; -> bytes written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with open(path / FILLER, "ab", buffering=0) as f:
        while len(chunk) >= 512:
            try:
                written += f.write(chunk)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                chunk = chunk[:len(chunk) // 4]
    return written


def free(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (path / FILLER).unlink()


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# -- taps ----------------------------------------------------------------------------

class TapResult:
    __slots__ = ("sent", "event", "t_sent", "t_done")

    def __init__(self, sent: bool, event: dict | None, t_sent: float, t_done: float):
        self.sent, self.event, self.t_sent, self.t_done = sent, event, t_sent, t_done


def tap(port: int, uid: bytes, kind: int = 1, *, timeout: float = 5.0, after_send=None,
        stop=None) -> TapResult:
    """Present a card. `sent` says whether the card line reached the reader's socket: a tap
    that was never sent did not happen (the reader was off); one that was sent and got no
    feedback may or may not be in the journal. after_send(): called right after sending
    (the mid-write power cut)."""
    line = cardfield.tap_line(uid, kind)
    deadline = time.monotonic() + timeout
    while True:
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            now = time.time()
            return TapResult(False, None, now, now)
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
        except OSError:
            time.sleep(0.05)
            continue
        break
    with sock:
        t_sent = time.time()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(line)
        except OSError:
            # the reader died between accept and send: the line may be in its socket buffer
            return TapResult(True, None, t_sent, time.time())
        if after_send is not None:
            after_send()
        try:
            event = cardfield._read_event(sock, deadline)
        except (cardfield.CardFieldError, OSError):
            event = None
        return TapResult(True, event, t_sent, time.time())
