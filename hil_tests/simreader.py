"""A simulated reader: mints correctly signed, chained records on CPython (tests, the scale run,
benches; here so that tests/ and hil_tests/ do not import each other both ways).

A `SimReader` is what a real reader would produce, signed with `cryptography`'s Ed25519
(byte-identical to the reader's pure signer). Use it wherever a test needs valid records
without running the firmware.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol import record as rec


class SimReader:
    def __init__(self, seed: bytes | None = None, *, boot: int = 1, start_time: int = 1_780_000_000):
        self.seed = seed or os.urandom(32)
        self._key = Ed25519PrivateKey.from_private_bytes(self.seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.reader_id = rec.reader_id_from_public_key(self.public_key)
        self.seq = 0
        self.prev_hash = rec.GENESIS_HASH
        self.boot = boot
        self.time = start_time
        self.uptime_ms = 0

    def sign(self, payload: bytes) -> bytes:
        return self._key.sign(payload)

    def tap(self, uid: bytes, kind: int = rec.KIND_TAP, *, at: int | None = None,
            advance: int = 1) -> bytes:
        """Mint the next record; returns its encoded (signed) bytes."""
        self.seq += 1
        self.time = at if at is not None else self.time + advance
        self.uptime_ms += advance * 1000
        payload = rec.encode_payload(kind, self.reader_id, self.seq, self.prev_hash, self.time,
                                     self.boot, self.uptime_ms, uid)
        self.prev_hash = rec.chain_hash(payload)
        return payload + self.sign(payload)

    def taps(self, n: int, uid_of=lambda i: (0x04000000 + i).to_bytes(4, "big"), **kw) -> list[bytes]:
        return [self.tap(uid_of(i), **kw) for i in range(n)]
