"""The hub's MQTT side of fleet updates (protocol/SPEC.md §4.7): offers, chunks, cancels and
the agents' reports; the fleet store (server_hub/fleet/store.py) holds everything.

    FleetServer(FleetStore(store), cfg.mqtt, offer_every=cfg.fleet.offer_every_s).start()

`tapcert-hub run` starts one in the main hub process (the one with the API), on its own
connection with the hub's MQTT settings (host, credentials, TLS client certificate; client id
`<mqtt.client_id>-fleet`). Every `offer_every` seconds — sooner after a station reports a
final state, so the next wave starts at once — it plans each *open* rollout only (finished
ones are never read again) and publishes, at most once per `offer_every` per station:

    station/{sid}/control  {"type": "update", ...}   to released stations not final yet
    station/{sid}/control  {"type": "cancel", ...}   to stations at work on a cancelled or
                                                     expired rollout, until they close

It serves `update/get` from an in-memory copy of the bundle and stores `update/state`.
Messages are read with protocol/boundedjson; no message can end paho's network thread (its
handler runs isolated): a refused or failing one is counted and quarantined as
`fleet_<state|get>_<why>` (store/quarantine.py refuse) and the thread goes on.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from protocol import boundedjson
from protocol.errors import RemoteProtocolError
from protocol.updatestate import FINAL
from server_hub.errors import HubError
from server_hub.fleet.rollout import CANCELLED
from server_hub.store.quarantine import failed, refuse

log = logging.getLogger("tapcert.hub.fleet")
CHUNK = 32 * 1024
MAX_CHUNK = 256 * 1024
MAX_MESSAGE = 16384           # an agent's update/get or update/state is a few hundred bytes


def mqtt_client(mqtt_cfg, client_id: str) -> paho.Client:
    """A paho client with the hub's broker settings (credentials, TLS client certificate)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=paho.MQTTv311)
    client.reconnect_delay_set(1, 30)
    if mqtt_cfg.username:
        client.username_pw_set(mqtt_cfg.username, mqtt_cfg.password or None)
    if mqtt_cfg.ca_file:
        client.tls_set(ca_certs=mqtt_cfg.ca_file, certfile=mqtt_cfg.cert_file or None,
                       keyfile=mqtt_cfg.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
    return client


class FleetServer:
    def __init__(self, fleet, mqtt_cfg, *, offer_every: float = 5.0, worker_id: str = "",
                 clock=time.monotonic, quota: int = 0):
        self.fleet, self.cfg, self.offer_every = fleet, mqtt_cfg, offer_every
        self.quota = quota            # hub.quarantine_quota, for refused messages
        client_id = mqtt_cfg.client_id + "-fleet" + (f"-{worker_id}" if worker_id else "")
        self.client = mqtt_client(mqtt_cfg, client_id)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.clock = clock
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.subscribed = threading.Event()
        self.last_sent = {}           # (kind, rollout, station) -> clock of the last message
        self.cache = {}               # bundle sha -> bytes (the few being rolled out)
        self.thread = None
        self.stats = {"offers": 0, "cancels": 0, "chunks": 0, "reports": 0, "ignored": 0}

    def start(self):
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="hub-fleet")
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.wake.set()
        if self.thread:
            self.thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()

    # -- MQTT callbacks (paho's network thread) ----------------------------------------------

    def _on_connect(self, client, userdata, flags, reason, props=None):
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the fleet-update client: %s", self.cfg.host,
                      self.cfg.port, reason)
            return
        client.subscribe([("station/+/update/get", 1), ("station/+/update/state", 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, props=None):
        if any(rc.is_failure for rc in reason_codes):
            log.error("the broker refused the fleet-update subscriptions: check its ACL allows "
                      "the hub station/+/update/#")
            return
        self.subscribed.set()
        self.wake.set()
        log.info("fleet updates: subscribed to the stations' update topics")

    def threads(self) -> dict:
        """The threads this service needs alive (server_hub/liveness.py)."""
        return {"hub-fleet": lambda: self.thread, "hub-fleet-mqtt": lambda: self.client._thread}

    def _on_message(self, client, userdata, msg):
        parts = msg.topic.split("/")
        station = parts[1] if len(parts) == 4 else ""
        kind = "fleet_" + (parts[3] if len(parts) == 4 else "message")
        try:        # paho's network thread: one message, never the thread
            self._handle(parts, msg.payload)
        except RemoteProtocolError as exc:
            refuse(self.fleet.store, self.stats, station, kind, msg.payload, exc.reason,
                   str(exc), log, self.quota)
        except Exception as exc:
            failed(self.fleet.store, self.stats, station, kind, msg.payload, exc, log,
                   self.quota)

    def _handle(self, parts, payload):
        body = boundedjson.loads_object(payload, MAX_MESSAGE)
        if len(parts) != 4:
            self.stats["ignored"] += 1
            return
        station = parts[1]
        try:
            if parts[3] == "state":
                if self.fleet.report(station, body):
                    self.stats["reports"] += 1
                    if body.get("state") in FINAL + (CANCELLED,):
                        self.wake.set()      # a wave may open: plan now
                else:
                    self.stats["ignored"] += 1
            elif parts[3] == "get":
                self._serve_chunk(station, body)
        except HubError as exc:   # the database is down: the agent reports again / asks again
            log.warning("fleet update message from %s not handled: %s", station, exc)

    def _bundle(self, sha):
        data = self.cache.get(sha)
        if data is None:
            data = self.fleet.bundle_data(sha)
            if len(self.cache) >= 4:
                self.cache.pop(next(iter(self.cache)))
            self.cache[sha] = data
        return data

    def _serve_chunk(self, station, body):
        sha, offset, length = body.get("bundle"), body.get("offset"), body.get("length")
        if not isinstance(sha, str) or not isinstance(offset, int) or \
                not isinstance(length, int) or offset < 0 or length <= 0:
            self.stats["ignored"] += 1
            return
        try:
            data = self._bundle(sha)
        except HubError:
            self.stats["ignored"] += 1
            return
        piece = data[offset:offset + min(length, MAX_CHUNK)]
        self.client.publish(f"station/{station}/update/chunk", json.dumps(
            {"bundle": sha, "offset": offset, "data": base64.b64encode(piece).decode()}), qos=1)
        self.stats["chunks"] += 1

    # -- the offer loop ------------------------------------------------------------------------

    def _due(self, key, now):
        if now - self.last_sent.get(key, -1e18) < self.offer_every:
            return False
        self.last_sent[key] = now
        return True

    def tick(self):
        now = self.clock()
        for rid in self.fleet.open_rollouts():
            rollout, offers, cancels = self.fleet.plan(rid)
            if offers:
                size = len(self._bundle(rollout.bundle))
                body = {"type": "update", "rollout": rid, "fw": rollout.fw,
                        "bundle": rollout.bundle, "size": size, "chunk": CHUNK}
                if rollout.allow_downgrade:   # an admin's audited override
                    body["allow_downgrade"] = True
                offer = json.dumps(body)
                for station in offers:
                    if self._due(("offer", rid, station), now):
                        self.client.publish(f"station/{station}/control", offer, qos=1)
                        self.stats["offers"] += 1
            if cancels:
                msg = json.dumps({"type": "cancel", "rollout": rid,
                                  "reason": rollout.cancel_reason})
                for station in cancels:
                    if self._due(("cancel", rid, station), now):
                        self.client.publish(f"station/{station}/control", msg, qos=1)
                        self.stats["cancels"] += 1
        if len(self.last_sent) > 100_000:     # forget stations of rollouts long finished
            self.last_sent = {k: v for k, v in self.last_sent.items()
                              if now - v < 10 * self.offer_every}

    def _loop(self):
        while not self.stopping.is_set():
            self.wake.wait(self.offer_every)
            self.wake.clear()
            if self.stopping.is_set():
                break
            try:
                self.tick()
            except HubError as exc:
                log.warning("fleet offers: %s (retrying)", exc)
            except Exception:      # keep offering; the next tick retries
                log.exception("fleet offers failed")
            self.stopping.wait(0.5)     # several reports at once: one plan
