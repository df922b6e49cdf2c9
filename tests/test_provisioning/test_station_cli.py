"""`tapcert-provision station create` end to end (fleet CA on disk, real broker check), with the
hub machine's side: `tapcert-hub station sign-csr/revoke/crl` and `broker-config`."""

import stat
import time
import tomllib

from provkit import assert_one_line_error, run_cli, run_hub
from prov_broker import TLSMosquitto
from server_hub.identity import acl, pki
from hil_tests.timescale import scaled


def test_station_create_writes_identity_and_agent_config_that_the_agent_loads(tmp_path):
    ca = pki.FleetCA.create(tmp_path / "ca")
    ca.issue_server()
    out = tmp_path / "etc"
    with TLSMosquitto(tmp_path / "broker", ca.directory, acl.write_acl(tmp_path / "acl")) as broker:
        result = run_cli("station", "create", "S-0042", "--ca-dir", ca.directory, "--out", out,
                         "--broker", "127.0.0.1:{}".format(broker.port),
                         "--reader-port", "/dev/ttyACM*")
    assert result.code == 0, result
    assert "station S-0042: certificate serial" in result.out
    assert "broker accepted the certificate" in result.out
    assert stat.S_IMODE((out / "station.key").stat().st_mode) == 0o600
    config = tomllib.loads((out / "agent.toml").read_text())
    assert config["station"] == "S-0042"
    assert config["mqtt"]["tls"] is True
    assert config["mqtt"]["cert_file"] == str(out / "station.crt")
    from agent import config as agent_config
    loaded = agent_config.load(out / "agent.toml", env={})
    assert loaded.mqtt.key_file == str(out / "station.key")
    assert loaded.readers.ports == ["/dev/ttyACM*"]


def test_station_create_refuses_to_overwrite_and_keeps_other_agent_settings(tmp_path):
    ca = pki.FleetCA.create(tmp_path / "ca")
    out = tmp_path / "etc"
    out.mkdir()
    (out / "agent.toml").write_text('station = "S-0042"\n[sync]\nbatch_max_records = 200\n')
    first = run_cli("station", "create", "S-0042", "--ca-dir", ca.directory, "--out", out,
                    "--no-broker-check")
    assert first.code == 0, first
    key = (out / "station.key").read_bytes()
    again = run_cli("station", "create", "S-0042", "--ca-dir", ca.directory, "--out", out,
                    "--no-broker-check")
    assert_one_line_error(again, "already has a station identity", "--force")
    assert (out / "station.key").read_bytes() == key
    forced = run_cli("station", "create", "S-0042", "--ca-dir", ca.directory, "--out", out,
                     "--no-broker-check", "--force")
    assert forced.code == 0, forced
    assert (out / "station.key").read_bytes() != key
    config = tomllib.loads((out / "agent.toml").read_text())
    assert config["sync"]["batch_max_records"] == 200
    assert len([e for e in ca.issued("S-0042") if e["revoked"]]) == 1


def test_station_create_with_a_bad_id_or_no_ca_writes_nothing(tmp_path):
    out = tmp_path / "etc"
    bad = run_cli("station", "create", "S/1", "--ca-dir", tmp_path / "ca", "--out", out)
    assert_one_line_error(bad, "not valid")
    missing = run_cli("station", "create", "S-1", "--ca-dir", tmp_path / "ca", "--out", out)
    assert_one_line_error(missing, "no fleet CA")
    assert not out.exists() or not any(out.iterdir())


def test_station_create_against_a_broker_of_another_ca_fails_and_writes_nothing(tmp_path):
    ours = pki.FleetCA.create(tmp_path / "ca")
    theirs = pki.FleetCA.create(tmp_path / "other-ca")
    theirs.issue_server()
    out = tmp_path / "etc"
    with TLSMosquitto(tmp_path / "broker", theirs.directory, acl.write_acl(tmp_path / "acl")) as b:
        result = run_cli("station", "create", "S-0042", "--ca-dir", ours.directory, "--out", out,
                         "--broker", "127.0.0.1:{}".format(b.port))
    assert_one_line_error(result, "broker")
    assert not (out / "station.key").exists() and not (out / "agent.toml").exists()
    assert not (out / ".staging").exists()


def test_station_revoke_rewrites_the_crl(tmp_path):
    ca = pki.FleetCA.create(tmp_path / "ca")
    run_cli("station", "create", "S-0042", "--ca-dir", ca.directory, "--out", tmp_path / "etc",
            "--no-broker-check")
    result = run_hub("station", "revoke", "S-0042", "--ca-dir", ca.directory)
    assert result.code == 0, result
    assert "1 certificate revoked" in result.out
    from cryptography import x509
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert len(list(crl)) == 1
    again = run_hub("station", "revoke", "S-0042", "--ca-dir", ca.directory)
    assert again.code == 1 and "no live certificate" in again.err, again
    refreshed = run_hub("station", "crl", "--ca-dir", ca.directory, "--days", "3")
    assert refreshed.code == 0 and "valid until" in refreshed.out, refreshed
    assert len(list(x509.load_pem_x509_crl(ca.crl_path.read_bytes()))) == 1


def test_the_hub_machines_commands_moved_to_the_hub_and_say_so(tmp_path):
    for verb, hub_command in (("revoke", "tapcert-hub station revoke"),
                              ("crl", "tapcert-hub station crl"),
                              ("broker", "tapcert-hub broker-config")):
        moved = run_cli("station", verb, "S-0042", "--ca-dir", tmp_path / "ca")
        assert_one_line_error(moved, "hub command now", hub_command)


def test_the_hub_side_setup_runs_a_broker_that_takes_stations_and_drops_revoked_ones(tmp_path):
    """`tapcert-hub broker-config` prints the listener block the docs tell the operator to
    install; `station create --ca-dir` signs through `tapcert-hub station sign-csr`."""
    import os
    import signal
    import subprocess

    from hil_tests.services import free_port, mosquitto_binary, wait_port
    from prov_broker import Client, Refused

    port = free_port()
    setup = run_hub("--db", "sqlite:///{}".format(tmp_path / "hub.db"), "broker-config",
                    "--out", tmp_path / "mosq", "--host", "localhost", "--ip", "127.0.0.1",
                    "--port", port, "--bind", "127.0.0.1")
    assert setup.code == 0, setup
    listener = [line for line in setup.out.splitlines() if not line.startswith("#")]
    assert "require_certificate true" in listener and "use_identity_as_username true" in listener
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(["user root" if os.geteuid() == 0 else "", "persistence false",
                               "log_dest file {}".format(tmp_path / "mosquitto.log")] + listener)
                    + "\n")
    created = run_cli("station", "create", "S-0042", "--ca-dir", tmp_path / "ca", "--out",
                      tmp_path / "etc", "--no-broker-check")
    assert created.code == 0, created
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        etc = tmp_path / "etc"
        station_client = lambda: Client(port, etc / "ca.crt", etc / "station.crt",  # noqa: E731
                                        etc / "station.key", "agent-S-0042")
        station_client().connect().close()
        assert run_hub("station", "revoke", "S-0042", "--ca-dir", tmp_path / "ca").code == 0
        proc.send_signal(signal.SIGHUP)  # rereads the CRL copy in the broker dir
        deadline = time.monotonic() + scaled(5)
        while True:
            try:
                station_client().connect().close()
            except Refused:
                break
            assert time.monotonic() < deadline, "revoked S-0042 still connects"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
