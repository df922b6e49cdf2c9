"""A whole district on one machine: broker, hub, stations with agents and virtual readers.

Used by `make demo`, the hil scenarios and the chaos run. Everything runs as the real
programs (`tapcert-hub run`, `tapcert-agent run`, the firmware on the micropython binary
behind a pty) on 127.0.0.1 and private ports, under one root directory. Each station's agent
reaches the broker through its own `NetCut` proxy so one station's network can be cut.

    with District(root, stations={"S-0001": 2}) as d:
        d.start()
        event = d.tap("S-0001", 0, bytes.fromhex("04a1b2c3"))
        d.wait_synced()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hil_tests.netcut import NetCut
from hil_tests.services import Mosquitto, free_port, wait_port
from hil_tests.timescale import scale, scaled
from hil_tests.targets.virtual import VirtualReader

REPO = Path(__file__).resolve().parent.parent


class DistrictError(Exception):
    pass


class Proc:
    """One child program with its log file; stop() is SIGTERM then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None):
        self.name, self.argv, self.log_path = name, argv, log
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Proc":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=REPO,
                                     start_new_session=True)
        log.close()
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Reader:
    station: str
    label: str
    virtual: VirtualReader
    reader_id: str = ""
    public_key: str = ""


@dataclass
class Station:
    id: str
    readers: list[Reader] = field(default_factory=list)
    agent: Proc | None = None
    net: NetCut | None = None
    config: Path | None = None
    page_port: int = 0          # the agent's staff page (agent/stationpage.py)


def _py(*module_args: str) -> list[str]:
    return [sys.executable, "-m", *module_args]


class District:
    def __init__(self, root: Path, stations: dict[str, int], *, db_url: str | None = None,
                 heapsize: str | None = None, log=None, hub_settings: dict | None = None,
                 agent_settings: dict | None = None, provision: str = "cli", tls: bool = False,
                 serial_ports: list[str] | None = None, reader_target: str = "virtual",
                 reader_targets: dict[str, str] | None = None,
                 reader_heap_budget: int | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.layout = stations
        self.db_url = db_url or "sqlite:///" + str(self.root / "hub" / "hub.db")
        self.heapsize = heapsize
        self.log = log or (lambda msg: None)
        self.hub_settings = hub_settings or {}
        self.agent_settings = agent_settings or {}
        self.provision = provision  # "cli": tapcert-provision flash + enroll; "fast": image + API
        # tls: the broker takes only mTLS clients (per-station certificates from the hub's
        # fleet CA, ACL confining each station to its topics); stations get their identity
        # with `tapcert-provision station create`, as on site.
        self.tls = tls
        self.broker_port = free_port()
        # serial_ports: real readers on the bench (hil_tests/targets/serial.py), used in order
        # instead of virtual readers; they are always flashed and enrolled with the CLI.
        self.serial_ports = list(serial_ports or [])
        self.reader_target = reader_target  # "virtual" or "rp2040" (hil_tests/targets/rp2040)
        # reader_targets: a target for some readers by label ({"R-0002": "rp2040"}), others
        # take reader_target (make demo puts one emulated Pico among virtual readers)
        self.reader_targets = dict(reader_targets or {})
        # reader_heap_budget: rp2040 readers in an ESP32's heap (a /ballast leaving N bytes;
        # None: TAPCERT_RP2_HEAP_BUDGET or none), --target=rp2040:budget=N
        self.reader_heap_budget = reader_heap_budget
        if self.serial_ports:
            self.provision = "cli"
        self.broker: Mosquitto | None = None
        self.hub: Proc | None = None
        self.api_port = free_port()
        self.token = ""
        self.stations: dict[str, Station] = {}
        self._http: httpx.Client | None = None

    # lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "District":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.start_broker()
        self.start_hub()
        for sid, count in self.layout.items():
            self.add_station(sid, count)
        for sid in self.layout:
            self.start_agent(sid)

    def stop(self) -> None:
        for st in self.stations.values():
            if st.agent:
                st.agent.stop()
            for r in st.readers:
                with contextlib.suppress(Exception):
                    r.virtual.stop()
            if st.net:
                st.net.close()
        if self.hub:
            self.hub.stop()
        if self.broker:
            self.broker.stop()
        if self._http:
            self._http.close()

    # broker and hub ------------------------------------------------------------------------
    def start_broker(self) -> None:
        listener = None
        if self.tls:
            self._init_hub()
            out = self.root / "broker" / "tls"
            self.hub_cli("broker-config", "--out", str(out), "--ip", "127.0.0.1",
                         "--port", str(self.broker_port), "--bind", "127.0.0.1")
            listener = (out / "tapcert.conf").read_text()
        self.broker = Mosquitto(self.root / "broker", self.broker_port, listener_config=listener)
        self.broker.start()
        self.log(f"broker   mosquitto on 127.0.0.1:{self.broker.port}"
                 + ("  (mTLS: station certificates + per-station ACL)" if self.tls else ""))

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/dashboard"

    @property
    def hub_config(self) -> Path:
        return self.root / "hub" / "hub.toml"

    def _write_hub_config(self) -> None:
        settings = {"crediting": {"settle_every_s": 2},
                    "dashboard": {"sample_every_s": 10}}  # a chart that moves during a demo
        for section, values in self.hub_settings.items():
            settings.setdefault(section, {}).update(values)
        lines = ["[hub]", f'db = "{self.db_url}"', "", "[mqtt]", 'host = "127.0.0.1"',
                 f"port = {self.broker_port}"]
        if self.tls:
            ca = self.root / "hub" / "ca"
            lines += [f'ca_file = "{self.root / "broker" / "tls" / "ca.crt"}"',
                      f'cert_file = "{ca / "tapcert.hub.crt"}"',
                      f'key_file = "{ca / "tapcert.hub.key"}"']
        # The district lives on loopback: plain HTTP there, configured explicitly (the hub
        # refuses plain HTTP anywhere else; tests/test_security/test_tls_api.py covers HTTPS).
        lines += ["", "[api]", 'host = "127.0.0.1"', "plain_http = true",
                  f"port = {self.api_port}"]
        for section, values in settings.items():
            lines += ["", f"[{section}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        self.hub_config.parent.mkdir(parents=True, exist_ok=True)
        self.hub_config.write_text("\n".join(lines) + "\n")

    def hub_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(_py("server_hub.cli", "--config", str(self.hub_config), *args),
                              capture_output=True, text=True, cwd=REPO, timeout=120)
        if check and proc.returncode != 0:
            raise DistrictError(f"tapcert-hub {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def _init_hub(self) -> None:
        self._write_hub_config()
        token_file = self.root / "hub" / "admin.token"
        if not token_file.exists():
            self.hub_cli("init", "--admin", "demo-admin", "--token-file", str(token_file))
        self.token = token_file.read_text().strip()

    def start_hub(self) -> None:
        self._init_hub()
        self.hub = Proc("hub", _py("server_hub.cli", "--config", str(self.hub_config), "run"),
                        self.root / "logs" / "hub.log")
        self.restart_hub()
        self.log(f"hub      API http://127.0.0.1:{self.api_port}/  (db {self.db_url.split('://')[0]})")

    def restart_hub(self, *, kill: bool = False) -> None:
        if self.hub.alive:
            self.hub.kill() if kill else self.hub.stop()
        self.hub.start()
        try:
            wait_port(self.api_port, timeout=30)
        except TimeoutError:
            raise DistrictError("the hub did not start:\n" + self.hub.tail()) from None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}/api/v1",
                                      headers={"Authorization": f"Bearer {self.token}"},
                                      timeout=30)
        return self._http

    def api(self, method: str, path: str, **kw):
        resp = self.http.request(method, path, **kw)
        if resp.status_code >= 400:
            raise DistrictError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    # stations and readers ------------------------------------------------------------------
    def add_station(self, sid: str, readers: int) -> Station:
        self.api("POST", "/stations", json={"id": sid, "name": f"Station {sid}"})
        st = Station(sid, net=NetCut(self.broker_port))
        self.stations[sid] = st
        base = len([r for s in self.stations.values() for r in s.readers])
        for i in range(readers):
            self.add_reader(sid, f"R-{base + i + 1:04d}")
        return st

    def add_reader(self, sid: str, label: str) -> Reader:
        workdir = self.root / "stations" / sid / label
        if self.serial_ports:
            from hil_tests.targets.serial import SerialReader
            vr = SerialReader(self.serial_ports.pop(0), label)
        elif self.reader_targets.get(label, self.reader_target) == "rp2040":
            from hil_tests.targets.rp2040 import RP2040Reader
            vr = RP2040Reader(workdir, label=label, heap_budget=self.reader_heap_budget)
        else:
            vr = VirtualReader(workdir, label=label, heapsize=self.heapsize)
        reader = Reader(sid, label, vr)
        if self.provision == "cli":
            self._provision_with_cli(reader)
        else:
            self._provision_fast(reader)
        self.stations[sid].readers.append(reader)
        self.log(f"reader   {label} at {sid}: reader id {reader.reader_id}, port {vr.port}")
        return reader

    def _provision_with_cli(self, reader: Reader) -> None:
        vr = reader.virtual
        vr.install_firmware(files={}, config={})  # a blank board with MicroPython on it
        vr.start()
        env = dict(os.environ, TAPCERT_HUB=f"http://127.0.0.1:{self.api_port}",
                   TAPCERT_TOKEN=self.token)
        enroll = ["enroll", "--port", vr.port, "--station", reader.station,
                  "--label", reader.label, "--test-mode"]
        flash = ["flash", "--port", vr.port]
        if not isinstance(vr, VirtualReader):
            # a bench reader keeps its journal and key between runs: a fresh identity gives
            # each run a reader whose history starts now (its old records are hub-synced)
            enroll.append("--rekey")
        # an emulated chip (rp2040) boots the firmware in tens of seconds, not one
        wait = getattr(vr, "link_timeout", None)  # scaled by TAPCERT_TIMEOUT_SCALE
        if wait is not None:
            flash += ["--timeout", str(wait)]
            enroll += ["--timeout", str(wait)]
        for args in (flash, enroll):
            proc = subprocess.run(_py("provisioning.cli", "-q", *args), capture_output=True,
                                  text=True, cwd=REPO, env=env,
                                  timeout=300 + 2 * (wait or 0))
            if proc.returncode != 0:
                raise DistrictError(f"tapcert-provision {args[0]} {reader.label}: "
                                    f"{proc.stderr.strip() or proc.stdout.strip()}")
        self._learn_identity(reader)

    def _provision_fast(self, reader: Reader) -> None:
        vr = reader.virtual
        vr.install_firmware(config={"label": reader.label, "station": reader.station,
                                    "auto_keygen": True, "test_mode": True})
        vr.start()
        self._learn_identity(reader)
        self.api("POST", "/readers", json={"station_id": reader.station,
                                           "public_key": reader.public_key,
                                           "label": reader.label})

    def _learn_identity(self, reader: Reader) -> None:
        from hil_tests.linkprobe import query_health
        # an emulated chip boots the firmware in tens of seconds, not one
        health = query_health(reader.virtual.port, timeout=getattr(reader.virtual, "link_timeout", 20))
        reader.public_key = health.get("pk", "")
        reader.reader_id = health.get("rid", "")
        if not reader.public_key:
            raise DistrictError(f"reader {reader.label} reports no public key: {health}")

    def start_agent(self, sid: str) -> None:
        st = self.stations[sid]
        adir = self.root / "stations" / sid / "agent"
        adir.mkdir(parents=True, exist_ok=True)
        sync = {"linger_ms": 20, "drain_start_jitter_s": 0.0, "ack_timeout_s": 5.0,
                "backoff_max_s": 10.0}
        sync.update(self.agent_settings.get("sync", {}))
        mqtt = {"host": "127.0.0.1", "port": st.net.port, "keepalive_s": 5,
                "reconnect_min_s": 0.5, "reconnect_max_s": 3.0}
        mqtt.update(self.agent_settings.get("mqtt", {}))
        ports = [r.virtual.port for r in st.readers]
        if self.tls:
            mqtt.update(self._station_identity(sid, adir))
        sections = {"mqtt": mqtt, "readers": {"ports": ports, "rescan_s": 0.5},
                    "queue": {"path": str(adir / "queue.db")}, "sync": sync,
                    "status": {"health_interval_s": 5.0, "log_format": "text",
                               "http_port": st.page_port or free_port()}}
        st.page_port = sections["status"]["http_port"]
        lines = [f'station = "{sid}"']
        for section, values in sections.items():
            lines += ["", f"[{section}]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        st.config = adir / "agent.toml"
        st.config.write_text("\n".join(lines) + "\n")
        st.agent = Proc(f"agent {sid}", _py("agent.cli", "run", "--config", str(st.config)),
                        self.root / "logs" / f"agent-{sid}.log")
        st.agent.start()
        from agent import config as agent_config
        from agent.service import control_socket_path
        control = control_socket_path(agent_config.load(st.config, env={}))
        for r in st.readers:
            if hasattr(r.virtual, "control_path"):
                r.virtual.control_path = control
        self.wait_agent_ready(sid)
        self.log(f"agent    {sid}: {len(ports)} readers, broker via 127.0.0.1:{st.net.port}")

    def wait_agent_ready(self, sid: str, timeout: float = 30.0) -> None:
        """Until the agent runs and every reader's link is up (its clock is then set).
        `timeout` is stretched by TAPCERT_TIMEOUT_SCALE (wait_for), and is at least the
        station's slowest reader's first-health allowance: an emulated RP2040 (link_timeout,
        180 s scaled) answers its first health request after a replug or reboot in tens of
        seconds, far slower in the ESP32 heap budget (scenario 3 ran out of a fixed 30 s)."""
        st = self.stations[sid]
        want = {r.reader_id for r in st.readers if r.reader_id}
        slowest = max((getattr(r.virtual, "link_timeout", 0) or 0 for r in st.readers),
                      default=0)
        timeout = max(timeout, slowest / scale())  # link_timeout is scaled already

        def ready():
            if not st.agent.alive:
                raise DistrictError(f"the agent of {sid} exited:\n{st.agent.tail()}")
            readers = (self.agent_status(sid).get("status") or {}).get("readers") or []
            online = {r.get("rid") for r in readers if r.get("online") and r.get("health")}
            return want <= online
        self.wait_for(ready, timeout, f"the agent of {sid} and its readers", every=0.2)

    def _station_identity(self, sid: str, adir: Path) -> dict:
        """`tapcert-provision station create`: key on the 'Pi', certificate from the hub."""
        out = adir / "identity"
        env = dict(os.environ, TAPCERT_HUB=f"http://127.0.0.1:{self.api_port}",
                   TAPCERT_TOKEN=self.token)
        proc = subprocess.run(_py("provisioning.cli", "-q", "station", "create", sid, "--out",
                                  str(out), "--broker", f"127.0.0.1:{self.stations[sid].net.port}"),
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
        if proc.returncode != 0:
            raise DistrictError(f"tapcert-provision station create {sid}: "
                                f"{proc.stderr.strip() or proc.stdout.strip()}")
        import tomllib
        made = tomllib.loads((out / "agent.toml").read_text()).get("mqtt", {})
        return {k: made[k] for k in ("tls", "ca_file", "cert_file", "key_file") if k in made}

    # actions -------------------------------------------------------------------------------
    def reader(self, sid: str, index: int) -> Reader:
        return self.stations[sid].readers[index]

    def tap(self, sid: str, index: int, uid: bytes, kind: int = 1, timeout: float = 5.0) -> dict:
        return self.reader(sid, index).virtual.tap(uid, kind, timeout=timeout)

    def push_blocked_cards(self, sid: str, timeout: float = 30.0) -> dict:
        """Until every reader of the station holds the hub's current blocked-card list: the
        hub publishes it within a second of a card's status change, the agent forwards it as
        B frames, and each reader's health (`blocked` count, `bcrc`) must match the hub's.
        Returns the hub's summary ({"list_version", "count", "crc"})."""
        want = self.api("GET", f"/stations/{sid}/blocked")
        rids = {r.reader_id for r in self.stations[sid].readers}

        def held():
            readers = (self.agent_status(sid).get("status") or {}).get("readers") or []
            health = {r.get("rid"): r.get("health") or {} for r in readers}
            return all(health.get(rid, {}).get("blocked") == want["count"]
                       and health.get(rid, {}).get("bcrc") == want["crc"] for rid in rids)
        self.wait_for(held, timeout, f"the readers of {sid} to hold blocked-card list "
                      f"v{want['list_version']} ({want['count']} cards)", every=0.3)
        return want

    def cut_network(self, sid: str) -> None:
        self.stations[sid].net.cut()

    def heal_network(self, sid: str) -> None:
        self.stations[sid].net.heal()

    def agent_status(self, sid: str) -> dict:
        st = self.stations[sid]
        proc = subprocess.run(_py("agent.cli", "status", "--config", str(st.config), "--json"),
                              capture_output=True, text=True, cwd=REPO, timeout=30)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return {"error": (proc.stderr or proc.stdout).strip()}

    def statement(self, learner: str) -> dict:
        return self.api("GET", f"/learners/{learner}/statement")

    def sync_report(self) -> list[dict]:
        return self.api("GET", "/sync")

    def wait_for(self, predicate, timeout: float, what: str, every: float = 0.5):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(every)
        raise DistrictError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")

    # fault hooks (the chaos run, hil_tests/chaos.py) -------------------------------------
    def agent_dir(self, sid: str) -> Path:
        """The station's agent directory: its config, queue.db and status.json."""
        return self.root / "stations" / sid / "agent"

    def kill_agent(self, sid: str) -> None:
        """SIGKILL the station's agent (its whole process group), as a crash or power loss."""
        self.stations[sid].agent.kill()

    def revive_agent(self, sid: str) -> None:
        """Start the station's agent again with the same config (after kill_agent)."""
        st = self.stations[sid]
        if not st.agent.alive:
            st.agent.start()

    def kill_hub(self) -> None:
        self.hub.kill()

    def revive_hub(self) -> None:
        if not self.hub.alive:
            self.hub.start()

    def kill_broker(self) -> None:
        self.broker.kill()

    def revive_broker(self) -> None:
        if self.broker.proc is None or self.broker.proc.poll() is not None:
            self.broker.start()
