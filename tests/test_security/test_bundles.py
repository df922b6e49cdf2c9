"""Issue 18, finding 7 (fleet bundles) at the hub's upload: a bundle signed by the fleet's
release key but writing outside the firmware's code paths (/config.json, /data/seed.bin,
/../../boot.py) is refused with reason `path-not-allowed`; one older than the newest stored
bundle with `rollback`, unless an admin uploads it with `?allow_downgrade=true` (a technician
may not). Against the real FastAPI app over SQLite; the rules themselves run on both
interpreters in test_bundle_policy_dual.py."""

from __future__ import annotations


import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient


from hubkit import Hub, make_config
from provisioning import fwbundle
from server_hub.api.app import HubContext, create_app

KEY = Ed25519PrivateKey.from_private_bytes(b"\x42" * 32)
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)


def bundle(fw: str, extra: dict | None = None) -> bytes:
    images = {"/app.mpy": b"M\x06\x00app", "/lib/protocol/record.mpy": b"M\x06\x00rec"}
    images.update(extra or {})
    return fwbundle.assemble(fw, {"6.3-x64": {"mpy": 6, "sub": 3, "arch": "x64",
                                              "kinds": ["linux"], "images": images}}, KEY)


@pytest.fixture
def api(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config(hub__db=url))
    hub.config.fleet.release_keys = [PUBLIC.hex()]
    client = TestClient(create_app(HubContext(hub.store, hub.registry, hub.pipeline,
                                              hub.config)))
    client.tokens = {r: hub.registry.create_operator(f"{r}-1", r)[1]
                     for r in ("admin", "technician")}
    yield client
    client.close()
    hub.close()


def upload(api, data, role="technician", query=""):
    return api.post("/api/v1/fleet/bundles" + query, content=data,
                    headers={"Authorization": f"Bearer {api.tokens[role]}"})


@pytest.mark.parametrize("path", ["/config.json", "/data/seed.bin", "/../../boot.py",
                                  "/data/journal/tail/x.mpy", "/host/events.jsonl"])
def test_a_signed_bundle_writing_outside_code_paths_is_refused(api, path):
    got = upload(api, bundle("0.5.0", {path: b"{}"}))
    assert got.status_code == 422 and got.json()["reason"] == "path-not-allowed", got.text
    assert path in got.json()["detail"]
    assert upload(api, bundle("0.5.0")).status_code == 201        # the same without it


def test_an_older_version_is_a_rollback_unless_an_admin_says_so(api):
    assert upload(api, bundle("0.5.0")).status_code == 201
    assert upload(api, bundle("0.5.0")).status_code == 201        # the same again: stored one
    older = bundle("0.4.9")
    got = upload(api, older)
    assert got.status_code == 422 and got.json()["reason"] == "rollback", got.text
    assert upload(api, older, query="?allow_downgrade=true").status_code == 403
    assert upload(api, older, role="admin").status_code == 422
    done = upload(api, older, role="admin", query="?allow_downgrade=true")
    assert done.status_code == 201 and done.json()["fw"] == "0.4.9"
    assert upload(api, bundle("0.10.0")).status_code == 201       # numbers, not text order


# --- on the Pi: the agent applies nothing outside code paths, and no rollback -----------------

def _signed_variant(release_key_path, real: bytes, fw: str, extra: dict | None = None) -> bytes:
    """The checkout's real firmware build re-signed as version `fw`, plus `extra` files."""
    import base64
    import json
    doc = json.loads(real)
    builds = {}
    for name, b in doc["manifest"]["builds"].items():
        images = {p: base64.b64decode(doc["blobs"][h]) for p, h in b["files"].items()}
        images.update(extra or {})
        builds[name] = {"mpy": b["mpy"], "sub": b["sub"], "arch": b["arch"],
                        "kinds": b["kinds"], "images": images}
    return fwbundle.assemble(fw, builds, fwbundle.load_key(release_key_path))


def test_the_agent_refuses_bad_paths_and_rollbacks_before_touching_the_reader(tmp_path):
    from agent.update import apply_bundle
    from hil_tests.targets.virtual import VirtualReader
    from provisioning.board import Board

    key = tmp_path / "release.key"
    public = bytes.fromhex(fwbundle.keygen(key))
    real = fwbundle.build(key, kinds=("linux",))
    current = json_fw(real)
    reader = VirtualReader(tmp_path / "r", label="R-0001")
    reader.install_firmware(config={"label": "R-0001", "station": "S-0001",
                                    "auto_keygen": True, "debounce_s": 0})
    reader.start()
    try:
        job = apply_bundle(reader.port, real, [public])      # the reader now has a manifest
        assert job.state == "done", job.as_dict()
        for data, reason in (
                (_signed_variant(key, real, "9.0.0", {"/config.json": b'{"station": "S-6"}'}),
                 "path-not-allowed"),
                (_signed_variant(key, real, "9.0.0", {"/data/seed.bin": b"\x00" * 32}),
                 "path-not-allowed"),
                (_signed_variant(key, real, "0.0.1"), "rollback")):
            job = apply_bundle(reader.port, data, [public])
            assert job.state == "failed" and job.reason.startswith(reason), job.as_dict()
            assert "previous version" in job.reason
        with Board(reader.port) as board:
            assert board.health(timeout=15)["fw"] == current     # still the version it had
    finally:
        reader.stop()


def json_fw(data: bytes) -> str:
    import json
    return json.loads(data)["manifest"]["fw"]
