"""A real `tapcert-hub run` process for the security tests: its config file and log, readiness,
the HTTP API, its memory (VmRSS) and restarts. Every wait is bounded and watches an
observable state (a log line, an answer), never a fixed sleep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hil_tests.services import free_port
from hil_tests.timescale import scaled

REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class HubProcess:
    def __init__(self, workdir: Path, db_url: str, mqtt_port: int, *, settings=None,
                 client_id: str = "hub-sec"):
        """settings: {section: {key: value}} over the test's own (database, ports)."""
        self.workdir = Path(workdir)
        self.api_port = free_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.config = self.workdir / "hub.toml"
        doc = {"hub": {"db": db_url}, "mqtt": {"port": mqtt_port, "client_id": client_id},
               "api": {"port": self.api_port}}
        for section, values in (settings or {}).items():
            doc.setdefault(section, {}).update(values)
        self.config.write_text("".join(
            f"[{section}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
            for section, values in doc.items()))
        self.log = self.workdir / "hub.log"
        self.proc: subprocess.Popen | None = None
        self._log_start = 0

    def start(self, *, ready: bool = True) -> "HubProcess":
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server_hub.cli", "--config", str(self.config), "run"],
                cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        if ready:
            self.wait_log("subscribed to station topics")
            self.wait_log("API on")
            self.wait_http()
        return self

    def text(self) -> str:
        """This run's log (a restart appends to the same file)."""
        with open(self.log, "rb") as fh:
            fh.seek(self._log_start)
            return fh.read().decode("utf-8", "replace")

    def wait_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + scaled(timeout)
        while needle not in self.text():
            assert self.proc.poll() is None, f"hub exited ({self.proc.returncode}):\n{self.text()}"
            assert time.monotonic() < deadline, f"no {needle!r} in the hub log:\n{self.text()}"
            time.sleep(0.05)

    def wait_http(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                httpx.get(self.base + "/healthz", timeout=2)
                return
            except httpx.TransportError:
                assert self.proc.poll() is None, f"hub exited:\n{self.text()}"
                assert time.monotonic() < deadline, f"API not answering:\n{self.text()}"
                time.sleep(0.05)

    def get(self, path: str, token: str | None = None, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(self.base + path, headers=headers, timeout=scaled(10), **kw)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS for the hub process")

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.proc.wait(scaled(timeout))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"hub ignored signal {sig} for {timeout} s:\n{self.text()}")
        return self.proc.returncode

    def restart(self) -> "HubProcess":
        assert self.stop() == 0, self.text()
        return self.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
