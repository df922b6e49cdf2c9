"""The benchmark harness cannot rot: `python -m bench.run --tiny` runs every bench module's
code paths once at toy sizes (real firmware, agent, broker and hub) and must succeed.
Speed is never asserted here (tiny sizes mean nothing, and the machine is shared).
What tiny leaves to `make bench-quick`: hub_bench's rows for other configurations of the same
runs (every signature verified inline, PostgreSQL; the functions they call run here)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from bench import run as bench_run
from bench.report import Figure, judged, spread, summary, table
from hil_tests.timescale import scaled

REPO = Path(__file__).resolve().parents[2]


def test_tiny_run_measures_every_module(tmp_path):
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--tiny", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=scaled(240))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "FAILED" not in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["mode"] == "tiny" and doc["failures"] == []
    modules = {name for _, name in bench_run.AREAS}
    got = {f["source"] for f in doc["figures"]}
    assert got == modules, f"modules without figures: {modules - got}"
    for f in doc["figures"]:
        assert f["value"] is not None and math.isfinite(f["value"]), f
        assert f["ok"] is None or f["source"] == "bench.wire_bench" or "heap" in f["name"], \
            f"tiny mode judged a speed target: {f}"
    names = " | ".join(f["name"] for f in doc["figures"] if f["source"] == "bench.system_bench")
    for part in ("tap → credited", "agent drain", "recovery", "scaling", "idle CPU", "RSS"):
        assert part in names, f"system bench lacks {part!r}: {names}"
    assert "min–max (runs)" in proc.stdout       # the table on stdout


def test_a_failing_module_fails_the_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_bench.py").write_text(
        "def figures(mode):\n    raise RuntimeError('the bench broke')\n")
    (tmp_path / "fine_bench.py").write_text(
        "from bench.report import Figure\n"
        "def figures(mode):\n    return [Figure('x', 'one', 1.0, 'u')]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bench_run, "AREAS", [("x", "fine_bench"), ("x", "broken_bench")])
    assert bench_run.main(["--tiny", "--json", str(tmp_path / "r.json")]) == 1
    printed = capsys.readouterr().out
    assert "FAILED: broken_bench: RuntimeError: the bench broke" in printed
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [f["source"] for f in doc["figures"]] == ["fine_bench"]
    assert doc["failures"] == ["broken_bench: RuntimeError: the bench broke"]


def test_report_medians_ranges_and_tiny_verdicts():
    s = summary([5.0, 1.0, 3.0, 2.0, 4.0] + [100.0])
    assert s["median"] == 3.5 and s["min"] == 1.0 and s["max"] == 100.0 and s["n"] == 6
    assert s["p99"] == 100.0
    assert spread([3.0]) == ""
    assert spread([20_000.0, 18_500.5, 21_000.0]) == "18,500–21,000 (3)"
    assert judged("tiny", False) is None and judged("quick", False) is False
    text = table([Figure("hub", "ingest", 20_000.0, "rec/s", runs=[19_000.0, 21_000.0],
                         baseline="verify 9,000/s", ratio=2.2, target="≥ 2×", ok=True)])
    assert "19,000–21,000 (2)" in text and "yes" in text and "2.2" in text
