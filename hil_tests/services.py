"""Real local services: Mosquitto and PostgreSQL on private ports, 127.0.0.1 only.

Used by the tests, the hil scenarios and `make demo`. Each is a context manager that starts the real daemon with its own config in a temp dir and
always stops it. Ports come from `free_port()`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from hil_tests.timescale import scaled
from protocol import topics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def mosquitto_binary() -> str:
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and os.path.exists(cand):
            return cand
    raise RuntimeError("mosquitto not installed: run `make test` (apt-get install mosquitto)")


class Mosquitto:
    """A real Mosquitto broker. `restart()` keeps port and persistence (for outage tests)."""

    def __init__(self, workdir: Path, port: int | None = None, *, persistence: bool = True,
                 extra_config: str = "", listener_config: str | None = None):
        """listener_config replaces the anonymous plain listener, e.g. the mTLS listener that
        `tapcert-hub broker-config` writes (its port must be `port`)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.config = self.workdir / "mosquitto.conf"
        listener = listener_config or f"listener {self.port} 127.0.0.1\nallow_anonymous true"
        lines = [
            listener,
            "set_tcp_nodelay true",
            "user root" if os.geteuid() == 0 else "",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            "autosave_on_changes true",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"max_packet_size {topics.MAX_PACKET}",   # as production (broker-config)
            f"log_dest file {self.workdir}/mosquitto.log",
            extra_config,
        ]
        self.config.write_text("\n".join(line for line in lines if line) + "\n")

    def start(self) -> "Mosquitto":
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(scaled(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _pg_bin(name: str) -> str:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError("PostgreSQL server not installed: run `make test` (apt-get install postgresql)")


class Postgres:
    """A throwaway PostgreSQL cluster on a private port; `url` is a SQLAlchemy URL (psycopg)."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.datadir = self.workdir / "pgdata"
        self.sockdir = self.workdir / "sock"
        self._as_postgres = os.geteuid() == 0

    def _run(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, check=True, capture_output=True, text=True, **kw)

    def start(self) -> "Postgres":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.sockdir, "postgres")
        self._run([_pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--no-sync"])
        opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
                "-c fsync=on -c max_connections=100")
        self._run([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-o", opts, "-l",
                   str(self.workdir / "pg.log"), "-w", "start"])
        self._run([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                   "tapcert"])
        return self

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/tapcert"

    def stop(self) -> None:
        if self.datadir.exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
