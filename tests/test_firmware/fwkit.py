# fwkit: shared helpers for the firmware tests, on MicroPython and CPython (not a test file).
#
# Flash: a fresh filesystem per test: a RAM LittleFS (vfs.VfsLfs2) mounted at /fwN on
# MicroPython, a temp directory on CPython. make_app(): the real App on the real unix
# board, provisioned with a known seed.
import sys

from protocol import record as rec

MICROPYTHON = sys.implementation.name == "micropython"
SEED = bytes(range(32))
_count = [0]


class Flash:
    def __init__(self, block_size=512, blocks=256, dev=None):
        if MICROPYTHON:
            from board.blockdev import RAMBlockDevice
            import vfs
            self.raw = dev if dev is not None else RAMBlockDevice(block_size, blocks)
            vfs.VfsLfs2.mkfs(self.raw)
            _count[0] += 1
            self.root = "/fw{}".format(_count[0])
            self.mount(self.raw)
        else:
            import tempfile
            self.root = tempfile.mkdtemp(prefix="tapcert-fw-")

    def mount(self, dev):
        import vfs
        vfs.mount(vfs.VfsLfs2(dev), self.root)

    def unmount(self):
        if MICROPYTHON:
            import vfs
            try:
                vfs.umount(self.root)
            except OSError:
                pass  # a power-cut device refuses the final sync

    def remount(self, dev=None):
        # a reboot: the filesystem is mounted afresh from what the device holds
        if MICROPYTHON:
            self.unmount()
            self.mount(dev if dev is not None else self.raw)

    def close(self):
        self.unmount()
        if not MICROPYTHON:
            import shutil
            shutil.rmtree(self.root, ignore_errors=True)


def cfg(**overrides):
    import config
    c = dict(config.DEFAULTS)
    c.update({"events_path": None, "reserve_bytes": 2048, "segment_bytes": 2048,
              "debounce_s": 10})
    c.update(overrides)
    return c


def put_seed(root, seed=SEED):
    import keys
    import persist
    persist.make_dirs(root + "/data")
    persist.write_blob(root + keys.SEED_PATH, seed)


def make_app(flash, seed=SEED, bdev=None, **overrides):
    # bdev: the block device under flash.root, for the journal's raw tap log (none: tail
    # slots only, as on CPython)
    if seed is not None:
        put_seed(flash.root, seed)
    from app import App
    from board.unix import Board
    c = cfg(**overrides)
    return App(c, Board(c), flash.root, bdev).start()


def uid(i, n=7):
    out = bytearray(n)
    out[0] = 0x04
    out[n - 1] = i & 0xFF
    out[n - 2] = (i >> 8) & 0xFF
    return bytes(out)


def verify(public_key, record_bytes):
    """Raise unless the record's Ed25519 signature verifies with public_key."""
    payload, sig = rec.split(record_bytes)
    if MICROPYTHON:
        from protocol.ed25519_verify import verify as pure_verify
        pure_verify(public_key, payload, sig)
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, payload)


def fake_signed(payload):
    # a signed-looking record for journal-only tests (the journal does not verify)
    return bytes(payload) + b"\x5a" * 64


def payload(seq, prev_hash, reader_id=b"R" * 8, i=0, auth=b""):
    return rec.encode_payload(1, reader_id, seq, prev_hash, 1780000000 + seq, 1, seq * 10,
                              uid(i or seq), auth)


def chain_ok(records):
    # consecutive records link by prev_hash
    for a, b in zip(records, records[1:]):
        pa = rec.split(a)[0]
        if rec.decode(b).prev_hash != rec.chain_hash(pa):
            return False
    return True


class FastRAM:
    # a RAM flash with bulk copies, for the long tests (it allocates a memoryview per call,
    # so unlike board.blockdev.RAMBlockDevice it must not serve a GC finaliser)
    def __init__(self, block_size=4096, block_count=512):
        self.block_size = block_size
        self.block_count = block_count
        self.data = bytearray(block_size * block_count)
        self._mv = memoryview(self.data)
        self._erased = b"\xff" * block_size
        for block in range(block_count):
            self.ioctl(6, block)

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self._mv[start:start + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        self._mv[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.block_count
        if op == 5:
            return self.block_size
        if op == 6:
            start = arg * self.block_size
            self._mv[start:start + self.block_size] = self._erased
        return 0


class ScriptedNFC:
    # an NFC front end answering polls from a script: UIDs, None (no card), exceptions
    kind = "pn532"
    fault = None

    def __init__(self, script):
        self.script = list(script)

    def read_uid(self):
        if self.script:
            got = self.script.pop(0)
            if isinstance(got, Exception):
                raise got
            return got
        return None
