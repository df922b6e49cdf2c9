# flashmount: the rp2 port's filesystem mounted again with a larger LittleFS read cache.
#
# The stock _boot.py mounts LittleFS with the default read size (32 bytes), which gives a
# 1 KiB cache: a compaction of a 4 KiB metadata block then re-reads the block in ~3,300
# device calls (~190 ms on the emulated chip, besides the 45 ms erase). Read size 512 gives
# a 2 KiB cache and ~750 calls, for 2 KiB more heap. The read size is a mount option, not
# stored on flash: the same filesystem, mounted again before any file is opened (main.py's
# first step). If that mount fails, the stock one is restored as it was.
import sys

_READ_SIZE = 512
_PROG_SIZE = 256  # as the stock _boot.py: the RP2040's flash programs 256-byte pages


def tune(read_size=_READ_SIZE):
    # -> True if "/" was mounted again with read_size; on other ports nothing happens
    if sys.platform != "rp2":
        return False
    import rp2
    import vfs
    bdev = rp2.Flash()
    vfs.umount("/")
    try:
        vfs.mount(vfs.VfsLfs2(bdev, readsize=read_size, progsize=_PROG_SIZE), "/")
        return True
    except OSError:
        vfs.mount(vfs.VfsLfs2(bdev, progsize=_PROG_SIZE), "/")
        return False
