"""ops/: the example configs load with the programs' own loaders and name the files the hub's
own commands make; the Mosquitto drop-in runs on the real broker as the mosquitto user and
carries what tapcert sends."""

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from hil_tests.services import free_port, mosquitto_binary, wait_port
from wheelcheck import REPO, example_agent_config

OPS = REPO / "ops"


def _setting(conf: Path, key: str) -> str:
    values = [line.split(None, 1)[1].strip() for line in conf.read_text().splitlines()
              if line.split(None, 1)[:1] == [key]]
    assert len(values) == 1, "{} must set {} once".format(conf, key)
    return values[0]


@pytest.mark.parametrize("name", ["hub.toml", "hub-postgresql.toml"])
def test_hub_examples_load_and_name_the_files_init_and_broker_config_make(name):
    from server_hub import config
    from server_hub.identity.pki import DEFAULT_HUB_USER
    cfg = config.load(OPS / name, env={})
    ca = config.ca_dir(cfg)
    assert ca == Path("/var/lib/tapcert/ca")
    assert cfg.mqtt.ca_file == str(ca / "ca.crt")
    assert cfg.mqtt.cert_file == str(ca / (DEFAULT_HUB_USER + ".crt"))
    assert cfg.mqtt.key_file == str(ca / (DEFAULT_HUB_USER + ".key"))
    assert cfg.mqtt.port == 8883 and cfg.hub.timezone == "Asia/Shanghai"
    assert cfg.hub.db.startswith("postgresql+psycopg://" if "postgresql" in name else "sqlite:////var/lib/tapcert/")
    assert "# tls_cert =" in (OPS / name).read_text()   # HTTPS: shown, commented (default: none)
    if "postgresql" in name:          # peer authentication as the unit's user, over the socket
        from sqlalchemy.engine import make_url
        url = make_url(cfg.hub.db)
        assert (url.username, url.database, url.query["host"]) == (
            "tapcert-hub", "tapcert", "/var/run/postgresql")


def test_hub_example_with_an_unknown_key_is_refused(tmp_path):
    """The loader is strict, so the test above proves every key in the examples is real."""
    from server_hub import config
    from server_hub.errors import ConfigError
    bad = tmp_path / "hub.toml"
    bad.write_text((OPS / "hub.toml").read_text().replace(
        "port = 8470", 'port = 8470\ntls_certificate = "/etc/tapcert/https/hub.crt"'))
    with pytest.raises(ConfigError, match="tls_certificate"):
        config.load(bad, env={})


def test_agent_example_loads_with_the_agents_loader(tmp_path):
    from agent import config
    cfg = config.load(example_agent_config(tmp_path / "etc"), env={})
    assert cfg.station == "S-0001" and cfg.mqtt.tls and cfg.mqtt_port() == 8883
    assert cfg.mqtt.cert_file.endswith("/station.crt") and cfg.readers.ports == ["/dev/ttyACM*"]
    assert cfg.queue.path.startswith(str(tmp_path))


def test_broker_packet_limit_carries_everything_tapcert_sends():
    from protocol.batch import MAX_PAYLOAD
    from protocol.topics import MAX_PACKET
    from server_hub.config import MQTTSection
    from server_hub.fleet.server import MAX_CHUNK
    conf = OPS / "mosquitto" / "tapcert-broker.conf"
    limit = int(_setting(conf, "max_packet_size"))
    assert limit == MAX_PACKET            # the one figure (SPEC 5), also in the test brokers
    header = 5 + 2 + 2 + len("station/") + 32 + len("/update/chunk") + 64   # MQTT 5 headroom
    largest_chunk = len('{"bundle": "%s", "offset": 4294967296, "data": ""}' % ("0" * 64)) \
        + (MAX_CHUNK + 2) // 3 * 4
    assert MQTTSection().max_payload == MAX_PAYLOAD
    assert limit >= MAX_PAYLOAD + header and limit >= largest_chunk + header
    assert "message_size_limit" not in conf.read_text().split("#")[0]
    assert not [line for line in conf.read_text().splitlines()
                if line.strip().startswith("message_size_limit")]


def _broker_dir(owner: str | None) -> tuple[Path, int]:
    """A Debian-shaped Mosquitto setup in a temp dir the mosquitto user can reach: main config
    (user mosquitto, persistence, log file, include_dir), conf.d/ with our drop-in and a plain
    127.0.0.1 listener. lib/ and log/ belong to `owner` (None: root)."""
    base = Path(tempfile.mkdtemp(prefix="tapcert-mosquitto-"))
    base.chmod(0o755)
    port = free_port()
    for sub in ("lib", "log", "conf.d"):
        (base / sub).mkdir()
        if owner and sub != "conf.d":
            user = pwd.getpwnam(owner)
            os.chown(base / sub, user.pw_uid, user.pw_gid)
    shutil.copy(OPS / "mosquitto" / "tapcert-broker.conf", base / "conf.d")
    (base / "conf.d" / "listener.conf").write_text(
        "listener {} 127.0.0.1\nallow_anonymous true\n".format(port))
    (base / "mosquitto.conf").write_text(
        "user mosquitto\npersistence true\npersistence_location {0}/lib/\n"
        "log_dest file {0}/log/mosquitto.log\ninclude_dir {0}/conf.d\n".format(base))
    return base, port


def _stop(proc) -> str:
    """SIGTERM, then SIGKILL if it has not gone within 15 s; returns what it printed."""
    proc.terminate()
    try:
        out = proc.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0]
    return out.decode(errors="replace")


def _needs_root_and_mosquitto_user():
    if os.geteuid() != 0:
        pytest.fail("Mosquitto drops to the mosquitto user only when started as root: run the "
                    "tests as root, as CI does")
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.fail("no mosquitto user: apt-get install mosquitto (make system)")


def test_dropin_runs_as_the_mosquitto_user_and_passes_a_full_batch():
    import paho.mqtt.client as mqtt
    _needs_root_and_mosquitto_user()
    base, port = _broker_dir("mosquitto")
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(base / "mosquitto.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    subscribed, got, received = threading.Event(), threading.Event(), []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ops-test",
                         protocol=mqtt.MQTTv5)
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, u, msg: (received.append(msg.payload), got.set())
    try:
        wait_port(port, 15)
        client.connect("127.0.0.1", port)
        client.loop_start()
        client.subscribe("station/S-0001/batch", qos=1)
        assert subscribed.wait(15), "no SUBACK from the broker"
        payload = os.urandom(131072)          # a batch of the largest size a station sends
        client.publish("station/S-0001/batch", payload, qos=1).wait_for_publish(15)
        assert got.wait(15) and received[0] == payload
    finally:
        client.loop_stop()
        client.disconnect()
        out = _stop(proc)
        log = (base / "log" / "mosquitto.log").read_text(errors="replace")
        shutil.rmtree(base)
    assert "deprecated" not in (out + log).lower(), out + log
    assert "Error" not in log, log


def test_a_root_owned_log_folder_is_the_error_the_drop_in_warns_about():
    """Mosquitto (2.0.11) keeps running but writes no log: the drop-in's ownership note."""
    _needs_root_and_mosquitto_user()
    base, port = _broker_dir(None)
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(base / "mosquitto.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    guard = threading.Timer(30, proc.terminate)    # never hang on a broker that says nothing
    guard.start()
    try:
        seen = []
        for raw in proc.stdout:          # read until the error line (or the broker exits)
            seen.append(raw.decode(errors="replace"))
            if "Unable to open log file" in seen[-1]:
                # it runs on: stop it once it listens (one stopped mid-start-up here ran on
                # past SIGTERM; _stop kills after 15 s in any case)
                wait_port(port, 15)
                break
    finally:
        guard.cancel()
        _stop(proc)
        shutil.rmtree(base)
    assert "Unable to open log file" in "".join(seen), "".join(seen)
    assert "install -d -o mosquitto" in (OPS / "mosquitto" / "tapcert-broker.conf").read_text()
