"""Helpers shared by tests/test_virtual (a uniquely named module: never import conftest)."""

from __future__ import annotations

import os
import subprocess
import sys

from hil_tests.timescale import scaled


def process_gone(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (not yet reaped) also counts as gone
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def mpremote(port: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Unchanged mpremote against the reader's port."""
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=scaled(timeout))


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, "mpremote failed ({}):\n{}\n{}".format(
        proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout
