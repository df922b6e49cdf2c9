"""A deliberate stop of the agent is not an error: no ERROR line from paho (its network
thread logs "Client is not connected" at ERROR between a closed socket and the next connect)
and no "lost the broker connection" warning, with the broker up or unreachable."""

import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from hil_tests.timescale import scaled

from habitkit import REPO, _env, write_agent_config


def run_then_stop(config, ready_text, timeout=30):
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(REPO), env=_env())
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    seen = []
    try:
        deadline = time.monotonic() + scaled(timeout)
        while not any(ready_text in line for line in seen):   # wait for the state, then stop
            try:                                              # it as systemd does
                seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail("no {!r} from the agent within {} s:\n{}".format(
                    ready_text, timeout, "".join(seen)))
        proc.send_signal(signal.SIGTERM)
        proc.wait(scaled(30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(scaled(10))
    while not lines.empty():
        seen.append(lines.get())
    return proc.returncode, "".join(seen)


def test_stop_while_connected_logs_no_error_or_warning(mosquitto, tmp_path):
    config = write_agent_config(tmp_path / "a.toml", mqtt_port=mosquitto.port,
                                queue_path=tmp_path / "q.db")
    status, log = run_then_stop(config, "agent started")
    assert status == 0, log
    assert "connected to broker" in log and "agent.service: stopped" in log
    assert " error " not in log and " warning " not in log, log
    assert "disconnected from the broker (stopping)" in log


def test_stop_while_the_broker_is_unreachable_logs_no_paho_error(tmp_path):
    from hil_tests.services import free_port
    config = write_agent_config(tmp_path / "a.toml", mqtt_port=free_port(),
                                queue_path=tmp_path / "q.db", log_level="debug")
    # at debug level paho's line shows, demoted: proof it was emitted, and when
    status, log = run_then_stop(config, "debug   agent.paho: Client is not connected")
    assert status == 0, log
    assert " error " not in log and " warning agent.paho" not in log, log
