"""`tapcert-provision up`: a blank virtual reader becomes an enrolled, checked reader and the
Pi gets its MQTT identity and agent config — one command against a real `tapcert-hub run`; a
failed step says which, and `--from STEP` finishes the job."""

import pytest

from agent import config as agentconfig
from hil_tests.targets.virtual import VirtualReader
from prov_hub import RealHub
from provkit import run_cli


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with RealHub(tmp_path_factory.mktemp("hub")) as hub:
        hub.api("POST", "/api/v1/stations", json={"id": "S-0001"})
        yield hub


@pytest.fixture
def blank_reader(tmp_path):
    reader = VirtualReader(tmp_path / "reader", label="blank")
    reader.start()
    yield reader
    reader.stop()


def _up(hub, reader, out, *extra):
    env = {"TAPCERT_HUB": hub.url, "TAPCERT_TOKEN": hub.token("technician")}
    return run_cli("up", *extra, "--port", reader.port, "--label", "R-0001", "--broker",
                   "127.0.0.1:{}".format(hub.broker.port), "--out", out, "--no-broker-check",
                   env=env, timeout=300)


@pytest.mark.slow
def test_up_flashes_enrolls_makes_the_identity_and_checks(hub, blank_reader, tmp_path):
    result = _up(hub, blank_reader, tmp_path / "etc", "S-0001")
    assert result.code == 0, result
    for step in ("step 1 of 4: flash", "step 2 of 4: enroll", "step 3 of 4: station",
                 "step 4 of 4: doctor"):
        assert step in result.out + result.err, result
    assert "station S-0001 is up" in result.out
    assert "OK   key" in result.out                     # doctor's lines are shown
    cfg = agentconfig.load(tmp_path / "etc" / "agent.toml", env={})
    assert cfg.station == "S-0001" and cfg.mqtt.tls
    readers = hub.api("GET", "/api/v1/readers?station=S-0001")
    assert "R-0001" in [r.get("label") for r in readers]


@pytest.mark.slow
def test_a_failed_step_names_itself_and_from_finishes_the_job(hub, blank_reader, tmp_path):
    out = tmp_path / "etc"
    failed = _up(hub, blank_reader, out, "S-0077")           # not registered at the hub
    assert failed.code == 1, failed
    line = failed.err.strip().splitlines()[-1]     # after flash's progress lines: the error
    for fragment in ("tapcert-provision: step 2 of 4 (enroll) failed",
                     "station S-0077 is not registered", "; ", "--from enroll"):
        assert fragment in line, failed
    assert not (out / "agent.toml").exists(), line
    hub.api("POST", "/api/v1/stations", json={"id": "S-0077"})
    finished = _up(hub, blank_reader, out, "S-0077", "--from", "enroll")
    assert finished.code == 0, finished
    assert "step 1 of 4" not in finished.out + finished.err    # flash is not done again
    assert "station S-0077 is up" in finished.out
