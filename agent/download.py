"""A bundle download in chunks, resumable across restarts, hash-checked (sans-I/O but for
its one partial file).

    d = Download(workdir, offer)           # offer: {"bundle": sha256 hex, "size": n, "chunk": k}
    req = d.next_request()                 # {"bundle", "offset", "length"} or None when all in
    d.feed(offset, data)                   # a chunk arrived (out-of-order/duplicate: ignored)
    data = d.finish()                      # all bytes, sha256 checked (DownloadError otherwise)

The bytes go to WORKDIR/SHA.part as they arrive (fsync'd), so an agent restarted mid-download
asks for the rest only. A finished bundle is WORKDIR/SHA.bundle.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

MAX_CHUNK = 256 * 1024


class DownloadError(Exception):
    pass


def valid_offer(offer) -> bool:
    return (isinstance(offer, dict) and isinstance(offer.get("bundle"), str)
            and re.fullmatch(r"[0-9a-f]{64}", offer["bundle"]) is not None
            and isinstance(offer.get("size"), int) and 0 < offer["size"] <= 64 * 1024 * 1024
            and isinstance(offer.get("chunk"), int) and 0 < offer["chunk"] <= MAX_CHUNK)


class Download:
    def __init__(self, workdir, offer):
        if not valid_offer(offer):
            raise DownloadError("malformed update offer")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sha, self.size, self.chunk = offer["bundle"], offer["size"], offer["chunk"]
        self.part = self.dir / (self.sha + ".part")
        self.done_path = self.dir / (self.sha + ".bundle")
        if self.part.exists() and self.part.stat().st_size > self.size:
            self.part.unlink()

    @property
    def have(self) -> int:
        if self.done_path.exists():
            return self.size
        return self.part.stat().st_size if self.part.exists() else 0

    def next_request(self):
        have = self.have
        if have >= self.size:
            return None
        return {"bundle": self.sha, "offset": have, "length": min(self.chunk, self.size - have)}

    def feed(self, offset, data) -> bool:
        """Append a chunk if it is the next one; False if it was not (duplicate, out of order)."""
        if self.done_path.exists() or offset != self.have or not data:
            return False
        if offset + len(data) > self.size:
            raise DownloadError("the hub sent more bytes than the offer's size")
        with open(self.part, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return True

    def finish(self) -> bytes:
        if self.done_path.exists():
            data = self.done_path.read_bytes()
        else:
            data = self.part.read_bytes() if self.part.exists() else b""
        if len(data) != self.size:
            raise DownloadError("the download is incomplete ({} of {} bytes)".format(len(data), self.size))
        if hashlib.sha256(data).hexdigest() != self.sha:
            if self.part.exists():
                self.part.unlink()
            if self.done_path.exists():
                self.done_path.unlink()
            raise DownloadError("the downloaded bundle does not match its hash; it is downloaded again")
        if not self.done_path.exists():
            os.replace(self.part, self.done_path)
        return data
