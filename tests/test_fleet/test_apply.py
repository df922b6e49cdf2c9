"""Applying a bundle at the station to a virtual reader (real firmware behind its pty, driven
through mpremote's transport exactly as a USB reader): sync gate, rollback, refusals."""

import json
import threading
import time

from protocol import updatestate as us
from agent.update import apply_bundle
from fleetkit import ack, data_files, flash_files, health, running_version
from provisioning import fwbundle

CARD = bytes.fromhex("04a1b2c3d4e5f6")


def fw_of(bundle):
    return json.loads(bundle)["manifest"]["fw"]


def snapshot(reader):
    """(files on flash, manifest) with the reader powered off, then power it on again."""
    reader.power_cut()
    try:
        files = flash_files(reader)
        manifest = running_version(files, reader) if "/firmware.json" in files else None
    finally:
        reader.power_on()
    return files, manifest


def test_an_update_waits_until_the_journal_is_hub_committed(virtual_readers, bundles, release):
    reader = virtual_readers("R-0001")
    for n in range(2):
        assert reader.tap(CARD[:-1] + bytes([n]))["event"] in ("recorded", "warning")
    before = health(reader.port)
    assert before["unsynced"] == 2
    seen, released = [], threading.Event()
    result = {}

    def probe():
        if released.is_set():
            ack(reader.port)
        return health(reader.port)["unsynced"]

    def run():
        result["job"] = apply_bundle(reader.port, bundles["new"], [release[1]], unsynced=probe,
                                     poll_s=0.2, on_state=lambda j: seen.append((j.state, j.reason)))

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)   # several polls: still waiting, nothing applied
    assert seen and all(state == us.WAITING for state, _ in seen), seen
    assert "2 records not yet committed" in seen[0][1]
    assert health(reader.port)["fw"] == before["fw"]
    released.set()
    worker.join(120)
    job = result["job"]
    assert job.state == us.DONE, job.as_dict()
    assert job.history == [us.PENDING, us.WAITING, us.APPLYING, us.VERIFYING, us.DONE]
    after = health(reader.port)
    assert after["fw"] == fw_of(bundles["new"])
    assert (after["rid"], after["seq"], after["hub_wm"]) == (before["rid"], 2, 2)
    assert reader.tap(CARD)["seq"] == 3                 # records keep flowing after the update
    files, manifest = snapshot(reader)
    assert manifest["fw"] == fw_of(bundles["new"])
    assert not any(p.startswith(("/fw.next/", "/fw.swap")) for p in files)


def test_a_bundle_that_fails_its_health_check_rolls_back(virtual_readers, bundles, release):
    reader = virtual_readers("R-0001")
    job = apply_bundle(reader.port, bundles["old"], [release[1]])
    assert job.state == us.DONE, job.as_dict()
    reader.tap(CARD)
    ack(reader.port)
    before_files, before_manifest = snapshot(reader)
    before = health(reader.port)
    job = apply_bundle(reader.port, bundles["broken"], [release[1]], health_timeout=6)
    assert job.state == us.ROLLED_BACK, job.as_dict()
    assert "no answer" in job.reason and fw_of(bundles["old"]) in job.reason
    after = health(reader.port)
    assert after["fw"] == before["fw"] == fw_of(bundles["old"])
    assert (after["rid"], after["seq"], after["hub_wm"]) == (before["rid"], 1, 1)
    files, manifest = snapshot(reader)
    assert manifest == before_manifest
    firmware = lambda f: {p: h for p, h in f.items() if not p.startswith(("/data/", "/fw.prev/"))}
    assert firmware(files) == firmware(before_files)
    keep = lambda f: {p: h for p, h in data_files(f).items() if p != "/data/boot.bin"}
    assert keep(files)["/data/seed.bin"] == keep(before_files)["/data/seed.bin"]
    assert keep(files)["/config.json"] == keep(before_files)["/config.json"]


def test_tampered_wrong_kind_and_wrong_key_bundles_are_refused_and_nothing_changes(
        virtual_readers, bundles, release, tmp_path):
    reader = virtual_readers("R-0001")
    assert health(reader.port)["rid"]            # first boot done: key and signer table made
    before_files, _ = snapshot(reader)
    tampered = json.loads(bundles["new"])
    tampered["manifest"]["fw"] = "9.9.9"
    esp_only = fwbundle.build(release[0], kinds=("esp32",))
    other = fwbundle.keygen(tmp_path / "other.key")
    cases = [(json.dumps(tampered).encode(), [release[1]], "bad-signature"),
             (esp_only, [release[1]], "wrong-board-kind"),
             (bundles["new"], [bytes.fromhex(other)], "unknown-key")]
    for data, trusted, reason in cases:
        job = apply_bundle(reader.port, data, trusted)
        assert job.state == us.FAILED and job.reason.startswith(reason), job.as_dict()
    assert health(reader.port)["fw"] == fw_of(bundles["old"])
    files, _ = snapshot(reader)
    changed = {p for p in set(files) | set(before_files) if files.get(p) != before_files.get(p)}
    assert changed <= {"/data/boot.bin"}, changed
