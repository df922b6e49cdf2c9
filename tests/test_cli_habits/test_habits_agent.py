"""tapcert-agent as people expect a CLI to behave: --version, --json on what prints data, a
quiet end when its reader leaves the pipe, and the backlog drain's rate and time left."""

import json
import sqlite3
import time

from agent import drain
from agent.store import Store

from habitkit import run, run_into_closed_pipe, write_agent_config


def queue_with(path, *, waiting, acked_recently, acked_long_ago=0):
    """A real queue database: `waiting` pending records, `acked_recently` acked within the
    last minute (spread over it), `acked_long_ago` acked an hour ago."""
    Store(path).close()
    now = time.time()
    conn = sqlite3.connect(path)
    rows = []
    for i in range(waiting + acked_recently + acked_long_ago):
        if i < waiting:
            state, done = 0, None
        elif i < waiting + acked_recently:
            state, done = 2, now - 50 * (i - waiting) / max(acked_recently, 1)
        else:
            state, done = 2, now - 3600
        rows.append((b"\x01" * 8, i + 1, b"r", 0, now - 100, 0, state, done))
    conn.executemany("INSERT INTO records (reader_id, seq, data, reader_time, received_at, live, "
                     "state, done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def test_version_comes_from_the_package():
    out = run("tapcert-agent", "--version")
    assert out.returncode == 0
    assert out.stdout.startswith("tapcert-agent 0.") and "unknown" not in out.stdout


def test_status_into_a_closed_pipe_ends_quietly(tmp_path):
    config = write_agent_config(tmp_path / "a.toml", mqtt_port=1, queue_path=tmp_path / "q.db")
    out = run_into_closed_pipe("tapcert-agent", "status", "--config", str(config))
    assert out.returncode == 141, out.stderr   # 128 + SIGPIPE, as `yes | head -1`
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr
    assert "Exception ignored" not in out.stderr
    out = run_into_closed_pipe("tapcert-agent", "--help")  # argparse swallows the error itself
    assert out.returncode in (0, 141) and out.stderr == ""


def test_status_shows_the_drain_rate_and_time_left(tmp_path):
    db = tmp_path / "q.db"
    queue_with(db, waiting=300, acked_recently=120, acked_long_ago=500)
    config = write_agent_config(tmp_path / "a.toml", mqtt_port=1, queue_path=db)
    out = run("tapcert-agent", "status", "--config", str(config))
    assert out.returncode == 3  # not running
    assert "Drain:    draining 2 records/s, about 2 min to go" in out.stdout, out.stdout
    doc = json.loads(run("tapcert-agent", "status", "--json", "--config", str(config)).stdout)
    assert doc["drain"] == {"waiting": 300, "rate": 2.0, "eta_s": 150}
    assert doc["queue"]["pending"] == 300


def test_status_says_when_nothing_drains(tmp_path):
    db = tmp_path / "q.db"
    queue_with(db, waiting=7, acked_recently=0, acked_long_ago=3)
    config = write_agent_config(tmp_path / "a.toml", mqtt_port=1, queue_path=db)
    out = run("tapcert-agent", "status", "--config", str(config))
    assert "Drain:    not draining: the hub acked nothing in the last 60 s" in out.stdout


def test_quarantine_and_show_config_print_json(tmp_path):
    db = tmp_path / "q.db"
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO quarantine (reader_id, seq, batch_id, outcome, reason, at) "
                 "VALUES (?, 5, 9, 3, 'bad signature', 1700000000.0)", (bytes.fromhex("ab" * 8),))
    conn.commit()
    conn.close()
    config = write_agent_config(tmp_path / "a.toml", mqtt_port=1883, queue_path=db)
    rows = json.loads(run("tapcert-agent", "quarantine", "--json", "--config", str(config)).stdout)
    assert rows == [{"at": 1700000000.0, "reader": "ab" * 8, "seq": 5, "reason": "bad signature",
                     "batch": 9}]
    cfg = json.loads(run("tapcert-agent", "show-config", "--json", "--config", str(config)).stdout)
    assert cfg["station"] == "S-0001" and cfg["mqtt"]["port"] == 1883
    assert cfg["queue"]["path"] == str(db) and "retention_days" in cfg["queue"]


def test_drain_meter_logs_while_records_wait_and_once_when_empty():
    meter = drain.DrainMeter(window_s=60, log_every_s=30)
    assert meter.tick(0.0, 0, 1000) is None            # the first tick only starts the clock
    assert meter.tick(10.0, 100, 900) is None
    est = meter.tick(30.0, 300, 700)
    assert est == {"waiting": 700, "rate": 10.0, "eta_s": 70}
    assert drain.describe(est) == "draining 10 records/s, about 70 s to go"
    assert meter.tick(45.0, 450, 550) is None
    assert meter.tick(100.0, 1000, 0) == {"waiting": 0, "rate": 10.0, "eta_s": None}
    assert meter.tick(130.0, 1000, 0) is None           # empty and already said so
    assert drain.describe({"waiting": 5, "rate": 0.0, "eta_s": None}).startswith("not draining")


def test_version_falls_back_to_the_checkout_when_not_installed(monkeypatch):
    from importlib import metadata

    import agent.cli
    import provisioning.cli
    import server_hub.cli.dispatch
    from protocol.host import clihabits

    # one module serves the three programs (no copies to drift apart)
    assert agent.cli.clihabits is provisioning.cli.clihabits is clihabits
    assert server_hub.cli.dispatch.habits is clihabits

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(clihabits.metadata, "version", not_installed)
    assert clihabits.version() == clihabits.tomllib.loads(
        (clihabits.Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    )["project"]["version"] + " (checkout)"
