"""Simulated station agents for scale and failover runs: they publish batches over MQTT 3.1.1,
resend every batch until the hub acks it, and reconnect to another broker node when theirs
dies — the agent's custody rule (design.md, guarantee 1) without readers or a queue on disk.

    fleet = StationFleet([p1, p2, p3], batches, agents=4, rate=300)   # records/s, None = flat out
    fleet.start()
    fleet.wait(timeout=300)      # True once every batch is acked
    fleet.stop(); fleet.stats()

`batches` are (station, batch_id, record count, payload) in each station's send order. The
stations are dealt round-robin to `agents` MQTT connections (agent k starts on node k mod n);
each station keeps up to `window` batches unacked and resends one that has had no ack for
`resend_s`, or at once after a reconnect. Ack subscriptions are QoS 0 by default: acks
published from the NATS side arrive at QoS 0 anyway, and a QoS 1 subscription costs the NATS
cluster a JetStream consumer per subscription. `on_ack(station, batch_id, ack)` runs on the
MQTT thread at the first ack of each batch (tests check there that its records are committed).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from protocol import batch as wire
from protocol import topics
from protocol.errors import ProtocolError

GOOD = (wire.ACCEPTED, wire.DUPLICATE)


@dataclass
class Pending:
    station: str
    batch_id: int
    count: int
    payload: bytes
    sent_at: float | None = None
    sends: int = 0
    acked_at: float | None = None


class Agent(threading.Thread):
    def __init__(self, fleet: "StationFleet", index: int, stations: list[str]):
        super().__init__(name=f"station-agent-{index}", daemon=True)
        self.fleet = fleet
        self.index = index
        self.client_id = f"{fleet.prefix}-{index}"
        self.stations = stations
        self.queues = {s: [b for b in fleet.by_station[s]] for s in stations}
        self.inflight: dict[str, list[Pending]] = {s: [] for s in stations}
        self.node = index % len(fleet.ports)
        self.client = None
        self.connected = threading.Event()
        self.rate = fleet.rate / len(fleet.agents_plan) if fleet.rate else None
        self.tokens = 0.0

    # --- connection ------------------------------------------------------------------

    def _connect(self) -> bool:
        port = self.fleet.ports[self.node % len(self.fleet.ports)]
        self.node += 1
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             clean_session=True, protocol=paho.MQTTv311)
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        subscribed = threading.Event()
        connack = threading.Event()

        def on_connect(c, userdata, flags, rc, properties=None):
            if not rc.is_failure:
                sock = c.socket()
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connack.set()

        client.on_connect = on_connect
        client.on_subscribe = lambda *a, **k: subscribed.set()
        client.on_disconnect = lambda *a, **k: self.connected.clear()
        client.on_message = self._on_message
        try:
            client.connect("127.0.0.1", port, keepalive=15)
        except OSError:
            return False
        client.loop_start()
        ok = connack.wait(self.fleet.connect_timeout)
        if ok:
            client.subscribe([(topics.topic(s, topics.ACK), self.fleet.ack_qos)
                              for s in self.stations])
            ok = subscribed.wait(self.fleet.connect_timeout)
        if not ok:
            self._drop(client)
            return False
        self.client = client
        self.connected.set()
        self.fleet.count("connects")
        if self.fleet.stats_["connects"] > len(self.fleet.agents_plan):
            self.fleet.count("reconnects")
        with self.fleet.lock:      # everything unacked goes again on the new connection
            for batches in self.inflight.values():
                for b in batches:
                    b.sent_at = None
        return True

    @staticmethod
    def _drop(client) -> None:
        with contextlib.suppress(Exception):
            client.disconnect()
        with contextlib.suppress(Exception):
            client.loop_stop()

    # --- acks (paho's thread) ----------------------------------------------------------

    def _on_message(self, client, userdata, message):
        fleet = self.fleet
        try:
            station, _ = topics.parse(message.topic)
            ack = wire.decode_ack(message.payload)
        except (ProtocolError, ValueError):
            fleet.count("bad_acks")
            return
        now = time.monotonic()
        with fleet.lock:
            batches = self.inflight.get(station, [])
            hit = next((b for b in batches if b.batch_id == ack.batch_id), None)
            if hit is None:
                fleet.stats_["late_acks"] += 1      # an ack for a batch acked before
                return
            batches.remove(hit)
            hit.acked_at = now
            fleet.acked_batches += 1
            fleet.acked_records += hit.count
            fleet.last_ack = now
            if ack.status != wire.BATCH_OK or any(o not in GOOD for o in ack.outcomes) \
                    or len(ack.outcomes) != hit.count:
                fleet.bad.append((station, ack.batch_id, ack.status, bytes(ack.outcomes)))
            fleet.stats_["duplicate_records"] += ack.outcomes.count(wire.DUPLICATE)
            fleet.gaps.append(now - (fleet.prev_ack or fleet.started))
            fleet.prev_ack = now
        if fleet.on_ack is not None:
            fleet.on_ack(station, ack.batch_id, ack)

    # --- sending -----------------------------------------------------------------------

    def run(self) -> None:
        fleet = self.fleet
        last = time.monotonic()
        while not fleet.stopping.is_set() and not self.finished():
            if not self.connected.is_set():
                if self.client is not None:
                    self._drop(self.client)
                    self.client = None
                    fleet.count("disconnects")
                if not self._connect():
                    time.sleep(0.25)
                continue
            now = time.monotonic()
            if self.rate:
                self.tokens = min(self.tokens + (now - last) * self.rate, 4 * self.rate + 1000)
            last = now
            self.pump(now)
            time.sleep(0.005)
        if self.client is not None:
            self._drop(self.client)

    def pump(self, now: float) -> None:
        fleet = self.fleet
        out = []
        with fleet.lock:
            for s in self.stations:
                flying = self.inflight[s]
                for b in flying:
                    if b.sent_at is None or now - b.sent_at >= fleet.resend_s:
                        out.append(b)
                queue = self.queues[s]
                while queue and len(flying) < fleet.window:
                    if self.rate and self.tokens < queue[0].count:
                        break
                    b = queue.pop(0)
                    self.tokens -= b.count if self.rate else 0
                    flying.append(b)
                    out.append(b)
            for b in out:
                if b.sends:
                    fleet.stats_["resends"] += 1
                b.sends += 1
                b.sent_at = now
        for b in out:
            self.client.publish(topics.topic(b.station, topics.BATCH), b.payload, qos=1)
        fleet.stats_["publishes"] += len(out)

    def finished(self) -> bool:
        with self.fleet.lock:
            return not any(self.queues.values()) and not any(self.inflight.values())


class StationFleet:
    def __init__(self, ports: list[int], batches, *, agents: int = 4, window: int = 2,
                 resend_s: float = 5.0, rate: float | None = None, ack_qos: int = 0,
                 on_ack=None, prefix: str = "station-agent", connect_timeout: float = 10.0):
        self.ports = list(ports)
        self.window = window
        self.resend_s = resend_s
        self.rate = rate
        self.ack_qos = ack_qos
        self.on_ack = on_ack
        self.prefix = prefix
        self.connect_timeout = connect_timeout
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.by_station: dict[str, list[Pending]] = {}
        for station, batch_id, count, payload in batches:
            self.by_station.setdefault(station, []).append(
                Pending(station, batch_id, count, payload))
        self.total_batches = sum(len(v) for v in self.by_station.values())
        self.total_records = sum(b.count for v in self.by_station.values() for b in v)
        stations = list(self.by_station)
        n = max(1, min(agents, len(stations)))
        self.agents_plan = [stations[k::n] for k in range(n)]
        self.agents = [Agent(self, k, plan) for k, plan in enumerate(self.agents_plan)]
        self.acked_batches = 0
        self.acked_records = 0
        self.bad: list = []
        self.gaps: list[float] = []       # time between consecutive first acks
        self.started = self.last_ack = self.prev_ack = None
        self.stats_ = {"publishes": 0, "resends": 0, "connects": 0, "reconnects": 0,
                       "disconnects": 0, "late_acks": 0, "duplicate_records": 0, "bad_acks": 0}

    def count(self, name: str) -> None:
        with self.lock:
            self.stats_[name] += 1

    def start(self) -> "StationFleet":
        self.started = time.monotonic()
        for a in self.agents:
            a.start()
        return self

    def done(self) -> bool:
        return self.acked_batches >= self.total_batches

    def progress(self) -> float:
        return self.acked_records / self.total_records if self.total_records else 1.0

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.done():
                return True
            time.sleep(0.05)
        return self.done()

    def stop(self) -> None:
        self.stopping.set()
        for a in self.agents:
            a.join(10)

    def stats(self) -> dict:
        with self.lock:
            out = dict(self.stats_)
            out.update(batches=self.total_batches, records=self.total_records,
                       acked_batches=self.acked_batches, acked_records=self.acked_records,
                       bad=len(self.bad),
                       longest_ack_gap_s=round(max(self.gaps), 2) if self.gaps else None)
        if self.started is not None and self.last_ack is not None:
            out["elapsed_s"] = round(self.last_ack - self.started, 2)
        return out
