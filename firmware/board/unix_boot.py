# unix_boot: power-on of the virtual reader (MicroPython unix port).
#
# The pty bridge (hil_tests/targets/ptybridge.py) runs
#     micropython -i firmware/board/unix_boot.py
# from the host filesystem. Like a board's start-up code this mounts the flash
# (a file-backed LittleFS image) at /, the host directory at /host, installs
# the virtual `machine` module, runs /boot.py (if any) on every boot and
# /main.py on a power-on, hard reset or friendly-REPL soft reset, and leaves
# the interpreter at the REPL (the `-i`) where mpremote finds it.
#
# Environment:
#   TAPCERT_FLASH         flash image path (created erased and formatted if new)
#   TAPCERT_FLASH_BLOCKS  block count (default 512 x 4096 bytes = 2 MiB)
#   TAPCERT_HOST_DIR      host directory mounted at /host (events, sockets)
#   TAPCERT_RUN_MAIN      "1" power-on/hard reset: run main.py; "0" soft reset into the raw REPL
#   TAPCERT_RESET_CAUSE   power-on | hard | soft (machine.reset_cause())
#   TAPCERT_CONTROL_FD    write end of the bridge's control pipe (see unix_machine.notify)
#   TAPCERT_UNIQUE_ID     hex chip id for machine.unique_id() (default: derived from the image path)
# and, for the firmware's unix board: TAPCERT_CARD_FIELD_PORT, TAPCERT_LABEL.
import gc
import os
import sys
import vfs

import blockdev  # from firmware/board, while the host filesystem is still mounted
import unix_machine


def _log_boot(host, entry):
    if not host:
        return
    try:
        import json
        with open(host + "/boot.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError:
        pass


def _is_blank(dev):
    buf = bytearray(256)
    for block in (0, 1):
        dev.readblocks(block, buf, 0)
        for b in buf:
            if b != 0xFF:
                return False
    return True


def _save_copy(dev, path):
    # keep an unmountable image for post-mortem before it is formatted
    buf = bytearray(dev.block_size)
    with open(path, "wb") as out:
        for block in range(dev.block_count):
            dev.readblocks(block, buf, 0)
            out.write(buf)


def _mount_flash(flash, host, entry):
    blocks = int(os.getenv("TAPCERT_FLASH_BLOCKS") or "512")
    dev = blockdev.FileBlockDevice(flash, 4096, blocks)
    try:
        fs = vfs.VfsLfs2(dev)
    except OSError as exc:
        if _is_blank(dev):
            print("virtual reader: blank flash {}; formatting LittleFS".format(flash))
            entry["formatted"] = "blank"
        else:
            copy = flash + ".unmountable"
            _save_copy(dev, copy)
            print("virtual reader: flash {} does not mount (OSError {}); copy kept at {};"
                  " formatting LittleFS".format(flash, exc.args[0], copy))
            entry["formatted"] = "unmountable"
        vfs.VfsLfs2.mkfs(dev)
        fs = vfs.VfsLfs2(dev)
    host_fs = vfs.VfsPosix(host) if host else None
    vfs.umount("/")
    vfs.mount(fs, "/")
    unix_machine.flash = dev  # the block device under "/", for the raw tap log (rawlog.py)
    if host_fs is not None:
        vfs.mount(host_fs, "/host")
    os.chdir("/")


def _boot():
    flash = os.getenv("TAPCERT_FLASH")
    host = os.getenv("TAPCERT_HOST_DIR")
    control_fd = os.getenv("TAPCERT_CONTROL_FD")
    entry = {"cause": os.getenv("TAPCERT_RESET_CAUSE") or "power-on",
             "run_main": os.getenv("TAPCERT_RUN_MAIN") == "1", "formatted": False}
    if control_fd:
        unix_machine.attach_control(open("/proc/self/fd/" + control_fd, "wb"))
    if not flash:
        print("virtual reader: TAPCERT_FLASH is not set; staying on the host filesystem")
        return False
    _mount_flash(flash, host, entry)
    _log_boot("/host" if host else None, entry)
    sys.path[:] = ["", ".frozen", "/lib"]
    sys.modules["machine"] = unix_machine
    for name in ("blockdev", "unix_machine"):
        sys.modules.pop(name, None)
    return entry["run_main"]


# The boot names are deleted from the namespace before main.py runs in it, so
# these functions bind what they need as default arguments.
def _run_file(name, namespace, os=os, sys=sys, unix_machine=unix_machine):
    # exec a script from flash as a board does
    try:
        os.stat(name)
    except OSError:
        return
    try:
        with open(name) as f:
            code = compile(f.read(), name, "exec")
        exec(code, namespace)
    except SystemExit as exc:
        # a board soft-resets when a script exits this way (and runs main.py again)
        if exc.args and exc.args[0] == unix_machine.HARD_RESET_STATUS:
            unix_machine.reset()
        unix_machine.soft_reset()
    except BaseException as exc:  # KeyboardInterrupt (Ctrl-C) included: on to the REPL
        sys.print_exception(exc)
        if not isinstance(exc, KeyboardInterrupt):
            # for the virtual reader's status: the script failed (a board shows a REPL)
            try:
                with open("/host/failures.jsonl", "a") as f:
                    f.write('{{"file": "{}", "error": "{}: {}"}}\n'.format(
                        name, type(exc).__name__, str(exc).replace('"', "'")))
            except OSError:
                pass  # no host directory


def _start(namespace, boot=_boot, run_file=_run_file, os=os, sys=sys, gc=gc,
           unix_machine=unix_machine):
    run_main = boot()
    # boot.py, main.py and then the REPL get a namespace without the boot code in it
    for name in list(namespace):
        if name != "__name__":
            del namespace[name]
    unix_machine.attach_namespace(namespace)
    sys.atexit(unix_machine.finalise)  # a soft reset (Ctrl-D) closes files as on a board
    run_file("boot.py", namespace)  # every boot, as on a board (not interruptible here)
    has_main = False
    if run_main:
        try:
            has_main = os.stat("main.py")[0] & 0x8000 != 0
        except OSError:
            pass
    # tell the bridge that Ctrl-C may now become KeyboardInterrupt
    unix_machine.notify(b"M" if has_main else b"R")
    if has_main:
        gc.collect()
        run_file("main.py", namespace)


_start(globals())
