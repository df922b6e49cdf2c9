"""Secrets are created private and never logged.

* With umask 000 (the worst an operator's shell can have), the admin token file, the fleet
  CA's directory and key, and a station's MQTT key are still created owner-only.
* A whole district (broker, hub, agent, real firmware) run with taps and a token created
  over the API: no API token, no private key and no card UID appears in any log or console
  output the parts write (design: a card UID is personal data and never written to logs)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hil_tests.district import District
from hil_tests.scenarios.helpers import setup_class

REPO = Path(__file__).resolve().parents[2]


def _umask0(*argv, cwd=REPO):
    return subprocess.run([sys.executable, "-c", "import os, runpy, sys; os.umask(0); "
                           "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], "
                           "run_name='__main__')", *argv], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.slow
def test_hub_init_token_file_and_fleet_ca_are_private_under_umask_0(tmp_path):
    config = tmp_path / "hub.toml"
    config.write_text(f'[hub]\ndb = "sqlite:///{tmp_path / "hub.db"}"\n')
    token = tmp_path / "admin.token"
    made = _umask0("server_hub.cli", "--config", str(config), "init", "--admin", "root",
                   "--token-file", str(token))
    assert made.returncode == 0, made.stderr
    assert _mode(token) == 0o600
    secret = token.read_text().strip()
    assert secret and secret not in made.stdout + made.stderr   # written, not printed
    out = tmp_path / "broker"
    made = _umask0("server_hub.cli", "--config", str(config), "broker-config", "--out", str(out),
                   "--host", "localhost")
    assert made.returncode == 0, made.stderr
    ca = tmp_path / "ca"
    assert _mode(ca) == 0o700 and _mode(ca / "ca.key") == 0o600
    keys = [p for p in list(ca.rglob("*.key")) + list(out.rglob("*.key"))]
    assert keys and all(_mode(k) & 0o007 == 0 for k in keys), {str(k): oct(_mode(k)) for k in keys}
    assert "PRIVATE KEY" not in made.stdout + made.stderr


def test_station_identity_key_is_private_under_umask_0(tmp_path):
    from server_hub.identity import pki
    pki.FleetCA.create(tmp_path / "ca")
    out = tmp_path / "S-0001"
    made = _umask0("provisioning.cli", "station", "create", "S-0001", "--out", str(out),
                   "--ca-dir", str(tmp_path / "ca"), "--no-broker-check")
    assert made.returncode == 0, made.stderr
    assert _mode(out / "station.key") == 0o600
    assert _mode(tmp_path / "ca" / "ca.key") == 0o600
    assert "PRIVATE KEY" not in made.stdout + made.stderr


@pytest.mark.slow
def test_no_token_key_or_card_uid_in_any_log(tmp_path):
    d = District(tmp_path / "d", {"S-0001": 1}, provision="fast",
                 hub_settings={"integrity": {"burst_cards": 1000}})
    try:
        d.start()
        people = setup_class(d, "S-0001", 4)
        made = d.api("POST", "/operators", json={"name": "alice", "role": "operator"})
        tokens = [d.token, made["token"]]
        for _, uid in people:
            assert d.tap("S-0001", 0, uid)["event"] in ("recorded", "warning")
        d.wait_for(lambda: sum(s.get("accepted", 0) for s in d.sync_report()) == 4, 60,
                   "the taps at the hub")
        d.hub_cli("learner", "show", people[0][0])
        d.agent_status("S-0001")
    finally:
        d.stop()
    texts = {}
    for path in (tmp_path / "d").rglob("*"):
        if path.is_file() and (path.suffix in (".log", ".err", ".txt") or "log" in path.name):
            texts[str(path)] = path.read_text("utf-8", "replace")
    assert any("hub" in name for name in texts) and any("agent" in name for name in texts)
    uids = [uid.hex() for _, uid in people]
    for name, text in texts.items():
        low = text.lower()
        for secret in tokens:
            assert secret not in text, f"an API token in {name}"
        assert "PRIVATE KEY" not in text, f"a private key in {name}"
        for uid in uids:
            spaced = " ".join(re.findall("..", uid))
            assert uid not in low and spaced not in low, f"card {uid} in {name}"
