"""Reader figures for issue 16 on the emulated RP2040 (rp2040 target: stock MicroPython rp2
port in rp2040js, 125 MHz, flash-timing model on), in emulated time.

    python -m bench.firmware_rp2040_bench [--sign N] [--rounds R] [--heap-taps T]
        [--steady-taps S] [--keep DIR] [--repo CHECKOUT] [--budget 102400]

The chip runs bench/rp2040_probe.py as its /main.py beside the firmware (.mpy, as
`tapcert-provision flash` installs it) and measures with its own clock (time.ticks_us, the
emulator's time): sign per record, tap -> feedback and tap -> journaled while a backlog of 50
is being signed, the same for S taps 0.4-0.8 s apart with no backlog (the journal's idle
upkeep), free heap after boot and after T taps. Block erases per tap come from the
runner's flash counters, read between phases (the probe waits for the host at each SYNC).
Prints one JSON object. Wall time: 4 minutes at --sign 10 --rounds 1 --heap-taps 20 and
13-15 minutes at --sign 30 --rounds 2 --heap-taps 30 on a machine at load 10-20 (the
emulator runs at ~0.35x a real Pico when it has a core): not part of `make bench`.
TAPCERT_RP2_IMAGE picks another image; its frozen modules must match this checkout's.
--budget N runs it in the ESP32 heap budget mode (a /ballast leaving N bytes, docs/firmware.md;
no Thumb code there: ~0.2 s a signature). `--sign 5 --rounds 0 --heap-taps 1000` (the 1,000-tap
heap figure, no ballast) took 21 minutes wall at load 12 (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "rp2040_probe.py"
CONFIG = {"label": "R-BENCH", "station": "S-BENCH", "auto_keygen": True, "test_mode": True,
          "debounce_s": 0, "watchdog_ms": 0}


def _read_lines(ser, buf: bytearray, deadline: float):
    import select
    while time.monotonic() < deadline:
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            yield line.decode("utf-8", "replace").strip()
        select.select([ser.fileno()], [], [], 0.5)
        buf += ser.read(65536)
    raise TimeoutError("the probe did not finish in time")


def run(sign: int = 50, rounds: int = 2, heap_taps: int = 100, workdir: Path | None = None,
        timeout: float = 3600.0, repo: Path = REPO, steady_taps: int = 100,
        budget: int | None = None) -> dict:
    import serial

    from hil_tests.targets.flashimage import firmware_files
    from hil_tests.targets.rp2040 import RP2040Reader

    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tapcert-rp2040-bench-")) if own else Path(workdir)
    result: dict = {"load_average_start": round(os.getloadavg()[0], 2),
                    "sizes": {"sign": sign, "rounds": rounds, "heap_taps": heap_taps,
                              "steady_taps": steady_taps},
                    "budget": budget}
    reader = RP2040Reader(workdir / "chip", heap_budget=budget or 0)
    try:
        files = firmware_files(repo)
        files["/main.py"] = PROBE.read_bytes()
        files["/probe.json"] = json.dumps({"sign": sign, "rounds": rounds, "heap_taps": heap_taps,
                                           "steady_taps": steady_taps}).encode()
        reader.install_firmware(files, CONFIG)
        wall = time.monotonic()
        reader.start()
        reader.runner.command("pace", on=False)  # idle waits skip ahead: emulated time only
        ser = serial.Serial(reader.port, timeout=0)
        marks = {}
        buf = bytearray()
        for line in _read_lines(ser, buf, time.monotonic() + timeout):
            if line.startswith("R "):
                got = json.loads(line[2:])
                result[got.pop("kind")] = got
            elif line.startswith("SYNC "):
                status = reader.status()
                marks[line[5:]] = {"erases": status["flash"]["erases"],
                                   "programmed": status["flash"]["bytesProgrammed"]}
                ser.write(b"g")
            elif line == "DONE":
                break
            elif "Traceback" in line or "Error" in line:
                result.setdefault("chip_errors", []).append(line)
            elif line.startswith("MicroPython v") and "chip_errors" in result:
                break  # the probe died and the chip fell to its REPL: nothing more comes
        ser.close()
        result["wall_s"] = round(time.monotonic() - wall, 1)
        result["load_average_end"] = round(os.getloadavg()[0], 2)
        # erases between two SYNCs (the chip's clock there includes the host's wait: not used)
        phases = (("latency", "steady", result.get("latency", {}).get("taps")),
                  ("steady", "heap", steady_taps), ("heap", "end", heap_taps))
        for phase, nxt, taps in phases:
            if phase in marks and nxt in marks and taps:
                a, b = marks[phase], marks[nxt]
                got = result.setdefault(phase, {})
                got["erases_per_tap"] = round((b["erases"] - a["erases"]) / taps, 4)
                got["programmed_per_tap"] = (b["programmed"] - a["programmed"]) // taps
    finally:
        reader.stop()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    if "chip_errors" in result or "heap" not in result:
        result["console_tail"] = reader.console()[-1500:]
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.firmware_rp2040_bench")
    parser.add_argument("--sign", type=int, default=50, help="signatures timed")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of a 50-record backlog + 20 taps")
    parser.add_argument("--heap-taps", type=int, default=100,
                        help="taps between the two heap figures")
    parser.add_argument("--steady-taps", type=int, default=100,
                        help="taps 0.4-0.8 s apart, no backlog (the journal's idle upkeep)")
    parser.add_argument("--keep", type=Path,
                        help="work directory to keep (flash image, console.log)")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="checkout whose firmware to measure")
    parser.add_argument("--budget", type=int,
                        help="ESP32 heap budget mode: leave the firmware N bytes (102400)")
    args = parser.parse_args(argv)
    got = run(args.sign, args.rounds, args.heap_taps, args.keep, repo=args.repo,
              steady_taps=args.steady_taps, budget=args.budget)
    print(json.dumps(got, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
