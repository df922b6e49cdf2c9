"""The small chaos run in `make test`: 2,000 taps, 12 faults of every kind the injector has,
three stations of two virtual readers, a real broker and hub — then the hub's records and
ledger must equal the oracle (python -m hil_tests.chaos; full size is `make chaos`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = 3


@pytest.mark.slow
def test_small_chaos_run_loses_and_doubles_nothing(tmp_path):
    result_file = tmp_path / "result.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil_tests.chaos", "--seed", str(SEED), "--taps", "2000",
         "--faults", "12", "--dir", str(tmp_path / "run"), "--json", str(result_file),
         "--drain-seconds", "180"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the run stops its broker, hub, agents and readers on SIGTERM
        out, err = proc.communicate(timeout=120)
    tail = out[-6000:] + err[-3000:]
    assert result_file.exists(), tail
    result = json.loads(result_file.read_text())
    counts = result["counts"]
    assert proc.returncode == 0 and result["passed"], tail
    assert result["seed"] == SEED
    assert counts["taps"] >= 2000 and counts["recorded"] >= 1500, counts
    assert result["faults_applied"] >= 10 and not result["fault_errors"], result["faults"]
    assert len(result["faults_by_kind"]) >= 6, result["faults_by_kind"]
    assert counts["lost"] == counts["duplicated"] == counts["phantom"] == 0
    assert counts["missing_credits"] == counts["duplicated_credits"] == counts["phantom_credits"] == 0
    assert counts["hub_records"] == counts["recorded"] + counts["unconfirmed_stored"]
    assert counts["expected_credits"] == counts["ledger_sessions"] > 0
    assert f"chaos: PASS (seed {SEED}" in out
