"""mqttlink: the hub's MQTT adapter (paho-mqtt behind a small surface).

    station/+/batch   QoS 1  -> pipeline.handle_batch -> COMMIT -> ack on station/{id}/ack QoS 1
                             (several queued: pipeline.handle_batches, one COMMIT, then the acks)
    station/+/status  QoS 1  -> latest status per station (retained; Last Will = offline)
    station/+/health  QoS 0  -> latest health per station
    station/{id}/blocked     <- the blocked-card list, retained (publish_retained, blocklist.py)

The session is persistent (MQTT v5, clean start off, session expiry `mqtt.session_expiry_s`)
and messages are acknowledged to the broker manually, after the database commit and after
our ack was handed to the client: a hub killed at any point gets the batch again from the
broker when it is back within the session expiry (and the agent resends until it sees our
ack anyway). Correctness never rests on the broker: a batch handled twice is acked as
duplicates (SPEC §4.2).

Scaling down (`mqtt.shared`): Mosquitto gives a `$share` member its turn while its session
lives, connected or not, so a worker that stops cleanly leaves the share: it unsubscribes
the batch topic, handles what it already holds, and disconnects with session expiry 0 (the
broker forgets it; the other workers get every batch). A killed worker's session holds its
turns for at most `mqtt.session_expiry_s`; the agents resend those batches (docs/hub.md).

One worker thread handles messages; paho's network thread only queues them, per station,
and the worker serves the stations round-robin (fairqueue.py): a station flooding the hub
cannot starve the others, and what it sends beyond `mqtt.max_queued_per_station` messages
waiting at the hub is acknowledged to the broker unhandled (shed, counted, logged) -- its
agent resends until it sees the hub's ack, so nothing is lost.
When more than one batch is waiting, the worker takes up to `hub.group_max_batches` of them
(never waiting for more) and commits them in one transaction (groupcommit.py; large batches
go alone: groupcommit.MAX_RECORDS); each ack is
published and each message released only after that commit, in order.
A database outage is retried with backoff without losing the message. No message can stop
the worker: each is handled on its own, and one the hub fails on for any other reason (a bug,
an input nobody foresaw) is quarantined with its reason (`batch_hub_error`, or the station
message's refusal, stationmsg.py), counted and released to the broker -- never redelivered
for ever. A failed batch gets no hub ack, so its agent keeps it and resends (custody); the
quarantine row holds its bytes once. paho's network thread only queues (and cannot be ended
by a message either). `threads()` names both threads for the hub's liveness (/healthz).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol import topics
from protocol.errors import RemoteProtocolError
from server_hub.ingest import groupcommit, stationmsg
from server_hub.errors import StoreError
from server_hub.ingest.fairqueue import FairQueue
from server_hub.store import quarantine

log = logging.getLogger("tapcert.hub.mqtt")


class MQTTLink:
    def __init__(self, mqtt_cfg, pipeline, *, pause_before_ack_s: float = 0.0,
                 worker_id: str = ""):
        self.cfg = mqtt_cfg
        self.pipeline = pipeline
        self.store = pipeline.store
        self.pause_before_ack_s = pause_before_ack_s
        client_id = mqtt_cfg.client_id + (f"-{worker_id}" if worker_id else "")
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv5, manual_ack=True)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 30)
        if mqtt_cfg.username:
            self.client.username_pw_set(mqtt_cfg.username, mqtt_cfg.password or None)
        if mqtt_cfg.ca_file:
            self.client.tls_set(ca_certs=mqtt_cfg.ca_file, certfile=mqtt_cfg.cert_file or None,
                                keyfile=mqtt_cfg.key_file or None,
                                cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._queue = FairQueue(getattr(mqtt_cfg, "max_queued_per_station", 16))
        self._left_share = threading.Event()    # UNSUBACK for the shared batch topic
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.connected = threading.Event()
        self.connections = 0                    # broker connections made so far
        self.subscribed = threading.Event()     # set once the broker granted our topics
        self.stats = {"batches": 0, "records": 0, "acks": 0, "errors": 0, "status": 0,
                      "health": 0, "ignored": 0, "shed": 0, "groups": 0}
        self.outcomes: dict[str, int] = {}

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="hub-ingest", daemon=True)
        self._worker.start()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = max(0, int(getattr(self.cfg, "session_expiry_s", 60)))
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; a shared worker first leaves the share and ends its session (module doc)."""
        deadline = time.monotonic() + timeout
        leave = bool(self.cfg.shared) and self.subscribed.is_set()
        if leave:
            self.client.on_unsubscribe = lambda *_a, **_k: self._left_share.set()
            self.client.unsubscribe(topics.subscription(topics.BATCH, shared=True))
            if not self._left_share.wait(max(0.1, deadline - time.monotonic())):
                log.warning("the MQTT broker did not confirm the hub left the shared "
                            "subscription; batches it still sends wait for their agents' resend")
            else:
                log.info("left the shared subscription; handling the %d batches received",
                         len(self._queue))
            self._queue.drain()      # what the broker sent before its UNSUBACK is handled
            if self._worker is not None:
                self._worker.join(max(0.1, deadline - time.monotonic()))
        self._stopping.set()
        self._queue.close()
        if self._worker is not None:
            self._worker.join(max(0.1, deadline - time.monotonic()))
        if leave:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0       # the broker forgets this worker's session
            self.client.disconnect(properties=props)
        else:
            self.client.disconnect()
        self.client.loop_stop()

    # --- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            log.error("MQTT broker %s:%s refused the hub: %s", self.cfg.host, self.cfg.port,
                      reason_code)
            return
        sock = client.socket()
        if sock is not None and hasattr(sock, "setsockopt"):
            # acks are small and latency matters: do not let Nagle hold them back
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe([(topics.subscription(topics.BATCH, shared=self.cfg.shared), 1),
                          (topics.subscription(topics.STATUS), 1),
                          (topics.subscription(topics.HEALTH), 0)])
        self.connections += 1
        self.connected.set()
        log.info("connected to MQTT broker %s:%s (session present: %s)", self.cfg.host,
                 self.cfg.port, flags.session_present)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("the MQTT broker refused the hub's subscriptions: %s; check its ACL",
                      failed)
            return
        self.subscribed.set()
        log.info("subscribed to station topics")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        self.connected.clear()
        self.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("lost the MQTT broker %s:%s (%s); reconnecting", self.cfg.host,
                        self.cfg.port, reason_code)

    def _on_message(self, client, userdata, message):
        try:        # paho's network thread: nothing a message holds may end it
            self._enqueue(message)
        except Exception:
            self.stats["errors"] += 1
            log.exception("a message on %r could not be queued; released unhandled",
                          message.topic)
            self._release(message.mid, message.qos)

    def _enqueue(self, message):
        try:
            station = topics.parse(message.topic)[0]
        except RemoteProtocolError:
            station = ""
        if not self._queue.put(station, (message.topic, message.payload, message.mid,
                                         message.qos)):
            self.stats["shed"] += 1
            shed = self._queue.shed[station]
            if shed == 1 or shed % 1000 == 0:
                log.warning("station %s floods the hub: %d messages over the %d it may have "
                            "waiting were set aside unhandled (its agent resends what matters); "
                            "check the station's agent", station, shed,
                            self._queue.per_station)
            self._release(message.mid, message.qos)

    # --- worker --------------------------------------------------------------------------

    def threads(self) -> dict:
        """The threads this link needs alive (server_hub/liveness.py)."""
        return {"hub-ingest": lambda: self._worker, "hub-mqtt": lambda: self.client._thread}

    def _work(self) -> None:
        hub_cfg = getattr(self.pipeline.config, "hub", None)
        most = max(1, int(getattr(hub_cfg, "group_max_batches", 1) or 1))
        crash = getattr(getattr(self.pipeline.config, "testing", None), "crash_ingest", False)
        while True:
            got = self._queue.get_many(most)
            if not got:
                return
            if crash:       # tests only: a worker that dies (test_security/test_dead_worker.py)
                raise RuntimeError("testing.crash_ingest: the ingest worker dies on purpose")
            batches = []
            for _, (topic, payload, mid, qos) in got:
                try:
                    self._sort(topic, payload, mid, qos, batches)
                except Exception as exc:
                    self._failed(topic, payload, exc)
                    self._release(mid, qos)
            for group in groupcommit.split(batches, most):
                try:
                    if len(group) == 1:
                        self._handle_batch(*group[0])
                    else:
                        self._handle_group(group)
                except Exception as exc:    # past the handlers' own isolation: still only these
                    for station, payload, mid, qos in group:
                        self._failed(topics.topic(station, topics.BATCH), payload, exc)
                        self._release(mid, qos)

    def _sort(self, topic, payload, mid, qos, batches) -> None:
        try:
            station, suffix = topics.parse(topic)
        except RemoteProtocolError:
            self.stats["ignored"] += 1
            self._release(mid, qos)
            return
        if suffix == topics.BATCH:
            batches.append((station, payload, mid, qos))
        elif suffix in (topics.STATUS, topics.HEALTH):
            self._handle_json(station, suffix, payload)
            self._release(mid, qos)
        else:
            self.stats["ignored"] += 1
            self._release(mid, qos)

    def _failed(self, topic, payload, exc) -> None:
        """The hub failed on this message (not the database): quarantine it, count it."""
        self.stats["errors"] += 1
        try:
            station, suffix = topics.parse(topic)
        except RemoteProtocolError:
            station, suffix = "", "message"
        quarantine.failed(self.store, self.stats, station, suffix, payload, exc, log,
                          self._quota())

    def _quota(self) -> int:
        return int(getattr(getattr(self.pipeline.config, "hub", None), "quarantine_quota", 0) or 0)

    def _release(self, mid, qos) -> None:
        if qos:
            self.client.ack(mid, qos)

    def _handle_batch(self, station, payload, mid, qos) -> None:
        delay = 0.5
        while True:
            try:
                result = self.pipeline.handle_batch(station, payload)
                break
            except StoreError as exc:
                if self._stopping.is_set():
                    return      # not acked: the broker and the agent will deliver it again
                log.error("database error on station %s batch: %s; retrying in %.0fs", station,
                          exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)
            except Exception as exc:
                self._failed(topics.topic(station, topics.BATCH), payload, exc)
                self._release(mid, qos)
                return
        self._committed(station, result)
        if self.pause_before_ack_s:
            time.sleep(self.pause_before_ack_s)
        self._ack_out(station, result, mid, qos)

    def _handle_group(self, batches) -> None:
        """Group commit (hub.group_max_batches): the queued batches in one transaction, then
        each ack and each release to the broker, in order, all after that commit."""
        delay = 0.5
        while True:
            try:
                results = self.pipeline.handle_batches([(b[0], b[1]) for b in batches])
                break
            except StoreError as exc:
                if self._stopping.is_set():
                    return      # nothing acked: the broker and the agents deliver them again
                log.error("database error on a group of %d batches: %s; retrying in %.0fs",
                          len(batches), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30)
            except Exception:
                log.exception("hub failed on a group of %d batches; handling them one by one",
                              len(batches))
                for b in batches:
                    self._handle_batch(*b)
                return
        self.stats["groups"] += 1
        log.info("group of %d batches committed in one transaction", len(batches))
        done = []
        for (station, payload, mid, qos), result in zip(batches, results):
            if result.error is None:
                self._committed(station, result)
                done.append(("ack", station, result, mid, qos))
            elif isinstance(result.error, StoreError):
                done.append(("alone", station, payload, mid, qos))   # with its retries
            else:
                self._failed(topics.topic(station, topics.BATCH), payload, result.error)
                done.append(("release", station, None, mid, qos))
        if self.pause_before_ack_s:
            time.sleep(self.pause_before_ack_s)
        for what, station, got, mid, qos in done:
            if what == "ack":
                self._ack_out(station, got, mid, qos)
            elif what == "alone":
                self._handle_batch(station, got, mid, qos)
            else:
                self._release(mid, qos)

    def _committed(self, station, result) -> None:
        self.stats["batches"] += 1
        for name, n in result.counts.items():
            self.outcomes[name] = self.outcomes.get(name, 0) + n
            self.stats["records"] += n
        log.info("station %s batch %s committed: %s", station, result.batch_id,
                 " ".join(f"{k}={v}" for k, v in sorted(result.counts.items())))

    def _ack_out(self, station, result, mid, qos) -> None:
        if result.ack is not None:
            self.client.publish(topics.topic(station, topics.ACK), result.ack, qos=1)
            self.stats["acks"] += 1
        self._release(mid, qos)

    def _handle_json(self, station, kind, payload) -> None:
        stationmsg.save(self.store, self.stats, station, kind, payload, log, self._quota())

    def connection(self):
        """The number of the current broker connection, None while disconnected."""
        return self.connections if self.connected.is_set() else None

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        """One retained QoS 1 message; False if it could not be queued (no connection)."""
        if not self.connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=1, retain=True)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def idle(self) -> bool:
        return len(self._queue) == 0
