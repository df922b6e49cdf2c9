"""A real hub for provisioning tests: `tapcert-hub init` + `tapcert-hub run` (API + MQTT ingest)
on private 127.0.0.1 ports with SQLite in a temp dir, beside a plain Mosquitto."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hil_tests.services import Mosquitto, free_port
from hil_tests.timescale import scaled

REPO = Path(__file__).resolve().parents[2]


class RealHub:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.config = self.workdir / "hub.toml"
        self.broker = Mosquitto(self.workdir / "broker", persistence=False)
        self.proc = None
        self.tokens = {}

    @property
    def url(self) -> str:
        return "http://127.0.0.1:{}".format(self.api_port)

    def cli(self, *args) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "server_hub.cli", "--config", str(self.config),
                               *map(str, args)], capture_output=True, text=True, cwd=str(REPO),
                              timeout=60)
        if proc.returncode != 0:
            raise RuntimeError("tapcert-hub {} failed: {}{}".format(args, proc.stdout, proc.stderr))
        return proc

    def token(self, role: str) -> str:
        if role not in self.tokens:
            path = self.workdir / (role + ".token")
            if role == "admin":
                self.cli("init", "--token-file", path)
            else:
                self.cli("token", "create", "t-" + role, "--role", role, "--token-file", path)
            self.tokens[role] = path.read_text().strip()
        return self.tokens[role]

    def start(self) -> "RealHub":
        self.broker.start()
        self.config.write_text(
            "[hub]\ndb = \"sqlite:///{}\"\n\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n\n"
            "[api]\nhost = \"127.0.0.1\"\nport = {}\n".format(
                self.workdir / "hub.db", self.broker.port, self.api_port))
        self.token("admin")
        self.log = open(self.workdir / "hub.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "server_hub.cli", "--config",
                                      str(self.config), "run"], cwd=str(REPO), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + scaled(60)  # a busy machine starts Python slowly
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the hub did not start; see {}".format(self.workdir / "hub.log"))
            time.sleep(0.1)

    def api(self, method: str, path: str, role: str = "admin", **kw):
        response = httpx.request(method, self.url + path, timeout=10,
                                 headers={"Authorization": "Bearer " + self.token(role)}, **kw)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.broker.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
