"""Reader signing cost: the comb signer vs a textbook one, both inside micropython, and
the hub's verify rate with `cryptography` on one core.

    python -m bench.ed25519_bench [-n 50] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from hil_tests import mpy  # noqa: E402

from bench.report import Figure, judged  # noqa: E402

SIGN_TARGET_MS = 1.5
SPEEDUP_TARGET = 4.0

# Runs inside micropython: N signatures of 64-byte messages with each signer, one
# process, printed as one JSON line (times in microseconds).
_SCRIPT = """
import gc, json, time
gc.collect()
free0 = gc.mem_free()
from protocol import ed25519
import ed25519_naive
seed = bytes(range(32))
fast = ed25519.Signer(seed)
gc.collect()
resident = free0 - gc.mem_free()
naive = ed25519_naive.Signer(seed)
assert naive.public_key == fast.public_key
messages = [bytes([i & 255]) * 64 for i in range({n})]
def measure(signer):
    signer.sign(messages[0])
    gc.collect()
    out = []
    for m in messages:
        t0 = time.ticks_us()
        signer.sign(m)
        out.append(time.ticks_diff(time.ticks_us(), t0))
    return out
same = fast.sign(messages[-1]) == naive.sign(messages[-1])
print(json.dumps({{"fast": measure(fast), "naive": measure(naive), "same": same,
                  "resident_bytes": resident}}))
"""


def _run_in_micropython(n: int) -> dict:
    proc = mpy.run(["-c", _SCRIPT.format(n=n)], path_extra=(REPO / "bench",), timeout=600)
    if proc.returncode != 0:
        raise RuntimeError("micropython signing run failed:\n" + proc.stdout + proc.stderr)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["same"]:
        raise RuntimeError("comb and naive signers disagree: the benchmark would be meaningless")
    return result


def micropython_sign_times(n: int = 50) -> dict:
    """Per-signature times in ms for a 64-byte message: {"fast": [...], "naive": [...]},
    both signers measured in the same micropython process; plus "resident_bytes"
    (heap taken by the signer module and its table)."""
    result = _run_in_micropython(n)
    return {"fast": [t / 1000 for t in result["fast"]],
            "naive": [t / 1000 for t in result["naive"]],
            "resident_bytes": result["resident_bytes"]}


_SMALL_HEAP_SCRIPT = """
import gc
from protocol import ed25519
signer = ed25519.Signer(bytes(32))
for i in range(20):
    signer.sign(bytes([i]) * 64)
gc.collect()
print(gc.mem_free())
"""


def small_heap_free(heapsize: str = "128K") -> int | None:
    """Bytes still free after loading the signer and signing 20 records inside
    `micropython -X heapsize=HEAPSIZE`; None if it ran out of memory."""
    proc = mpy.run(["-c", _SMALL_HEAP_SCRIPT], heapsize=heapsize, timeout=120)
    if proc.returncode != 0:
        if "MemoryError" in proc.stdout + proc.stderr:
            return None
        raise RuntimeError("micropython small-heap run failed:\n" + proc.stdout + proc.stderr)
    return int(proc.stdout.split()[-1])


def cryptography_verify_rate(seconds: float = 1.0) -> float:
    """Ed25519 verifications per second with `cryptography`, pinned to one CPU."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = key.public_key()
    messages = [bytes([i]) * 64 for i in range(64)]
    pairs = [(key.sign(m), m) for m in messages]
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    try:
        count = 0
        started = time.perf_counter()
        deadline = started + seconds
        verify = public.verify
        while True:
            for sig, m in pairs:
                verify(sig, m)
            count += len(pairs)
            now = time.perf_counter()
            if now >= deadline:
                return count / (now - started)
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "n": len(s)}


def figures(mode: str) -> list[Figure]:
    n, seconds = {"tiny": (3, 0.05), "quick": (50, 1.0)}.get(mode, (200, 3.0))
    times = micropython_sign_times(n)
    fast, naive = _stats(times["fast"]), _stats(times["naive"])
    ratio = naive["median"] / fast["median"]
    rate = cryptography_verify_rate(seconds)
    free = small_heap_free("128K")
    return [
        Figure("reader", "Ed25519 sign, 64-byte message (micropython unix, comb)", fast["median"],
               "ms", baseline="naive double-and-add {:.2f} ms".format(naive["median"]),
               ratio=ratio, target="≤ {} ms, ≥ {:g}× naive".format(SIGN_TARGET_MS, SPEEDUP_TARGET),
               ok=judged(mode, fast["median"] <= SIGN_TARGET_MS and ratio >= SPEEDUP_TARGET),
               note="median of {n}, min {min:.3f} max {max:.3f} ms".format(**fast),
               extra={"fast": fast, "naive": naive}),
        Figure("reader", "Ed25519 signer heap (code + 48 KiB table)",
               times["resident_bytes"] / 1024, "KiB",
               baseline="free after 20 signs in 128K heap: " + (
                   "out of memory" if free is None else "{:.0f} KiB".format(free / 1024)),
               target="signs in -X heapsize=128K", ok=free is not None,
               note="from .py source; a frozen table module keeps the 48 KiB in flash"),
        Figure("hub", "Ed25519 verify rate (cryptography, 1 core)", rate, "/s"),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ed25519_bench", description=__doc__)
    parser.add_argument("-n", type=int, default=50, help="signatures per signer (default 50)")
    parser.add_argument("--seconds", type=float, default=1.0, help="verify timing window")
    args = parser.parse_args(argv)
    times = micropython_sign_times(args.n)
    fast, naive = _stats(times["fast"]), _stats(times["naive"])
    rate = cryptography_verify_rate(args.seconds)
    print("Ed25519 sign, 64-byte message, micropython unix port ({} each)".format(args.n))
    print("  {:<24} {:>10} {:>18}".format("signer", "median ms", "min–max ms"))
    for name, s in (("comb + viper SHA-512", fast), ("naive double-and-add", naive)):
        print("  {:<24} {:>10.3f} {:>8.3f} – {:<8.3f}".format(name, s["median"], s["min"], s["max"]))
    print("  ratio naive/comb: {:.1f}×   signer heap: {:.1f} KiB".format(
        naive["median"] / fast["median"], times["resident_bytes"] / 1024))
    free = small_heap_free("128K")
    print("  -X heapsize=128K: " + ("out of memory" if free is None else
                                   "signs, {:.0f} KiB left free".format(free / 1024)))
    print("cryptography verify, 1 core: {:,.0f} /s".format(rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
