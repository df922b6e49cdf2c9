"""A 3-node NATS cluster with JetStream and the MQTT listener, on loopback (docs/scale.md).

    with NATSCluster(tmp_path / "nats") as cluster:     # starts, waits for a meta leader
        cluster.mqtt_ports      # [p1, p2, p3]: stations connect over MQTT 3.1.1 to any node
        cluster.client_urls     # ["nats://127.0.0.1:p", ...]: hub workers (nats-py)
        cluster.kill(1)         # SIGKILL node n2 (its JetStream store stays on disk)
        cluster.start_node(1)   # bring it back with the same config and store
        cluster.leader_of("TAPCERT_BATCHES")   # index of the stream's leader (monitoring port)

Each node has its own client, cluster-route, MQTT and monitoring port (all 127.0.0.1), a
`server_name`, a JetStream store directory and `mqtt { stream_replicas: 3 }`. One account
(TAPCERT) has JetStream enabled and is the `no_auth_user`'s, so anonymous MQTT stations and
hub workers land in it (production: per-station users or certificates, see docs/scale.md).
Debian's `nats-server` 2.9 speaks MQTT 3.1.1 only, has no shared subscriptions, and elects
a new stream leader 5–9 s after a node dies: callers give failover generous timeouts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from hil_tests.services import free_port, wait_port

NODES = 3


def nats_binary() -> str:
    for cand in (shutil.which("nats-server"), "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if cand and os.path.exists(cand):
            return cand
    raise RuntimeError("nats-server not installed: run `make test` (apt-get install nats-server)")


def node_config(name: str, workdir: Path, client: int, route: int, routes: list[int],
                mqtt: int, http: int) -> str:
    route_urls = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
    return f"""# tapcert test cluster node {name} (hil_tests/cluster.py)
server_name: {name}
listen: 127.0.0.1:{client}
http: 127.0.0.1:{http}
max_payload: 1MB
jetstream {{
  store_dir: "{workdir / name / 'jetstream'}"
  max_memory_store: 256MB
  max_file_store: 4GB
}}
cluster {{
  name: tapcert
  listen: 127.0.0.1:{route}
  routes: [{route_urls}]
}}
mqtt {{
  listen: 127.0.0.1:{mqtt}
  stream_replicas: 3
  ack_wait: "30s"
}}
accounts {{
  TAPCERT {{
    jetstream: enabled
    users: [{{user: tapcert, password: tapcert}}]
  }}
}}
no_auth_user: tapcert
"""


class NATSCluster:
    def __init__(self, workdir: Path, nodes: int = NODES):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.names = [f"n{i + 1}" for i in range(nodes)]
        self.procs: list[subprocess.Popen | None] = [None] * nodes
        self._logs: list = [None] * nodes
        self._configure()

    def _configure(self) -> None:
        # free ports now, bound by the nodes a moment later: another process can take one in
        # between (an outgoing connection's ephemeral port); start() then configures again
        self.client_ports = [free_port() for _ in self.names]
        self.route_ports = [free_port() for _ in self.names]
        self.mqtt_ports = [free_port() for _ in self.names]
        self.http_ports = [free_port() for _ in self.names]
        for i, name in enumerate(self.names):
            (self.workdir / name).mkdir(exist_ok=True)
            others = [p for j, p in enumerate(self.route_ports) if j != i]
            self.config_path(i).write_text(node_config(
                name, self.workdir, self.client_ports[i], self.route_ports[i], others,
                self.mqtt_ports[i], self.http_ports[i]))

    # --- addresses --------------------------------------------------------------------

    @property
    def client_urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{p}" for p in self.client_ports]

    def config_path(self, i: int) -> Path:
        return self.workdir / self.names[i] / "nats.conf"

    def log_path(self, i: int) -> Path:
        return self.workdir / self.names[i] / "nats.log"

    # --- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = 30.0, attempts: int = 3) -> "NATSCluster":
        for attempt in range(attempts):
            for i in range(len(self.names)):
                self.start_node(i, wait=False)
            taken = self._wait_listening(timeout)
            if taken is None:
                break
            self.stop()                  # a port was taken before its node bound it
            if attempt == attempts - 1:
                raise RuntimeError(f"NATS node {self.names[taken]} could not bind its ports "
                                   f"{attempts} times (address already in use); logs in "
                                   f"{self.workdir}")
            for name in self.names:      # nothing was stored yet: a fresh cluster
                shutil.rmtree(self.workdir / name / "jetstream", ignore_errors=True)
            self._configure()
        self.wait_ready(timeout)
        return self

    def _wait_listening(self, timeout: float) -> int | None:
        # every node's MQTT port answering -> None; a node that exited because one of its
        # ports was taken -> its index; any other exit raises with the log's tail
        for i in range(len(self.names)):
            while True:
                proc = self.procs[i]
                if proc is not None and proc.poll() is not None:
                    log = self.log_path(i).read_text(errors="replace")
                    if "address already in use" in log:
                        return i
                    raise RuntimeError(f"NATS node {self.names[i]} exited with status "
                                       f"{proc.returncode}: {log[-600:]}")
                try:
                    wait_port(self.mqtt_ports[i], min(timeout, 1.0))
                    break
                except TimeoutError:
                    timeout -= 1.0
                    if timeout <= 0:
                        raise
        return None

    def start_node(self, i: int, wait: bool = True, timeout: float = 30.0) -> None:
        if self.alive(i):
            return
        self._logs[i] = open(self.log_path(i), "ab")
        self.procs[i] = subprocess.Popen([nats_binary(), "-c", str(self.config_path(i))],
                                         stdout=self._logs[i], stderr=subprocess.STDOUT)
        if wait:
            wait_port(self.client_ports[i], timeout)
            wait_port(self.mqtt_ports[i], timeout)

    def alive(self, i: int) -> bool:
        return self.procs[i] is not None and self.procs[i].poll() is None

    def stop_node(self, i: int, sig: int = signal.SIGTERM) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs[i] = None
        if self._logs[i] is not None:
            self._logs[i].close()
            self._logs[i] = None

    def kill(self, i: int) -> None:
        """SIGKILL one node: no goodbye to its routes, its clients see the socket die."""
        self.stop_node(i, signal.SIGKILL)

    def stop(self) -> None:
        for i in range(len(self.names)):
            self.stop_node(i)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- monitoring -------------------------------------------------------------------

    def monitor(self, i: int, path: str, timeout: float = 2.0):
        """JSON from node i's monitoring port (`/jsz`, `/healthz`, `/routez` ...)."""
        url = f"http://127.0.0.1:{self.http_ports[i]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:   # /healthz answers 503 with a JSON body
            return json.loads(exc.read() or b"{}")

    def meta_leader(self) -> str | None:
        for i in range(len(self.names)):
            if not self.alive(i):
                continue
            with contextlib.suppress(OSError, ValueError):
                leader = (self.monitor(i, "/jsz").get("meta_cluster") or {}).get("leader")
                if leader:
                    return leader
        return None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Every running node healthy (JetStream current) and a meta leader elected."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                health = [self.monitor(i, "/healthz").get("status")
                          for i in range(len(self.names)) if self.alive(i)]
                if all(h == "ok" for h in health) and self.meta_leader():
                    return
                last = health
            except (OSError, ValueError) as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"NATS cluster not ready after {timeout}s (health {last}); "
                           f"logs in {self.workdir}")

    def leader_of(self, stream: str) -> int | None:
        """Index of the node leading `stream` (from any live node's /jsz), None if unknown."""
        for i in range(len(self.names)):
            if not self.alive(i):
                continue
            with contextlib.suppress(OSError, ValueError):
                doc = self.monitor(i, "/jsz?streams=true&accounts=true")
                for account in doc.get("account_details") or []:
                    for s in account.get("stream_detail") or []:
                        if s.get("name") == stream:
                            leader = (s.get("cluster") or {}).get("leader")
                            if leader in self.names:
                                return self.names.index(leader)
        return None
