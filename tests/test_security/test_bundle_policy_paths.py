"""Issue 18, finding 7 (fleet bundles): the bundle policy holds on every path that stores a
bundle, not only the API's upload. `tapcert-hub fleet bundle add` (the real command line, a
subprocess on a real SQLite hub database) refuses a signed bundle writing /config.json
(`path-not-allowed`) and an older version (`rollback`); with `--allow-downgrade` it stores
the older one and the audit log says who did. FleetStore.add_bundle itself refuses a
technician's downgrade (the API's route is not the only gate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hubkit import Hub, make_config
from test_bundles import PUBLIC, bundle  # signed test bundles
from server_hub.creditbank import audit
from server_hub.errors import Forbidden
from server_hub.fleet.store import BundleRejected, FleetStore

REPO = Path(__file__).resolve().parents[2]


def hub_cli(url, *args):
    return subprocess.run([sys.executable, "-m", "server_hub.cli", "--db", url,
                           *map(str, args)], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    Hub(url, make_config(hub__db=url)).close()
    return url


def test_the_command_line_applies_the_bundle_policy(url, tmp_path):
    def add(data, *extra):
        path = tmp_path / "b.json"
        path.write_bytes(data)
        return hub_cli(url, "fleet", "bundle", "add", path, "--trust", PUBLIC.hex(), *extra)

    bad = add(bundle("0.5.0", {"/config.json": b'{"station": "S-6"}'}))
    assert bad.returncode == 1 and "path-not-allowed" in bad.stderr, bad.stderr
    assert "/config.json" in bad.stderr
    assert add(bundle("0.5.0")).returncode == 0
    older = add(bundle("0.4.9"))
    assert older.returncode == 1 and "rollback" in older.stderr, older.stderr
    assert "Traceback" not in older.stderr
    done = add(bundle("0.4.9"), "--allow-downgrade", "--actor", "alice")
    assert done.returncode == 0 and "firmware 0.4.9" in done.stdout, done.stderr
    hub = Hub(url, make_config(hub__db=url))
    try:
        [entry] = audit.entries(hub.store, action="fleet.bundle.downgrade")
        assert entry["actor"] == "alice" and entry["detail"]["newest_stored"] == "0.5.0"
        assert sorted(b["fw"] for b in FleetStore(hub.store).bundles()) == ["0.4.9", "0.5.0"]
    finally:
        hub.close()


def test_the_store_refuses_a_technicians_downgrade(url):
    hub = Hub(url, make_config(hub__db=url))
    fleet = FleetStore(hub.store)
    try:
        fleet.add_bundle(bundle("0.5.0"), [PUBLIC], "tech-1", role="technician")
        with pytest.raises(BundleRejected) as refused:
            fleet.add_bundle(bundle("0.4.0"), [PUBLIC], "tech-1", role="technician")
        assert refused.value.reason == "rollback"
        with pytest.raises(Forbidden, match="an admin's call"):
            fleet.add_bundle(bundle("0.4.0"), [PUBLIC], "tech-1", role="technician",
                             allow_downgrade=True)
        with pytest.raises(BundleRejected) as refused:
            fleet.add_bundle(bundle("0.6.0", {"/../../boot.py": b"x"}), [PUBLIC], "admin-1",
                             role="admin")
        assert refused.value.reason == "path-not-allowed"
        assert [b["fw"] for b in fleet.bundles()] == ["0.5.0"]
    finally:
        hub.close()
