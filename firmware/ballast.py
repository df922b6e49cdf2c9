# ballast: a test hook that runs the firmware in a smaller board's heap.
#
# When the flash holds a file /ballast with a number N (bytes, decimal), the boot takes
# all of the free heap but N into one block held for good, before any firmware module
# loads: an RP2040 (241 KB free) or the unix port then boots the firmware with what an
# ESP32-WROOM-32 leaves it (N = 102400: docs/firmware.md "Heap budget mode"). No file,
# no ballast: readers in the field never have one. A file that is not a number is
# ignored: a test hook must not stop a boot.
import gc

hold = None  # the ballast, referenced here so it is never collected
size = 0
left = 0  # free heap right after taking it


def take(path="/ballast"):
    global hold, size, left
    try:
        with open(path) as f:
            leave = int(f.read().strip())
    except (OSError, ValueError):
        return 0
    gc.collect()
    free = gc.mem_free()
    if leave > 0 and free - leave > 64:
        size = free - leave
        hold = bytearray(size)
    gc.collect()
    left = gc.mem_free()
    return size
