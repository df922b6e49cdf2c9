"""The dependency rules in .importlinter (run by `make test` as `lint-imports`) hold for this
checkout, and break when one of the wrong-way imports issue #17 removed is put back: each
case runs lint-imports on a copy of the programs with one bad import added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = ("protocol", "agent", "provisioning", "server_hub")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(root / ".importlinter"), "--no-cache"],
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("programs")
    for name in PROGRAMS:
        shutil.copytree(REPO / name, root / name,
                        ignore=lambda d, names: [n for n in names if not (
                            n.endswith(".py") or (Path(d) / n).is_dir()) or n == "__pycache__"])
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    return root


def test_the_checkout_keeps_every_contract():
    proc = lint(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("server_hub/fleet/rollout.py", "from agent import fleetagent", "never import each other"),
    ("server_hub/fleet/store.py", "from provisioning import fwbundle", "never import each other"),
    # the hub-machine half of provisioning/station.py, now server_hub/identity/cadir.py
    ("provisioning/station.py", "from server_hub.identity import pki", "never import each other"),
    # the offline enrolment bundle and its MAC key, now protocol/host/enrolbundle.py
    ("server_hub/identity/enrollment.py", "from provisioning.errors import ProvisionError",
     "never import each other"),
    ("server_hub/identity/bundlekeys.py", "from provisioning.files import write_all",
     "never import each other"),
    ("protocol/host/enrolbundle.py", "from provisioning.errors import ProvisionError",
     "imports nothing of ours"),
    # the maintenance link and update staging, now protocol/host/board.py and fwapply.py
    ("agent/update.py", "from provisioning import fwapply", "never import each other"),
    ("agent/fleetagent.py", "from provisioning.board import Board", "never import each other"),
    ("protocol/host/fwapply.py", "from provisioning.flash import plan", "imports nothing of ours"),
    ("protocol/record.py", "import server_hub.errors", "imports nothing of ours"),
    ("server_hub/core/clock.py", "import sqlalchemy", "imports no I/O"),
    ("server_hub/store/migrations.py", "from server_hub.dashboard import fleet",
     "imports no application room"),
    ("server_hub/ingest/pipeline.py", "from server_hub.cli import common",
     "imports its command line"),
])
def test_a_wrong_way_import_breaks_its_contract(copy, module, line, contract):
    path = copy / module
    original = path.read_text()
    try:
        path.write_text(original + "\n" + line + "  # put back by the test\n")
        proc = lint(copy)
    finally:
        path.write_text(original)
    assert proc.returncode != 0, proc.stdout
    broken = [ln for ln in proc.stdout.splitlines() if " BROKEN" in ln]
    assert any(contract in ln for ln in broken), proc.stdout
