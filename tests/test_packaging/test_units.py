"""ops/systemd: every unit hardened, measured with systemd's own offline analysis (exposure
at most 3.0), syntactically valid, running as its own user, writing only where its state is,
and pointing its Documentation= at files the wheel installs."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wheelcheck import REPO

UNITS = sorted((REPO / "ops" / "systemd").glob("*.service"))
MAX_EXPOSURE = 3.0
VENV = "/opt/tapcert/venv/"


def _unit(path: Path) -> dict:
    """Every key of [Service]/[Unit] with all its values (systemd keys repeat)."""
    values: dict = {}
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        values.setdefault((section, key.strip()), []).append(value.strip())
    return values


def _offline_analysis_available() -> str | None:
    exe = shutil.which("systemd-analyze")
    if not exe:
        return "systemd-analyze is not installed (apt-get install systemd), so it has no --offline"
    helptext = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    if "--offline" not in helptext:
        return "this systemd-analyze has no --offline (systemd < 250)"
    return None


def test_there_are_the_units_docs_name():
    names = {u.name for u in UNITS}
    assert {"tapcert-hub.service", "tapcert-agent.service", "tapcert-crl.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_is_at_most_3(unit):
    why = _offline_analysis_available()
    if why:
        pytest.skip(why)
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                           str(unit)], capture_output=True, text=True, cwd=unit.parent)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, proc.stdout


@pytest.mark.parametrize("unit", UNITS + sorted((REPO / "ops" / "systemd").glob("*.timer")),
                         ids=lambda u: u.name)
def test_systemd_accepts_every_line(unit):
    """`systemd-analyze verify` names unknown keys and bad values; here the only complaint
    allowed is that /opt/tapcert/venv does not exist on this machine."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, cwd=unit.parent)
    complaints = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if line.strip() and not re.search(r"Command {}bin/\S+ is not executable".format(
                      re.escape(VENV)), line)]
    assert not complaints, "\n".join(complaints)


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_hardening_every_unit_keeps(unit):
    u = _unit(unit)
    s = lambda key: u.get(("Service", key), [])   # noqa: E731
    assert s("User") and s("User")[0] not in ("root", "0")
    assert s("NoNewPrivileges") == ["yes"] and s("ProtectSystem") == ["strict"]
    assert s("PrivateTmp") == ["yes"] and s("ProtectHome") == ["yes"]
    assert s("CapabilityBoundingSet") == [""] and s("AmbientCapabilities") == [""]
    writable = " ".join(s("ReadWritePaths")).split()
    state = ["/var/lib/" + d for d in s("StateDirectory")]
    for path in writable:
        path = path.lstrip("-")
        assert any(path == d or path.startswith(d + "/") for d in state) or \
            path == "/etc/mosquitto/tapcert" or path.startswith("/var/lib/tapcert/"), path
    for command in s("ExecStart"):
        assert command.startswith(VENV + "bin/tapcert-"), command


def test_the_agent_sees_only_serial_ports():
    u = _unit(REPO / "ops" / "systemd" / "tapcert-agent.service")
    assert u[("Service", "SupplementaryGroups")] == ["dialout"]
    assert u[("Service", "DevicePolicy")] == ["closed"]
    assert sorted(u[("Service", "DeviceAllow")]) == ["char-ttyACM rw", "char-ttyUSB rw"]


def test_documentation_points_at_files_the_wheel_installs():
    """Documentation=file:///opt/tapcert/venv/X: X is a data file of the wheel (setup.py
    data_files -> <venv>/X). Checked against setup.py here and in the built wheel by
    wheelcheck's contents step."""
    setup_text = (REPO / "setup.py").read_text()
    for unit in UNITS:
        for value in _unit(unit).get(("Unit", "Documentation"), []):
            for url in value.split():
                assert url.startswith("file://" + VENV + "share/doc/tapcert/"), url
                name = url.rsplit("/", 1)[1]
                assert (REPO / "docs" / name).is_file() or (REPO / name).is_file(), url
                assert '"docs/{}"'.format(name) in setup_text or '"{}"'.format(name) in setup_text
