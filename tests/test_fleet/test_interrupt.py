"""Kill the applying process at every step of an update (bounded loop over the named
checkpoints of protocol/host/fwapply.py), then cut the reader's power: it must boot one
complete version — the old one before the intent is on flash, the new one after — with its
key, config and journal intact, and the same update run again must finish."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from agent.update import apply_bundle
from fleetkit import ack, flash_files, health, running_version
from hil_tests.targets.virtual import VirtualReader
from protocol.host.fwapply import KILL_ENV

CARD = bytes.fromhex("04a1b2c3d4e5f6")
BEFORE_INTENT = ["recover", "clean", "stage", "backup"]
AFTER_INTENT = ["intent", "swap:0", "swap:1", "swap:2", "swap:3", "swapped", "reset"]


def fw_of(bundle):
    return json.loads(bundle)["manifest"]["fw"]


@pytest.fixture(scope="module")
def template(tmp_path_factory, bundles, release):
    """Flash image of a reader on the old bundle, with one record the hub committed."""
    base = tmp_path_factory.mktemp("template")
    reader = VirtualReader(base / "r", label="R-0001")
    reader.install_firmware(config={"label": "R-0001", "station": "S-0001", "auto_keygen": True,
                                    "debounce_s": 0})
    with reader:
        job = apply_bundle(reader.port, bundles["old"], [release[1]])
        assert job.state == "done", job.as_dict()
        reader.tap(CARD)
        state = ack(reader.port)
    return reader.image.path, state


def run_apply(port, bundle_path, public, kill_at=None, timeout=120):
    env = dict(os.environ)
    env.pop(KILL_ENV, None)
    if kill_at:
        env[KILL_ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "agent.update", "apply", "--port", port,
                           "--bundle", str(bundle_path), "--trust", public.hex(),
                           "--health-timeout", "6"],
                          capture_output=True, text=True, timeout=timeout, env=env)


def check_one_version(reader, state):
    """Power-cycle, then: one complete version on flash and on the link; data intact."""
    reader.power_cut()
    reader.power_on()
    answer = health(reader.port)
    assert answer is not None, reader.console()[-2000:]
    assert (answer["rid"], answer["seq"], answer["hub_wm"]) == (state["rid"], state["seq"], state["hub_wm"])
    reader.power_cut()
    try:
        files = flash_files(reader)
        manifest = running_version(files, reader)
        assert "/fw.swap" not in files
    finally:
        reader.power_on()
    assert manifest["fw"] == answer["fw"]
    return answer["fw"]


@pytest.mark.parametrize("step", BEFORE_INTENT + AFTER_INTENT)
def test_killed_at_every_step_the_reader_boots_one_complete_version(step, template, bundles,
                                                                    release, tmp_path):
    image, state = template
    bundle_path = tmp_path / "new.json"
    bundle_path.write_bytes(bundles["new"])
    (tmp_path / "r").mkdir()
    shutil.copy(image, tmp_path / "r" / "flash.img")
    with VirtualReader(tmp_path / "r", label="R-0001") as reader:
        killed = run_apply(reader.port, bundle_path, release[1], kill_at=step)
        assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
        fw = check_one_version(reader, state)
        expected = bundles["old"] if step in BEFORE_INTENT else bundles["new"]
        assert fw == fw_of(expected)
        again = run_apply(reader.port, bundle_path, release[1])
        assert again.returncode == 0, (again.stdout, again.stderr)
        assert json.loads(again.stdout.strip().splitlines()[-1])["state"] == "done"
        assert check_one_version(reader, state) == fw_of(bundles["new"])
        assert reader.tap(CARD)["seq"] == state["seq"] + 1


@pytest.mark.parametrize("step", ["rollback-intent", "rolled-back"])
def test_killed_while_rolling_back_the_reader_boots_the_old_version(step, template, bundles,
                                                                   release, tmp_path):
    image, state = template
    bundle_path = tmp_path / "broken.json"
    bundle_path.write_bytes(bundles["broken"])
    (tmp_path / "r").mkdir()
    shutil.copy(image, tmp_path / "r" / "flash.img")
    with VirtualReader(tmp_path / "r", label="R-0001") as reader:
        killed = run_apply(reader.port, bundle_path, release[1], kill_at=step)
        assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
        assert check_one_version(reader, state) == fw_of(bundles["old"])
