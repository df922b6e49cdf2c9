"""Run every benchmark and print one table (python -m bench.run --quick | --full | --tiny).

Each area module exposes `figures(mode) -> list[Figure]` where mode is "tiny" (the code
paths once, used by `make test` via tests/test_bench so the harness cannot rot), "quick"
(< 2 minutes) or "full" (`make bench`, about 15 minutes). A module that raises is reported
and makes the run exit 1; a missed target is shown as NO but does not (the machine is shared:
speed is reported, never asserted).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

from bench.report import Figure, table, write_json

AREAS = [
    ("reader", "bench.ed25519_bench"),
    ("reader", "bench.firmware_bench"),
    ("reader", "bench.firmware_chip_bench"),
    ("wire", "bench.wire_bench"),
    ("agent", "bench.agent_bench"),
    ("hub", "bench.hub_bench"),
    ("system", "bench.system_bench"),
    ("hub", "bench.dashboard_bench"),
    ("hub", "bench.fleet_bench"),
    ("hub", "bench.audit_bench"),
    ("hub", "bench.stats_bench"),
]


LOAD: dict[str, list[float]] = {}   # module -> 1-minute load average before and after it


def run(mode: str, only: list[str] | None = None) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    failures: list[str] = []
    for area, module_name in AREAS:
        if only and area not in only and module_name.rsplit(".", 1)[1] not in only:
            continue
        started = time.monotonic()
        LOAD[module_name] = [round(os.getloadavg()[0], 2)]
        print(f"bench: {module_name} ({mode}) …", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(module_name)
            got = module.figures(mode)
        except Exception as exc:  # a broken benchmark is reported, never hidden
            traceback.print_exc()
            failures.append(f"{module_name}: {type(exc).__name__}: {exc}")
            continue
        LOAD[module_name].append(round(os.getloadavg()[0], 2))
        for f in got:
            f.source = module_name
        figures.extend(got)
        print(f"bench: {module_name} done in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return figures, failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--full", action="store_const", dest="mode", const="full")
    group.add_argument("--quick", action="store_const", dest="mode", const="quick")
    group.add_argument("--tiny", action="store_const", dest="mode", const="tiny")
    parser.add_argument("--only", nargs="*", help="areas or module names to run")
    parser.add_argument("--json", default=None,
                        help="write results here (default bench/results.json for --full, "
                             "bench/results-quick.json for --quick, none for --tiny)")
    args = parser.parse_args(argv)
    mode = args.mode or "quick"
    started = time.monotonic()
    figures, failures = run(mode, args.only)
    seconds = time.monotonic() - started
    print(table(figures))
    missed = [f.name for f in figures if f.ok is False]
    print(f"\n{len(figures)} figures from {len({f.source for f in figures})} modules in "
          f"{seconds:.0f} s ({mode}); targets missed: {len(missed)}"
          + (" — " + "; ".join(missed) if missed else ""))
    default = {"full": "results.json", "quick": "results-quick.json"}.get(mode)
    out = args.json or (str(Path(__file__).with_name(default)) if default else None)
    if out:
        write_json(out, figures, mode, failures, seconds, load=LOAD)
        print(f"results written to {out}")
    for f in failures:
        print("FAILED:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
