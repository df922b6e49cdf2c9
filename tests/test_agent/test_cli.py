"""tapcert-agent status / quarantine / show-config, as staff and technicians see them."""

import os
import subprocess
import sys
from pathlib import Path

from agent import cli

from .conftest import REPO, write_config
from .hubstub import wait_until


def run_cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPCERT_AGENT_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=str(REPO), env=env)


def test_status_when_the_network_is_down_then_synced(mosquitto, fake_readers, hub_stub,
                                                     agent_config, inproc_agent):
    hub_stub()
    reader = fake_readers("r1")
    config = agent_config(ports=[reader.port])
    agent = inproc_agent(config)
    reader.tap_many(3)
    wait_until(lambda: reader.hub_wm == 3, 15, what="sync")
    agent.core.status.dirty = True
    wait_until(lambda: "all records synced" in run_cli("status", "--config", str(config)).stdout, 10,
               what="status: synced")
    mosquitto.stop()
    reader.tap_many(342)
    wait_until(lambda: reader.agent_wm == 345, 20, what="queued while offline")
    wait_until(lambda: "342 records waiting: network down since" in
               run_cli("status", "--config", str(config)).stdout, 10, what="status: network down")
    out = run_cli("status", "--config", str(config))
    assert out.returncode == 0
    assert reader.rid in out.stdout and "online on " + reader.port in out.stdout
    assert "journal 0% full" in out.stdout and "clock " in out.stdout
    assert "queued up to #345, hub has up to #3" in out.stdout
    mosquitto.start()


def test_status_when_the_agent_is_not_running(tmp_path):
    config = write_config(tmp_path / "a.toml", mqtt_port=1, ports=[],
                          queue_path=tmp_path / "q" / "queue.db")
    out = run_cli("status", "--config", str(config))
    assert out.returncode == 3
    assert out.stdout.startswith("AGENT NOT RUNNING: 0 records waiting")
    assert "no queue database yet" in out.stdout


def test_errors_are_one_line_and_exit_1(tmp_path):
    out = run_cli("status", "--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 1
    assert out.stderr.strip().startswith("tapcert-agent: config file") and "Traceback" not in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('station = "S-1"\n[queue]\npath = "/proc/nope/queue.db"\n[readers]\nports = []\n')
    out = run_cli("run", "--config", str(bad))
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1].startswith("tapcert-agent: ")


def test_show_config_and_help(tmp_path, capsys):
    config = write_config(tmp_path / "a.toml", mqtt_port=1883, ports=["/dev/ttyACM0"],
                          queue_path=tmp_path / "queue.db")
    assert cli.main(["show-config", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert 'ports = ["/dev/ttyACM0"]' in text and "drain_rate" in text
    out = run_cli("run", "--help")
    assert "example: tapcert-agent run --config" in out.stdout


def test_quarantine_listing(tmp_path, capsys):
    from agent.store import Store
    from hil_tests.simreader import SimReader
    from protocol import batch as bp
    db = tmp_path / "queue.db"
    store = Store(db)
    sim = SimReader()
    store.add_records([(sim.reader_id, 1, sim.tap(b"\x01\x02\x03\x04"), 0, False)], now=1.0)
    batch_id, _ = store.claim_batch(5, live=False)
    store.apply_ack(batch_id, bp.BATCH_OK, bytes([bp.REVOKED_READER]), now=2.0)
    store.close()
    config = write_config(tmp_path / "a.toml", mqtt_port=1883, ports=[], queue_path=db)
    assert cli.main(["quarantine", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert sim.reader_id.hex() in out and "revoked_reader" in out
    assert Path(db).exists()
