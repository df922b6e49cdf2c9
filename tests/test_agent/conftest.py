"""Fixtures for the agent tests: fake readers, the acking hub stand-in, agents in-process
(a thread) or as a real subprocess (`python -m agent.cli run --config F`, for SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent import config as configmod
from agent.service import Service

from .fakereader import FakeReader
from .hubstub import HubStub

REPO = Path(__file__).resolve().parents[2]

FAST = {
    "sync": {"linger_ms": 10, "ack_timeout_s": 2.0, "backoff_max_s": 8.0, "drain_rate": 0.0,
             "drain_start_jitter_s": 0.0, "jitter": 0.1},
    "readers": {"rescan_s": 0.1, "write_timeout_s": 1.0},
    "mqtt": {"reconnect_min_s": 1.0, "reconnect_max_s": 2.0, "keepalive_s": 10},
    "status": {"log_format": "text", "log_level": "info"},
    "queue": {"warn_free_mb": 0},
}


def write_config(path, *, station="S-0001", mqtt_port, ports, queue_path, **sections):
    data = {k: dict(v) for k, v in FAST.items()}
    data["mqtt"]["port"] = mqtt_port
    data["readers"]["ports"] = list(ports)
    data["queue"]["path"] = str(queue_path)
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    lines = ['station = "{}"'.format(station)]
    for section, values in data.items():
        lines.append("[{}]".format(section))
        for key, value in values.items():
            lines.append("{} = {}".format(key, configmod._toml_value(value)))
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


class InProcessAgent:
    """The real Service, run in a thread of the test process."""

    def __init__(self, config_path, env=None):
        self.cfg = configmod.load(config_path, env=env or {})
        self.service = Service(self.cfg)
        self.error = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        try:
            self.service.run(install_signals=False)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    @property
    def core(self):
        return self.service.core

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=20):
        self.service.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "agent did not stop within {} s".format(timeout)
        if self.error is not None:
            raise self.error


class AgentProcess:
    """`python -m agent.cli run --config F` as a child process."""

    def __init__(self, config_path, log_path):
        self.config_path = config_path
        self.log_path = log_path
        self.proc = None

    def start(self):
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env = {k: v for k, v in env.items() if not k.startswith("TAPCERT_AGENT_")}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--config",
                                      str(self.config_path)], cwd=str(REPO), env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout=20):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("agent ignored SIGTERM for {} s".format(timeout))
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def fake_readers(tmp_path):
    made = []

    def make(name="reader0", **kw):
        reader = FakeReader(tmp_path, name, **kw).start()
        made.append(reader)
        return reader

    yield make
    for reader in made:
        reader.stop()


@pytest.fixture
def hub_stub(mosquitto):
    made = []

    def make(**kw):
        stub = HubStub(mosquitto.port, **kw).start()
        made.append(stub)
        return stub

    yield make
    for stub in made:
        stub.stop()


@pytest.fixture
def agent_config(tmp_path, mosquitto):
    def make(ports=(), name="agent.toml", **sections):
        return write_config(tmp_path / name, mqtt_port=mosquitto.port, ports=ports,
                            queue_path=tmp_path / "queue" / "queue.db", **sections)
    return make


@pytest.fixture
def inproc_agent():
    running = []

    def start(config_path, env=None):
        agent = InProcessAgent(config_path, env).start()
        running.append(agent)
        return agent

    yield start
    for agent in running:
        if agent.thread.is_alive():
            agent.stop()


@pytest.fixture
def agent_process(tmp_path):
    procs = []

    def start(config_path):
        proc = AgentProcess(config_path, tmp_path / "agent.log").start()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.proc and proc.proc.poll() is None:
            proc.kill()
