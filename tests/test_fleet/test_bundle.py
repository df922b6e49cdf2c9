"""Signed firmware bundles: build, sign, verify, refuse with a reason (no board involved)."""

import base64
import json
import subprocess
import sys

import pytest

from provisioning import fwbundle
from provisioning.mpycompile import ARCHES

REPO_CLI = [sys.executable, "-m", "provisioning.cli"]


def mpy_value(version, sub, arch):
    return version | (sub << 8) | (ARCHES.index(arch) << 10)


def test_a_built_bundle_verifies_and_its_build_is_the_compiled_firmware(bundles, release):
    _, public = release
    doc = fwbundle.verify(bundles["old"], [public])
    m = doc["manifest"]
    assert m["board_kinds"] == ["linux"]
    assert m["min_mpy"] == "6.3"
    build = fwbundle.select(doc, "linux", mpy_value(6, 3, "x64"))
    assert build["fw"] == m["fw"]
    assert build["images"]["/main.py"].startswith(b"#")            # main.py stays source
    assert build["images"]["/app.mpy"][:2] == b"M\x06"              # the rest is .mpy v6
    assert build["images"]["/lib/protocol/ed25519_viper.mpy"][2] >> 2 == ARCHES.index("x64")
    assert not any(p.startswith("/data") or p == "/config.json" for p in build["images"])
    for path, data in build["images"].items():
        assert fwbundle.sha256(data) == m["builds"]["6.3-x64"]["files"][path]


def test_a_changed_manifest_is_a_bad_signature(bundles, release):
    _, public = release
    doc = json.loads(bundles["old"])
    doc["manifest"]["board_kinds"].append("esp32")
    with pytest.raises(fwbundle.BundleRefused) as info:
        fwbundle.verify(json.dumps(doc).encode(), [public])
    assert info.value.reason == "bad-signature"


def test_a_changed_file_is_refused_although_the_manifest_is_intact(bundles, release):
    _, public = release
    doc = json.loads(bundles["old"])
    digest = doc["manifest"]["builds"]["6.3-x64"]["files"]["/app.mpy"]
    data = bytearray(base64.b64decode(doc["blobs"][digest]))
    data[-1] ^= 1
    doc["blobs"][digest] = base64.b64encode(bytes(data)).decode()
    with pytest.raises(fwbundle.BundleRefused) as info:
        fwbundle.verify(json.dumps(doc).encode(), [public])
    assert info.value.reason == "bad-signature" and "/app.mpy" in str(info.value)


def test_another_key_and_garbage_are_refused(bundles, tmp_path):
    other = tmp_path / "other.key"
    other_public = bytes.fromhex(fwbundle.keygen(other))
    with pytest.raises(fwbundle.BundleRefused) as info:
        fwbundle.verify(bundles["old"], [other_public])
    assert info.value.reason == "unknown-key"
    for junk in (b"", b"\xff\xfe", b"[]", b'{"kind": "tapcert-firmware", "v": 2}'):
        with pytest.raises(fwbundle.BundleRefused) as info:
            fwbundle.verify(junk, [other_public])
        assert info.value.reason == "malformed"


def test_wrong_board_kind_and_incompatible_bytecode_are_refused_with_a_reason(bundles, release):
    doc = fwbundle.verify(bundles["old"], [release[1]])
    with pytest.raises(fwbundle.BundleRefused) as info:
        fwbundle.select(doc, "esp32", mpy_value(6, 3, "xtensawin"))
    assert info.value.reason == "wrong-board-kind" and "esp32" in str(info.value)
    for value in (mpy_value(6, 2, "x64"), mpy_value(5, 0, "x64"), mpy_value(6, 3, "armv7m"), 6):
        with pytest.raises(fwbundle.BundleRefused) as info:
            fwbundle.select(doc, "linux", value)
        assert info.value.reason == "incompatible-bytecode"
        assert "6.3-x64" in str(info.value)


def test_builds_for_several_kinds_share_identical_files(release):
    key, public = release
    data = fwbundle.build(key, kinds=("esp32", "rp2"))
    doc = fwbundle.verify(data, [public])
    assert sorted(doc["manifest"]["builds"]) == ["6.3-armv6m", "6.3-xtensawin"]
    esp = fwbundle.select(doc, "esp32", mpy_value(6, 3, "xtensawin"))
    rp = fwbundle.select(doc, "rp2", mpy_value(6, 3, "armv6m"))
    assert esp["images"]["/app.mpy"] == rp["images"]["/app.mpy"]      # plain bytecode
    assert esp["images"]["/lib/protocol/sha512_viper.mpy"] != rp["images"]["/lib/protocol/sha512_viper.mpy"]


def test_cli_keygen_build_verify(tmp_path):
    key = tmp_path / "rk"
    run = lambda *a: subprocess.run(REPO_CLI + [str(x) for x in a], capture_output=True, text=True,
                                    timeout=120)
    r = run("bundle", "keygen", "--out", key)
    assert r.returncode == 0, r.stderr
    assert (key.stat().st_mode & 0o777) == 0o600
    r = run("bundle", "keygen", "--out", key)
    assert r.returncode == 1 and "exists already" in r.stderr
    out = tmp_path / "b.json"
    r = run("bundle", "build", "--out", out, "--key", key, "--kind", "linux", "--mpy", "6.3")
    assert r.returncode == 0, r.stderr
    r = run("bundle", "verify", out, "--trust", str(key) + ".pub", "--board", "linux",
            "--mpy-value", mpy_value(6, 3, "x64"))
    assert r.returncode == 0 and "signature good" in r.stdout, r.stderr
    r = run("bundle", "verify", out, "--trust", str(key) + ".pub", "--board", "linux",
            "--mpy-value", mpy_value(6, 3, "x64"), "--json")
    got = json.loads(r.stdout)
    assert (got["signature"], got["fits"], sorted(got["manifest"]["builds"])) == \
        ("good", "linux", ["6.3-x64"]), r.stderr
    r = run("bundle", "verify", out, "--trust", str(key) + ".pub", "--board", "rp2",
            "--mpy-value", mpy_value(6, 3, "armv6m"))
    assert r.returncode == 1 and "for linux boards" in r.stderr
    out.write_bytes(out.read_bytes().replace(b'"linux"', b'"rp2"', 1))
    r = run("bundle", "verify", out, "--trust", str(key) + ".pub")
    assert r.returncode == 1 and "altered" in r.stderr
