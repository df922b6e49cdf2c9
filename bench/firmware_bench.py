"""Reader firmware figures, measured on the MicroPython unix port (python -m bench.firmware_bench).

- tap -> journaled: App.tap() until the "recorded" feedback, i.e. the payload is committed
  to the journal's tail on LittleFS (median, p99 over >= 1,000 taps);
- tap -> signed: until the Ed25519-signed record is also committed to a journal segment;
- flash bytes per record, journal and LittleFS overhead included, on a 2 MiB flash;
- heap: in use after boot and at most during a burst of 100 taps; the smallest
  `-X heapsize` that runs 200 taps + link exchange from .mpy files (full mode).

Flash is LittleFS (vfs.VfsLfs2) on the virtual reader's FileBlockDevice (a host file, every
program/erase written through) and, for the CPU-only figure, on RAM.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import Figure, judged, summary

REPO = Path(__file__).resolve().parents[1]
from hil_tests import mpy  # noqa: E402  (hil_tests/mpy.py: finds the micropython binary)

RECORD = 116
_MODES = {"tiny": {"taps": 50, "fill": 300, "bisect": False},
          "quick": {"taps": 1000, "fill": 2000, "bisect": False},
          "full": {"taps": 5000, "fill": 10000, "bisect": True}}

# Runs inside micropython: one JSON line of measurements on stdout.
_SCRIPT = r'''
import gc, json, os, sys, time
import micropython
from fwkit import Flash, FastRAM, make_app, uid, payload, fake_signed
from board.blockdev import FileBlockDevice
from journal import Journal

MODE = sys.argv[1]
TAPS = int(sys.argv[2])
FILL = int(sys.argv[3])
IMG = sys.argv[4]


def taps(dev, n):
    flash = Flash(dev=dev)
    app = make_app(flash, debounce_s=0, journal_capacity=n + 100, reserve_bytes=0)
    journaled = []
    signed = []
    us = time.ticks_us
    diff = time.ticks_diff
    for i in range(n):
        t0 = us()
        got = app.tap(uid(i & 0xFFFF, 7))
        t1 = us()
        app.sign_pending(1)
        t2 = us()
        if got["event"] not in ("recorded", "warning"):
            raise SystemExit("tap {} not recorded: {}".format(i, got))
        journaled.append(diff(t1, t0))
        signed.append(diff(t2, t0))
        if i % 200 == 199:
            app.journal.set_watermarks(app.journal.signed_upto, app.journal.signed_upto)
    app.journal.close()
    flash.close()
    return journaled, signed


def fill(n):
    dev = FastRAM(4096, 512)
    flash = Flash(dev=dev)
    j = Journal(flash.root + "/data/journal").open(b"R" * 8)
    st = os.statvfs(flash.root)
    before = (st[2] - st[3]) * st[0]
    while j.last_seq < n:
        j.append(payload(j.last_seq + 1, j.last_hash, reader_id=b"R" * 8))
        if len(j.pending) == 8 or j.last_seq == n:
            j.add_signed([fake_signed(p) for p in j.unsigned(8)])
    st = os.statvfs(flash.root)
    after = (st[2] - st[3]) * st[0]
    j.close()
    flash.close()
    return (after - before) / n


def burst():
    # heap of the firmware itself: live bytes above the harness (flash mounted, nothing else)
    try:
        os.remove(IMG)
    except OSError:
        pass
    dev = FileBlockDevice(IMG, 4096, 128)
    flash = Flash(dev=dev)
    gc.collect()
    base = gc.mem_alloc()
    app = make_app(flash, debounce_s=0, reserve_bytes=0)
    gc.collect()
    boot = gc.mem_alloc() - base
    live = boot
    raw = 0
    for i in range(100):
        app.tap(uid(i, 7))
        raw = max(raw, gc.mem_alloc() - base)
        if i % 4 == 3:
            app.sign_pending(4)
            raw = max(raw, gc.mem_alloc() - base)
        gc.collect()
        live = max(live, gc.mem_alloc() - base)
    app.journal.close()
    flash.close()
    dev.close()
    os.remove(IMG)
    return boot, live, raw


try:
    os.remove(IMG)
except OSError:
    pass
file_dev = None if MODE == "burst" else FileBlockDevice(IMG, 4096, 512)
if MODE == "burst":
    boot, live, raw = burst()
    print(json.dumps({"heap_boot": boot, "heap_live": live, "heap_raw": raw}))
    raise SystemExit(0)
fj, fs = taps(file_dev, TAPS)
file_dev.close()
os.remove(IMG)
rj, rs = taps(FastRAM(4096, 512), TAPS)
print(json.dumps({"file_journaled": fj, "file_signed": fs, "ram_journaled": rj,
                  "ram_signed": rs, "bytes_per_record": fill(FILL)}))
'''


def _run_script(mode: str, what: str = "timing") -> dict:
    cfg = _MODES[mode]
    with tempfile.TemporaryDirectory(prefix="tapcert-fwbench-") as tmp:
        script = Path(tmp) / "fwbench.py"
        script.write_text(_SCRIPT)
        proc = mpy.run([str(script), "burst" if what == "burst" else mode, str(cfg["taps"]),
                        str(cfg["fill"]), str(Path(tmp) / "flash.img")],
                       heapsize="8M" if what != "burst" else "2M", timeout=1800,
                       path_extra=(REPO / "tests" / "test_firmware",))
    if proc.returncode != 0:
        raise RuntimeError("firmware bench failed on micropython:\n" + proc.stdout[-2000:]
                           + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def smallest_heap(low_k: int = 64, high_k: int = 256) -> int | None:
    """Smallest -X heapsize (KiB, multiple of 8) running the 200-tap scenario from .mpy."""
    from test_firmware.test_small_heap import build_mpy  # noqa: WPS433
    here = REPO / "tests" / "test_firmware"
    with tempfile.TemporaryDirectory(prefix="tapcert-heap-") as tmp:
        lib = build_mpy(Path(tmp) / "lib")

        def passes(k: int) -> bool:
            proc = subprocess.run([mpy.binary(), "-X", f"heapsize={k}K",
                                   str(here / "small_heap_scenario.py")],
                                  capture_output=True, text=True, timeout=300, cwd=tmp,
                                  env={"MICROPYPATH": f"{lib}:{here}", "PATH": "/usr/bin:/bin"})
            return proc.returncode == 0 and "OK heap_used=" in proc.stdout

        if not passes(high_k):
            return None
        while high_k - low_k > 8:
            mid = (low_k + high_k) // 2 // 8 * 8
            if passes(mid):
                high_k = mid
            else:
                low_k = mid
        return high_k


def figures(mode: str = "quick") -> list[Figure]:
    got = _run_script(mode)
    got.update(_run_script(mode, "burst"))
    n = len(got["file_journaled"])
    out = []
    for key, label, target, bound in (
            ("file_journaled", "tap -> journaled (file flash)", "p99 ≤ 5 ms", 5.0),
            ("file_signed", "tap -> signed (file flash)", "", None),
            ("ram_journaled", "tap -> journaled (RAM flash)", "p99 ≤ 5 ms", 5.0),
            ("ram_signed", "tap -> signed (RAM flash)", "", None)):
        s = summary([v / 1000 for v in got[key]])
        out.append(Figure("reader", label + ", median", s["median"], "ms",
                          baseline=f"p99 {s['p99']:.2f} ms, max {s['max']:.2f} ms", target=target,
                          ok=None if bound is None else judged(mode, s["p99"] <= bound),
                          note=f"{n} taps on the unix port, LittleFS 4 KiB blocks",
                          extra={"p99": s["p99"], "median": s["median"], "n": n}))
    per = got["bytes_per_record"]
    out.append(Figure("reader", "flash bytes per record (journal + LittleFS)", per, "B",
                      baseline=f"record {RECORD} B", ratio=per / RECORD, target="≤ 1.3×",
                      ok=judged(mode, per / RECORD <= 1.3),
                      note=f"{_MODES[mode]['fill']} records, 2 MiB flash"))
    out.append(Figure("reader", "firmware heap after boot", got["heap_boot"], "B",
                      note="live bytes over the harness; unix port (64-bit objects), .py "
                           "modules, signer table in RAM (2 MiB heap)"))
    out.append(Figure("reader", "firmware heap peak, burst of 100 taps (live)", got["heap_live"],
                      "B", baseline=f"after boot {got['heap_boot']} B",
                      note="max of gc.mem_alloc() after a collection, per tap"))
    out.append(Figure("reader", "firmware heap peak, burst of 100 taps (raw)", got["heap_raw"],
                      "B", baseline=f"after boot {got['heap_boot']} B",
                      note="gc.mem_alloc() including garbage not yet collected"))
    if _MODES[mode]["bisect"]:
        k = smallest_heap()
        out.append(Figure("reader", "smallest heap for 200 taps + link (.mpy)", k, "KiB",
                          target="≤ 128 KiB", ok=k is not None and k <= 128,
                          note="signer table on flash (signtable.py); x64 unix port"))
    return out


def main(argv=None) -> int:
    import argparse
    from bench.report import table
    parser = argparse.ArgumentParser(prog="bench.firmware_bench", description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="quick", choices=sorted(_MODES))
    args = parser.parse_args(argv)
    print(table(figures(args.mode)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
