"""The station agent's .deb (ops/deb): built from the wheel with dpkg-deb, installed with dpkg
into a throwaway root (`dpkg --root`, maintainer scripts chrootless: they honour DPKG_ROOT),
its agent run from the venv the postinst made, installed again, then purged — keeping the
queue."""

import os
import subprocess
from pathlib import Path

import pytest

from ops.deb import build as debbuild  # ops/deb/build.py (ops/: a namespace package)
from wheelcheck import REPO, WheelCheck, example_agent_config
from wheelhouse import wheelhouse


def _throwaway_root(root: Path) -> Path:
    """An empty dpkg database and the few /etc files useradd needs (root, group dialout)."""
    for sub in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"):
        (root / sub).mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\n")
    for name, text in (("shadow", "root:*:19000:0:99999:7:::\n"), ("gshadow", "root:*::\ndialout:*::\n")):
        (root / "etc" / name).write_text(text)
        (root / "etc" / name).chmod(0o640)
    return root


def _dpkg(root: Path, *args, env=None) -> str:
    proc = subprocess.run(["dpkg", "--root", str(root), "--force-script-chrootless",
                           "--force-depends", "--log=/dev/null", *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_agent_deb_installs_runs_and_removes_keeping_the_queue(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("dpkg --root with maintainer scripts needs root (useradd): run as root, as CI does")
    check = WheelCheck(tmp_path / "wheel")
    (tmp_path / "wheel").mkdir()
    check.build()
    deb = debbuild.build(check.wheel, tmp_path / "dist")
    assert deb.name == "tapcert-agent_0.1.0_all.deb"
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True,
                             text=True, check=True).stdout
    for path in ("./lib/systemd/system/tapcert-agent.service", "./usr/share/tapcert-agent/wheels/"
                 + check.wheel.name, "./usr/share/doc/tapcert-agent/copyright"):
        assert path in listing

    root = _throwaway_root(tmp_path / "root")
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse(tmp_path / "wh")))
    out = _dpkg(root, "-i", str(deb), env=env)
    assert "Setting up tapcert-agent (0.1.0)" in out
    assert any(line.startswith("tapcert:") for line in (root / "etc/passwd").read_text().splitlines())
    assert "dialout:x:20:tapcert" in (root / "etc/group").read_text()
    assert (root / "lib/systemd/system/tapcert-agent.service").read_text() == \
        (REPO / "ops/systemd/tapcert-agent.service").read_text()
    venv = root / "opt/tapcert/venv"
    config = example_agent_config(tmp_path / "etc")
    shown = subprocess.run([str(venv / "bin/tapcert-agent"), "show-config", "--config",
                            str(config)], capture_output=True, text=True, cwd=tmp_path,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert shown.returncode == 0 and 'station = "S-0001"' in shown.stdout, shown.stderr
    # the [agent] extra alone carries what `tapcert-agent run` imports (fleet updates included)
    probe = subprocess.run([str(venv / "bin/python"), "-c", "import agent.service, agent.update, "
                            "paho.mqtt.client, serial, mpremote.transport_serial"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    # the unit's Documentation= names files the venv now has
    assert (venv / "share/doc/tapcert/agent.md").is_file()

    # installing it again (an upgrade, or a repair) keeps the venv and replaces our package
    again = _dpkg(root, "-i", str(deb), env=env)
    assert "Setting up tapcert-agent (0.1.0)" in again
    assert subprocess.run([str(venv / "bin/tapcert-agent"), "--version"], capture_output=True,
                          text=True).stdout.strip() == "tapcert-agent 0.1.0"

    queue = root / "var/lib/tapcert-agent"
    queue.mkdir(parents=True)
    (queue / "queue.db").write_bytes(b"records not yet acked by the hub")
    out = _dpkg(root, "--purge", "tapcert-agent")
    assert not venv.exists() and not (root / "lib/systemd/system/tapcert-agent.service").exists()
    assert (queue / "queue.db").read_bytes() == b"records not yet acked by the hub"
    assert "kept" in out
