"""The virtual reader's flash image, read and written from CPython.

The image is a plain file of BLOCK_COUNT x BLOCK_SIZE bytes holding a LittleFS
exactly as MicroPython's ``vfs.VfsLfs2`` lays it out (the same read/prog
sizes, cache, lookahead and block cycles as its defaults, and the same mtime
attribute on files), so an image written here mounts on the reader and one
the reader wrote opens here. Only touch it while the reader is stopped or
powered off: two LittleFS instances on one image corrupt it.

Firmware layout on flash (what ``mpremote fs cp`` of the same files makes):

    firmware/*.py            -> /main.py, /app.py, ...
    firmware/board/*.py      -> /board/...
    firmware/drivers/*.py    -> /drivers/...
    protocol/*.py (+ data)   -> /lib/protocol/...
    config dict              -> /config.json
"""

from __future__ import annotations

import json
import struct
import time
from contextlib import contextmanager
from pathlib import Path

import littlefs

BLOCK_SIZE = 4096
BLOCK_COUNT = 512          # 2 MiB, a common ESP32 filesystem partition
# MicroPython VfsLfs2 defaults (extmod/vfs_lfsx.c): readsize=32, progsize=32,
# lookahead=32, cache = 4 * max(read, prog), block_cycles = 100.
LFS_PARAMS = dict(read_size=32, prog_size=32, cache_size=128, lookahead_size=32,
                  block_cycles=100, name_max=255)
MTIME_ATTR = 1             # VfsLfs2: 64-bit little-endian nanoseconds since 1970

REPO = Path(__file__).resolve().parents[2]
_SKIP_DIRS = {"__pycache__", "tests", "vectors", "host"}  # protocol/host: CPython only


class FlashImageError(Exception):
    """The image cannot be read or written as the reader's flash."""


def firmware_files(repo: Path = REPO) -> dict[str, bytes]:
    """Flash path -> content for the firmware and the protocol package in `repo`."""
    files: dict[str, bytes] = {}
    firmware = repo / "firmware"
    for path in sorted(firmware.rglob("*.py")):
        rel = path.relative_to(firmware)
        if _SKIP_DIRS & set(rel.parts) or rel.as_posix() == "manifest.py":  # build-host file
            continue
        files["/" + rel.as_posix()] = path.read_bytes()
    protocol = repo / "protocol"
    for path in sorted(protocol.rglob("*")):
        rel = path.relative_to(protocol)
        if path.is_dir() or _SKIP_DIRS & set(rel.parts) or path.suffix in (".pyc", ".md"):
            continue
        files["/lib/protocol/" + rel.as_posix()] = path.read_bytes()
    return files


class FlashImage:
    def __init__(self, path, *, block_size: int = BLOCK_SIZE, block_count: int = BLOCK_COUNT,
                 offset: int = 0, lfs_params: dict | None = None):
        self.path = Path(path)
        self.block_size = block_size
        self.block_count = block_count
        self.offset = offset  # where the filesystem starts in the file (a whole-chip image)
        self.lfs_params = dict(LFS_PARAMS if lfs_params is None else lfs_params)

    @property
    def size(self) -> int:
        return self.block_size * self.block_count

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size == self.offset + self.size

    def is_blank(self) -> bool:
        if not self.path.exists():
            return True
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            head = f.read(2 * self.block_size)
        return head.strip(b"\xff") == b""

    @contextmanager
    def mounted(self, *, write: bool = False, format_if_blank: bool = False):
        """A littlefs.LittleFS on a copy of the image; written back on success if `write`."""
        if self.path.exists():
            whole = self.path.read_bytes()
            if len(whole) != self.offset + self.size:
                raise FlashImageError("{} is {} bytes, not a {}-byte flash image".format(
                    self.path, len(whole), self.offset + self.size))
            data = bytearray(whole[self.offset:])
        else:
            whole = b"\xff" * self.offset
            data = bytearray(b"\xff" * self.size)
        context = littlefs.UserContext(buffer=data)
        fs = littlefs.LittleFS(context=context, mount=False, block_size=self.block_size,
                               block_count=self.block_count, **self.lfs_params)
        if format_if_blank and data[:2 * self.block_size].strip(b"\xff") == b"":
            fs.format()
        try:
            fs.mount()
        except littlefs.LittleFSError as exc:
            raise FlashImageError("{} holds no mountable LittleFS ({}); start the reader once"
                                  " or install firmware to format it".format(self.path, exc)) from exc
        yield fs
        fs.unmount()
        if write:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_bytes(whole[:self.offset] + bytes(data))
            tmp.replace(self.path)

    def install(self, files: dict[str, bytes]) -> None:
        """Write files (flash path -> bytes), making directories; formats a blank image."""
        with self.mounted(write=True, format_if_blank=True) as fs:
            for path, content in sorted(files.items()):
                _write(fs, path, content)

    def write_file(self, path: str, data: bytes) -> None:
        self.install({path: data})

    def read_file(self, path: str) -> bytes:
        with self.mounted() as fs:
            try:
                with fs.open(_norm(path), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                raise FileNotFoundError("no {} on the flash image {}".format(path, self.path)) from None

    def listdir(self, path: str = "/") -> list[str]:
        with self.mounted() as fs:
            return sorted(fs.listdir(_norm(path)))

    def remove(self, path: str) -> None:
        with self.mounted(write=True) as fs:
            fs.remove(_norm(path))


def _norm(path: str) -> str:
    return "/" + path.strip("/")


def _write(fs, path: str, content: bytes) -> None:
    path = _norm(path)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "wb") as f:
        f.write(content)
    fs.setattr(path, MTIME_ATTR, struct.pack("<Q", time.time_ns()))


def config_bytes(config: dict) -> bytes:
    return json.dumps(config, sort_keys=True).encode()
