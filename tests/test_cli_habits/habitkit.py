"""Helpers for tests/test_cli_habits: run a tapcert program as a user does, including with
its output going into a pipe nobody reads any more (`... | head -1` after head exited)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hil_tests.timescale import scaled

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = {"tapcert-agent": "agent.cli", "tapcert-provision": "provisioning.cli",
            "tapcert-hub": "server_hub.cli.dispatch"}


def _env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPCERT_AGENT_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def run(program, *args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", PROGRAMS[program], *args], capture_output=True,
                          text=True, timeout=scaled(timeout), cwd=str(REPO), env=_env(env))


def run_into_closed_pipe(program, *args, env=None, timeout=60):
    """The program's stdout is a pipe whose reader is already gone: its first write fails."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", PROGRAMS[program], *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=scaled(timeout),
                              cwd=str(REPO), env=_env(env))
    finally:
        os.close(write_end)
    return proc


def write_agent_config(path, *, mqtt_port, queue_path, station="S-0001", log_level="info"):
    Path(path).write_text("\n".join([
        'station = "{}"'.format(station),
        "[mqtt]", "port = {}".format(mqtt_port), "reconnect_min_s = 1.0", "reconnect_max_s = 2.0",
        "[readers]", "ports = []",
        "[queue]", 'path = "{}"'.format(queue_path), "warn_free_mb = 0",
        "[status]", 'log_format = "text"', 'log_level = "{}"'.format(log_level), "http_port = 0",
    ]) + "\n")
    return Path(path)
