# blockdev: RAM, file-backed and power-cut block devices for LittleFS.
#
# Runs unchanged on MicroPython (vfs.VfsLfs2 mounts any of them) and CPython
# (tests, the virtual reader's tools). Extended block protocol, as LittleFS
# uses it: readblocks/writeblocks take a byte offset inside the block; ioctl
# 1 init, 2 deinit, 3 sync, 4 block count, 5 block size, 6 erase (fill 0xFF).
#
# readblocks and writeblocks must not allocate: LittleFS may call them from a
# GC finaliser (a file closed by the collector) while the heap is locked.
# Hence the preallocated file and readinto, and plain index loops on MicroPython.
import sys

_IOCTL_INIT = 1
_IOCTL_DEINIT = 2
_IOCTL_SYNC = 3
_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_ERASE = 6
_EIO = 5
_ERASED = 0xFF

_MICROPYTHON = sys.implementation.name == "micropython"


def _copy(dst, dst_at, src, src_at, count):
    # dst[dst_at:dst_at+count] = src[src_at:src_at+count] without a heap slice
    if _MICROPYTHON:
        i = 0
        while i < count:
            dst[dst_at + i] = src[src_at + i]
            i += 1
    else:
        dst[dst_at:dst_at + count] = src[src_at:src_at + count]


class RAMBlockDevice:
    def __init__(self, block_size=4096, block_count=512):
        self.block_size = block_size
        self.block_count = block_count
        self.data = bytearray(block_size * block_count)
        self.erase_all()
        self.erases = 0      # counters for wear figures: block erases, programs, bytes
        self.programs = 0
        self.programmed = 0

    def erase_all(self):
        chunk = b"\xff" * self.block_size
        for block in range(self.block_count):
            start = block * self.block_size
            self.data[start:start + self.block_size] = chunk

    def _check(self, block_num, offset, length):
        if block_num < 0 or offset < 0 or (block_num * self.block_size + offset + length
                                            > self.block_size * self.block_count):
            raise OSError(_EIO)

    def readblocks(self, block_num, buf, offset=0):
        self._check(block_num, offset, len(buf))
        _copy(buf, 0, self.data, block_num * self.block_size + offset, len(buf))

    def writeblocks(self, block_num, buf, offset=0):
        self._check(block_num, offset, len(buf))
        self.programs += 1
        self.programmed += len(buf)
        _copy(self.data, block_num * self.block_size + offset, buf, 0, len(buf))

    def erase_block(self, block_num):
        self._check(block_num, 0, self.block_size)
        self.erases += 1
        data = self.data
        start = block_num * self.block_size
        for i in range(start, start + self.block_size):
            data[i] = _ERASED

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_ERASE:
            self.erase_block(arg)
            return 0
        if op in (_IOCTL_INIT, _IOCTL_DEINIT, _IOCTL_SYNC):
            return 0
        return None


class FileBlockDevice:
    # A flash image in a host file. Every write goes straight to the OS, so a
    # killed process (a power cut) leaves exactly the writes it completed.
    def __init__(self, path, block_size=4096, block_count=512):
        self.path = path
        self.block_size = block_size
        self.block_count = block_count
        size = block_size * block_count
        try:
            f = open(path, "r+b")
        except OSError:
            f = open(path, "w+b")
        f.seek(0, 2)
        have = f.tell()
        if have < size:
            # a new (or short) image: the missing part is erased flash
            chunk = b"\xff" * block_size
            while have < size:
                n = min(block_size, size - have)
                f.write(chunk if n == block_size else chunk[:n])
                have += n
            f.flush()
        elif have > size:
            f.close()
            raise OSError(_EIO)
        self._file = f
        self._erased = bytearray(b"\xff" * block_size)
        self.erases = 0      # counters for wear figures: block erases, programs, bytes
        self.programs = 0
        self.programmed = 0

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def _check(self, block_num, offset, length):
        if self._file is None:
            raise OSError(_EIO)
        if block_num < 0 or offset < 0 or (block_num * self.block_size + offset + length
                                            > self.block_size * self.block_count):
            raise OSError(_EIO)

    def readblocks(self, block_num, buf, offset=0):
        self._check(block_num, offset, len(buf))
        f = self._file
        f.seek(block_num * self.block_size + offset)
        got = f.readinto(buf)
        if got != len(buf):
            raise OSError(_EIO)

    def writeblocks(self, block_num, buf, offset=0):
        self.programs += 1
        self.programmed += len(buf)
        self._write(block_num, buf, offset)

    def _write(self, block_num, buf, offset):
        self._check(block_num, offset, len(buf))
        f = self._file
        f.seek(block_num * self.block_size + offset)
        f.write(buf)
        f.flush()

    def erase_block(self, block_num):
        self.erases += 1
        self._write(block_num, self._erased, 0)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.block_count
        if op == _IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == _IOCTL_ERASE:
            self.erase_block(arg)
            return 0
        if op == _IOCTL_SYNC or op == _IOCTL_DEINIT:
            if self._file is not None:
                self._file.flush()
            return 0
        if op == _IOCTL_INIT:
            return 0
        return None


class PowerCutDevice:
    # Wraps a device; counts program (writeblocks) and erase operations in
    # .ops. The operation that would take .ops past cut_after is torn (only
    # the first half of its bytes reach the device) and raises OSError(EIO);
    # from then on .cut is True and every write or erase raises OSError(EIO).
    # Reads keep working. cut_after=None never cuts.
    def __init__(self, inner, cut_after):
        self.inner = inner
        self.cut_after = cut_after
        self.ops = 0
        self.cut = False
        self.block_size = inner.ioctl(_IOCTL_BLOCK_SIZE, 0)
        self.block_count = inner.ioctl(_IOCTL_BLOCK_COUNT, 0)

    def _tick(self):
        # True when this operation is the one that gets torn
        if self.cut:
            raise OSError(_EIO)
        self.ops += 1
        return self.cut_after is not None and self.ops > self.cut_after

    def readblocks(self, block_num, buf, offset=0):
        self.inner.readblocks(block_num, buf, offset)

    def writeblocks(self, block_num, buf, offset=0):
        if self._tick():
            self.cut = True
            half = len(buf) // 2
            if half:
                self.inner.writeblocks(block_num, memoryview(buf)[:half], offset)
            raise OSError(_EIO)
        self.inner.writeblocks(block_num, buf, offset)

    def ioctl(self, op, arg):
        if op == _IOCTL_ERASE:
            if self._tick():
                self.cut = True
                half = self.block_size // 2
                self.inner.writeblocks(arg, b"\xff" * half, 0)
                raise OSError(_EIO)
        return self.inner.ioctl(op, arg)
