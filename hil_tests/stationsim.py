"""A simulated station for hub tests, benches and hil_tests: publishes batches over real MQTT,
collects the hub's acks, and resends what is not acked (like the agent does)."""

from __future__ import annotations

import queue
import socket
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from protocol import batch as wire
from protocol import topics


class StationSim:
    def __init__(self, port: int, stations, client_id: str = "station-sim", qos: int = 1):
        self.stations = list(stations)
        self.qos = qos
        self.acks: dict[tuple[str, int], wire.Ack] = {}
        self.ack_times: dict[tuple[str, int], float] = {}
        self.all_acks: list[tuple[str, wire.Ack]] = []
        self.sent: dict[str, int] = {}          # batches published per station (resends too)
        self.events: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=True, protocol=paho.MQTTv311)
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("station simulator could not subscribe to its ack topics")

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        sock = client.socket()
        if sock is not None:          # small batches and acks: no Nagle delay (like the agent)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe([(topics.topic(s, topics.ACK), 1) for s in self.stations])

    def _on_message(self, client, userdata, message):
        station, _ = topics.parse(message.topic)
        ack = wire.decode_ack(message.payload)
        now = time.monotonic()
        with self._lock:
            key = (station, ack.batch_id)
            self.all_acks.append((station, ack))
            if key not in self.acks:
                self.ack_times[key] = now
            self.acks[key] = ack
        self.events.put((station, ack))

    def publish(self, station: str, payload: bytes, retain=False) -> None:
        self.sent[station] = self.sent.get(station, 0) + 1
        self.client.publish(topics.topic(station, topics.BATCH), payload, qos=self.qos)

    def publish_json(self, station: str, suffix: str, text: str, retain=False) -> None:
        self.client.publish(topics.topic(station, suffix), text, qos=1, retain=retain)

    def wait_ack(self, station: str, batch_id: int, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = self.acks.get((station, batch_id))
            if got is not None:
                return got
            time.sleep(0.005)
        return None

    def send_until_acked(self, station: str, batch_id: int, payload: bytes, *,
                         resend_after: float = 1.0, timeout: float = 60.0):
        """Publish and resend every `resend_after` s until the hub acks; returns the ack."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.publish(station, payload)
            got = self.wait_ack(station, batch_id, min(resend_after, deadline - time.monotonic()))
            if got is not None:
                return got
        raise TimeoutError(f"station {station} batch {batch_id}: no hub ack in {timeout}s")

    def first_ack(self, station: str, batch_id: int):
        """The first ack seen for this batch (a batch sent twice gets two; with group commit
        both may arrive together, and `acks` keeps the latest)."""
        with self._lock:
            return next((a for s, a in self.all_acks
                         if s == station and a.batch_id == batch_id), None)

    def forget(self, station: str, batch_id: int) -> None:
        with self._lock:
            self.acks.pop((station, batch_id), None)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
