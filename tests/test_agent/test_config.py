"""Config: TOML file, TAPCERT_AGENT_* overrides, defaults, errors a person can act on."""

import tomllib

import pytest

from agent import config
from agent.errors import ConfigError


def test_defaults_with_only_a_station():
    cfg = config.load(None, env={"TAPCERT_AGENT_STATION": "S-0042"})
    assert cfg.station == "S-0042" and cfg.mqtt.port == 0 and cfg.mqtt_port() == 1883
    assert cfg.client_id() == "tapcert-agent-S-0042"
    assert cfg.sync.batch_max_records == 500 and cfg.readers.ports == ["/dev/ttyACM*"]
    assert str(cfg.status_path()) == "/var/lib/tapcert-agent/status.json"


def test_file_then_environment(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('station = "S-1"\n[mqtt]\nhost = "hub.example"\ntls = true\n'
                    '[sync]\nlinger_ms = 20\n[readers]\nports = ["/dev/a", "/dev/b"]\n')
    cfg = config.load(path, env={"TAPCERT_AGENT_SYNC_LINGER_MS": "80",
                                 "TAPCERT_AGENT_READERS_PORTS": "/dev/x, /dev/y",
                                 "TAPCERT_AGENT_SYNC_DRAIN_RATE": "250"})
    assert cfg.mqtt.host == "hub.example" and cfg.mqtt_port() == 8883
    assert cfg.sync.linger_ms == 80 and cfg.sync.drain_rate == 250.0
    assert cfg.readers.ports == ["/dev/x", "/dev/y"]
    assert cfg.source == path


def test_unknown_key_suggests_the_right_one(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('station = "S-1"\n[mqtt]\nhots = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key mqtt.hots.*did you mean host"):
        config.load(path, env={})


def test_wrong_types_and_values_are_explained(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('station = "S-1"\n[sync]\nlinger_ms = "soon"\n')
    with pytest.raises(ConfigError, match="sync.linger_ms must be a whole number"):
        config.load(path, env={})
    with pytest.raises(ConfigError, match="TAPCERT_AGENT_MQTT_TLS must be true or false"):
        config.load(None, env={"TAPCERT_AGENT_STATION": "S-1", "TAPCERT_AGENT_MQTT_TLS": "maybe"})
    with pytest.raises(ConfigError, match="batch_max_records must be 1-1000"):
        config.load(None, env={"TAPCERT_AGENT_STATION": "S-1",
                               "TAPCERT_AGENT_SYNC_BATCH_MAX_RECORDS": "5000"})


def test_station_is_required_and_checked(tmp_path):
    with pytest.raises(ConfigError, match="no station id"):
        config.load(None, env={})
    with pytest.raises(ConfigError, match="is invalid"):
        config.load(None, env={"TAPCERT_AGENT_STATION": "S 1/#"})


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("station = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad, env={})


def test_show_config_is_valid_toml_with_every_key():
    cfg = config.load(None, env={"TAPCERT_AGENT_STATION": "S-1", "TAPCERT_AGENT_MQTT_PASSWORD": "pw"})
    text = config.to_toml(cfg)
    parsed = tomllib.loads(text)
    assert parsed["station"] == "S-1" and parsed["mqtt"]["password"] == "********"
    for section, key, _default, _help in config.SCHEMA:
        assert key in (parsed[section] if section else parsed)


def test_docs_agent_md_lists_every_config_key():
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "tools/gen_agent_config_doc.py", "--check"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
