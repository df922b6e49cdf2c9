"""Figures and their table: each figure is printed beside a bound or baseline from the same run.

A figure measured more than once carries its repeated measurements in `runs`; its value is
their median and the table shows their min–max (the machine is shared and noisy: medians and
ranges, never a single absolute time). `judged(mode, ok)` leaves targets unjudged in tiny mode,
where sizes are too small to mean anything.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Figure:
    area: str            # reader / agent / wire / hub / system
    name: str            # what was measured
    value: float | None  # the measured figure (None when it could not be measured)
    unit: str
    baseline: str = ""   # the bound or baseline measured in the same run, as text
    ratio: float | None = None
    target: str = ""     # the target from the issue, as text
    ok: bool | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)   # repeated measurements (value = their median)
    source: str = ""                           # the bench module that measured it


def judged(mode: str, ok: bool | None) -> bool | None:
    """A target's verdict, or None in tiny mode (code paths only, sizes meaningless)."""
    return None if mode == "tiny" else ok


def spread(runs: list[float]) -> str:
    """'min–max (n)' of repeated measurements, '' for fewer than two."""
    if len(runs) < 2:
        return ""
    return f"{_fmt(min(runs))}–{_fmt(max(runs))} ({len(runs)})"


def summary(samples: list[float]) -> dict:
    s = sorted(samples)
    p99 = s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]
    return {"median": statistics.median(s), "min": s[0], "max": s[-1], "p99": p99, "n": len(s)}


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    return str(v)


def table(figures: list[Figure]) -> str:
    rows = [("area", "figure", "value", "min–max (runs)", "baseline (same run)", "ratio",
             "target", "ok")]
    for f in figures:
        rows.append((f.area, f.name, f"{_fmt(f.value)} {f.unit}".strip(), spread(f.runs),
                     f.baseline, _fmt(f.ratio), f.target,
                     {True: "yes", False: "NO", None: "—"}[f.ok]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  * {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def machine() -> dict:
    """What the figures were taken on (CPU model, cores, memory, load when the run ended)."""
    import os
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name")), "")
        with open("/proc/meminfo") as fh:
            mem_kb = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu, "cpus": os.cpu_count(), "memory_gib": round(mem_kb / 2 ** 20, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def write_json(path, figures: list[Figure], mode: str, failures: list[str] = (),
               seconds: float | None = None, load: dict | None = None) -> None:
    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "mode": mode,
           "seconds": seconds, "machine": machine(), "failures": list(failures),
           "load_by_module": load or {},
           "figures": [asdict(f) for f in figures]}
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=1)


def markdown(doc: dict) -> str:
    """A results.json document as a Markdown table (for bench/RESULTS.md)."""
    rows = ["| area | figure | value | min–max (runs) | baseline (same run) | ratio | target "
            "| ok |",
            "|---|---|---|---|---|---|---|---|"]
    for d in doc["figures"]:
        f = Figure(**{k: v for k, v in d.items() if k in Figure.__dataclass_fields__})
        cells = [f.area, f.name, f"{_fmt(f.value)} {f.unit}".strip(), spread(f.runs),
                 f.baseline, _fmt(f.ratio), f.target,
                 {True: "yes", False: "**NO**", None: "—"}[f.ok]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    m = doc.get("machine", {})
    head = (f"{doc.get('mode')} run of {doc.get('when')}, {doc.get('seconds') or 0:.0f} s; "
            f"{m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('memory_gib')} GiB, "
            f"Python {m.get('python')}; load average at the end {m.get('load_average')}")
    load = doc.get("load_by_module") or {}
    if load:
        head += "; 1-minute load before/after each module: " + ", ".join(
            f"{k.rsplit('.', 1)[-1]} {v[0]}/{v[-1]}" for k, v in load.items())
    return head + "\n\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":   # python -m bench.report bench/results.json > table.md
    import sys
    with open(sys.argv[1] if len(sys.argv) > 1 else "bench/results.json") as fh:
        print(markdown(json.load(fh)))


def module_main(prog: str, doc: str, figures, modes, argv=None) -> int:
    """`python -m bench.<module> [--tiny|--quick|--full]`: one module's table."""
    import argparse
    parser = argparse.ArgumentParser(prog=prog, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    for mode in modes:
        group.add_argument(f"--{mode}", action="store_const", dest="mode", const=mode)
    args = parser.parse_args(argv)
    print(table(figures(args.mode or "quick")))
    return 0
