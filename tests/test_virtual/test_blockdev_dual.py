# dual: micropython
# Block devices for LittleFS: the raw block protocol, then a real LittleFS on
# top (vfs.VfsLfs2 on micropython, littlefs-python on CPython) including a
# power-cut sweep: after a cut at any program/erase, the file holds the old
# or the new content, never anything else.
import os
import sys

from board.blockdev import FileBlockDevice, PowerCutDevice, RAMBlockDevice

_MICROPYTHON = sys.implementation.name == "micropython"
_BS = 4096


# -- a LittleFS mount with the same parameters as MicroPython's VfsLfs2 -----

class _Context:
    # littlefs-python context speaking our block protocol
    def __init__(self, dev):
        self.dev = dev

    def read(self, cfg, block, off, size):
        buf = bytearray(size)
        self.dev.readblocks(block, buf, off)
        return buf

    def prog(self, cfg, block, off, data):
        try:
            self.dev.writeblocks(block, data, off)
        except OSError:
            return -5
        return 0

    def erase(self, cfg, block):
        try:
            self.dev.ioctl(6, block)
        except OSError:
            return -5
        return 0

    def sync(self, cfg):
        self.dev.ioctl(3, 0)
        return 0


def _cpython_fs(dev, mkfs):
    import littlefs
    fs = littlefs.LittleFS(_Context(dev), mount=False, block_size=dev.ioctl(5, 0),
                           block_count=dev.ioctl(4, 0), read_size=32, prog_size=32,
                           cache_size=128, lookahead_size=32, block_cycles=100)
    if mkfs:
        fs.format()
    fs.mount()
    return fs


def mkfs(dev):
    if _MICROPYTHON:
        import vfs
        vfs.VfsLfs2.mkfs(dev)
    else:
        _cpython_fs(dev, True).unmount()


def mount(dev):
    if _MICROPYTHON:
        import vfs
        return vfs.VfsLfs2(dev)
    return _cpython_fs(dev, False)


def write_file(fs, path, data):
    f = fs.open(path, "wb") if _MICROPYTHON else fs.open(path, "wb", buffering=0)
    try:
        f.write(data)
    finally:
        _close(f)


def _close(f):
    try:
        f.close()
    except Exception:
        if not _MICROPYTHON:
            # littlefs-python: a close that failed on an I/O error has already
            # released the handle; a second close (from __del__) would abort.
            setattr(f, "__IOBase_closed", True)
        raise


def read_file(fs, path):
    f = fs.open(path, "rb")
    try:
        return f.read()
    finally:
        f.close()


def listdir(fs, path):
    if _MICROPYTHON:
        return sorted(entry[0] for entry in fs.ilistdir(path))
    return sorted(fs.listdir(path))


def _temp_path():
    return "/tmp/tapcert-blockdev-{}.img".format(
        "".join("{:02x}".format(b) for b in os.urandom(6)))


# -- the raw block protocol ------------------------------------------------

def test_ram_device_starts_erased_and_reports_geometry():
    dev = RAMBlockDevice(block_size=512, block_count=8)
    assert dev.ioctl(4, 0) == 8
    assert dev.ioctl(5, 0) == 512
    buf = bytearray(512)
    dev.readblocks(7, buf)
    assert buf == bytearray(b"\xff" * 512)


def test_ram_device_write_read_with_offset_and_erase():
    dev = RAMBlockDevice(block_size=512, block_count=8)
    dev.writeblocks(2, b"hello", 100)
    buf = bytearray(5)
    dev.readblocks(2, buf, 100)
    assert bytes(buf) == b"hello"
    before = bytearray(3)
    dev.readblocks(2, before, 97)
    assert bytes(before) == b"\xff\xff\xff"
    assert dev.ioctl(6, 2) == 0
    dev.readblocks(2, buf, 100)
    assert bytes(buf) == b"\xff" * 5


def test_ram_device_refuses_out_of_range():
    dev = RAMBlockDevice(block_size=512, block_count=4)
    for block, off in ((4, 0), (3, 510), (-1, 0)):
        try:
            dev.writeblocks(block, b"abc", off)
        except OSError:
            continue
        raise AssertionError("write past the end accepted: {} {}".format(block, off))


def test_file_device_creates_erased_image_and_persists():
    path = _temp_path()
    try:
        dev = FileBlockDevice(path, block_size=512, block_count=16)
        assert os.stat(path)[6] == 512 * 16
        buf = bytearray(512)
        dev.readblocks(15, buf)
        assert buf == bytearray(b"\xff" * 512)
        dev.writeblocks(3, b"persist", 10)
        dev.ioctl(3, 0)
        dev.close()
        again = FileBlockDevice(path, block_size=512, block_count=16)
        got = bytearray(7)
        again.readblocks(3, got, 10)
        assert bytes(got) == b"persist"
        again.ioctl(6, 3)
        again.readblocks(3, got, 10)
        assert bytes(got) == b"\xff" * 7
        again.close()
    finally:
        os.remove(path)


def test_file_device_refuses_an_image_larger_than_its_geometry():
    path = _temp_path()
    try:
        FileBlockDevice(path, block_size=512, block_count=16).close()
        try:
            FileBlockDevice(path, block_size=512, block_count=8)
        except OSError:
            return
        raise AssertionError("a 16-block image opened as 8 blocks")
    finally:
        os.remove(path)


def test_power_cut_device_tears_the_cutting_write_then_refuses():
    inner = RAMBlockDevice(block_size=512, block_count=4)
    dev = PowerCutDevice(inner, 2)
    dev.writeblocks(0, b"A" * 8)
    dev.ioctl(6, 1)
    assert dev.ops == 2 and not dev.cut
    try:
        dev.writeblocks(2, b"B" * 8)
        raise AssertionError("third operation was not cut")
    except OSError as exc:
        assert exc.args[0] == 5
    assert dev.cut
    buf = bytearray(8)
    dev.readblocks(2, buf)
    assert bytes(buf) == b"BBBB" + b"\xff" * 4
    for attempt in (lambda: dev.writeblocks(3, b"C"), lambda: dev.ioctl(6, 3)):
        try:
            attempt()
            raise AssertionError("write after the cut accepted")
        except OSError:
            pass
    dev.readblocks(0, buf)
    assert bytes(buf) == b"A" * 8


def test_power_cut_device_without_cut_point_passes_everything():
    dev = PowerCutDevice(RAMBlockDevice(block_size=512, block_count=4), None)
    for i in range(50):
        dev.writeblocks(i % 4, b"x", i)
    assert dev.ops == 50 and not dev.cut


# -- LittleFS on top -------------------------------------------------------

def test_littlefs_on_file_device_survives_remount():
    path = _temp_path()
    try:
        dev = FileBlockDevice(path, block_size=_BS, block_count=32)
        mkfs(dev)
        fs = mount(dev)
        fs.mkdir("/lib")
        write_file(fs, "/lib/a.txt", b"alpha")
        write_file(fs, "/b.bin", bytes(range(256)) * 20)
        fs.umount() if _MICROPYTHON else fs.unmount()
        dev.close()

        dev = FileBlockDevice(path, block_size=_BS, block_count=32)
        fs = mount(dev)
        assert listdir(fs, "/") == ["b.bin", "lib"]
        assert read_file(fs, "/lib/a.txt") == b"alpha"
        assert read_file(fs, "/b.bin") == bytes(range(256)) * 20
        dev.close()
    finally:
        os.remove(path)


def test_blank_device_does_not_mount():
    dev = RAMBlockDevice(block_size=_BS, block_count=16)
    try:
        mount(dev)
    except Exception:
        return
    raise AssertionError("an erased device mounted as LittleFS")


def _snapshot(dev):
    copy = RAMBlockDevice(block_size=dev.block_size, block_count=dev.block_count)
    copy.data[:] = dev.data
    return copy


def test_power_cut_sweep_leaves_old_or_new_content():
    old = b"old-" * 300
    new = b"NEW!" * 500
    base = RAMBlockDevice(block_size=_BS, block_count=16)
    mkfs(base)
    fs = mount(base)
    write_file(fs, "/data.txt", old)
    write_file(fs, "/other.txt", b"untouched")

    def update(fs):
        # the rewrite under test, then more work so that cuts also land after it
        write_file(fs, "/data.txt", new)
        write_file(fs, "/later.txt", b"later" * 200)

    # how many program/erase operations does the update take?
    probe = PowerCutDevice(_snapshot(base), None)
    update(mount(probe))
    total = probe.ops
    assert total > 4

    seen_old = seen_new = 0
    for cut_after in range(total):
        inner = _snapshot(base)
        dev = PowerCutDevice(inner, cut_after)
        try:
            update(mount(dev))
        except Exception:  # OSError(EIO) on micropython, LittleFSError on CPython
            pass
        assert dev.cut, "cut point {} of {} never reached".format(cut_after, total)
        after = mount(inner)
        content = read_file(after, "/data.txt")
        assert content in (old, new), "cut at {}: {} bytes of mixed content".format(
            cut_after, len(content))
        assert read_file(after, "/other.txt") == b"untouched"
        if content == old:
            seen_old += 1
        else:
            seen_new += 1
        # and the filesystem still takes writes after the "reboot"
        write_file(after, "/data.txt", new)
        assert read_file(after, "/data.txt") == new
    assert seen_old > 0 and seen_new > 0, (seen_old, seen_new)
