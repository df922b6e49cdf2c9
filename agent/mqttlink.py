"""The agent's MQTT connection: a thin adapter over paho-mqtt (SPEC §4, §5).

MQTT 3.1.1, QoS 1, clean_session=False with a stable client id (the broker keeps our
subscription and queues hub acks while we are away), reconnect forever with backoff, TLS with
a client certificate when configured, a retained `online` status on every connect and
`offline` as the Last Will. Both carry the last known queue figures (`queue`: pending,
inflight, oldest_pending, as_of); `publish_status` sends a fresh retained copy when they
change (agent/backlogstatus.py paces it) and re-arms the Will with them for the next connect. paho's network thread runs the connection; everything it hears
is posted to the core as events:

    ("mqtt_up", session_present)   ("mqtt_down", reason)   ("hub_ack", payload bytes)
    ("blocked_list", payload bytes)   (the hub's retained blocked-card list, SPEC 4.6)

The broker's PUBACK is not custody: the core resends a batch until the hub acks it.
"""

from __future__ import annotations

import json
import logging
import ssl
import time

import paho.mqtt.client as mqtt

from agent.logs import note
from protocol import boundedjson, topics
from protocol.errors import LocalProtocolError

log = logging.getLogger("agent.mqtt")
paho_log = logging.getLogger("agent.paho")


def _not_connected_is_normal(record):
    # paho's network thread logs "Client is not connected" at ERROR each time it runs between
    # a closed socket and the next connect: while it retries an unreachable broker and when
    # we stop on purpose. The link reports outages itself (WARNING, in words), so this is
    # debug noise, not an error for the journal.
    if record.levelno >= logging.ERROR and str(record.msg).startswith("Client is not connected"):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return paho_log.isEnabledFor(logging.DEBUG)
    return True


paho_log.addFilter(_not_connected_is_normal)

_MAX_ACK_BYTES = 14 + 1000  # SPEC §4.2: the largest ack there can be
_MAX_BLOCKED_BYTES = 10 + 11 * 1000  # SPEC §4.6: the largest blocked-card list


def parse_brokers(hosts, default_port):
    """'a, b:1884' -> [('a', default_port), ('b', 1884)]."""
    out = []
    for item in str(hosts).split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if sep and port.isdigit() and host and "]" not in port:
            out.append((host.strip("[]"), int(port)))
        else:
            out.append((item, default_port))
    return out or [("127.0.0.1", default_port)]


class MQTTLink:
    def __init__(self, cfg, post, version, clock=time.time):
        self.station = cfg.station
        # mqtt.host may list several brokers ("a,b:1884,c"): the nodes of a cluster. The link
        # moves to the next one whenever a connection fails or drops (SPEC 5; docs/scale.md).
        self.brokers = parse_brokers(cfg.mqtt.host, cfg.mqtt_port())
        self._broker_index = 0
        self.host, self.port = self.brokers[0]
        self._cfg = cfg.mqtt
        self._post = post
        self._version = version
        self._clock = clock
        self.topic_batch = topics.topic(cfg.station, topics.BATCH)
        self.topic_ack = topics.topic(cfg.station, topics.ACK)
        self.topic_status = topics.topic(cfg.station, topics.STATUS)
        self.topic_health = topics.topic(cfg.station, topics.HEALTH)
        self.topic_control = topics.topic(cfg.station, topics.CONTROL)
        self.topic_blocked = topics.topic(cfg.station, topics.BLOCKED)
        self.connected = False
        self.failed_attempts = 0
        self._stopping = False
        self.queue = None        # the last queue figures published (None: none known yet)
        self._since = int(self._clock())
        self.client = self._make_client(cfg.client_id())

    def _status(self, state, since=None):
        doc = {"v": 1, "state": state, "since": int(self._clock()) if since is None else since,
               "agent": self._version}
        if self.queue is not None:
            doc["queue"] = self.queue
        return json.dumps(doc, separators=(",", ":")).encode()

    def _arm_will(self, client):
        # the Will carries the connect time as `since` and the newest figures we know; paho
        # sends it with the next CONNECT (the broker keeps the one of the current session)
        client.will_set(self.topic_status, self._status("offline", self._since), qos=1,
                        retain=True)

    def _make_client(self, client_id):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                        protocol=mqtt.MQTTv311)
        c.enable_logger(paho_log)
        cfg = self._cfg
        if cfg.tls:
            c.tls_set(ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None,
                      keyfile=cfg.key_file or None, cert_reqs=ssl.CERT_REQUIRED,
                      tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if cfg.username:
            c.username_pw_set(cfg.username, cfg.password or None)
        self._arm_will(c)
        c.reconnect_delay_set(min_delay=max(1, int(cfg.reconnect_min_s)),
                              max_delay=max(1, int(cfg.reconnect_max_s)))
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        return c

    # -- lifecycle ------------------------------------------------------------------------

    def start(self):
        self.client.connect_async(self.host, self.port, keepalive=self._cfg.keepalive_s)
        self.client.loop_start()

    def stop(self, timeout=3.0):
        """Say goodbye (retained offline status), disconnect, stop the network thread."""
        self._stopping = True
        if self.connected:
            info = self.client.publish(self.topic_status, self._status("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    # -- paho callbacks (paho's thread) ---------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.failed_attempts += 1
            note(log, logging.ERROR, "broker refused the connection: {}".format(_advice(reason_code)),
                 broker="{}:{}".format(self.host, self.port), reason=str(reason_code))
            self._post(("mqtt_down", "refused: {}".format(reason_code)))
            return
        self.connected = True
        self.failed_attempts = 0
        self._since = int(self._clock())
        client.subscribe([(self.topic_ack, 1), (self.topic_control, 1), (self.topic_blocked, 1)])
        client.publish(self.topic_status, self._status("online", self._since), qos=1, retain=True)
        note(log, logging.INFO, "connected to broker", broker="{}:{}".format(self.host, self.port),
             session_present=bool(flags.session_present))
        self._post(("mqtt_up", bool(flags.session_present)))

    def _next_broker(self, client):
        """Point paho's automatic reconnect at the next broker of the list, if there are more."""
        if len(self.brokers) < 2:
            return
        self._broker_index = (self._broker_index + 1) % len(self.brokers)
        self.host, self.port = self.brokers[self._broker_index]
        client.connect_async(self.host, self.port, keepalive=self._cfg.keepalive_s)

    def _on_connect_fail(self, client, userdata):
        self._next_broker(client)
        self.failed_attempts += 1
        if self.failed_attempts in (1, 10) or self.failed_attempts % 100 == 0:
            note(log, logging.WARNING, "cannot reach the broker; retrying",
                 broker="{}:{}".format(self.host, self.port), attempts=self.failed_attempts)
        self._post(("mqtt_down", "cannot reach the broker at {}:{}".format(self.host, self.port)))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        was = self.connected
        self.connected = False
        if was and self._stopping:
            note(log, logging.INFO, "disconnected from the broker (stopping)")
        elif was:
            note(log, logging.WARNING, "lost the broker connection", reason=str(reason_code))
        if not self._stopping:
            self._next_broker(client)
        self._post(("mqtt_down", "disconnected: {}".format(reason_code)))

    def _on_message(self, client, userdata, message):
        if message.topic == self.topic_ack:
            payload = bytes(message.payload[:_MAX_ACK_BYTES + 1])
            self._post(("hub_ack", payload, len(message.payload)))
        elif message.topic == self.topic_blocked:
            if len(message.payload) <= _MAX_BLOCKED_BYTES:
                self._post(("blocked_list", bytes(message.payload)))
            else:
                note(log, logging.WARNING, "blocked-card list over the size limit ignored",
                     size=len(message.payload))
        else:
            note(log, logging.DEBUG, "control message ignored (reserved)", topic=message.topic)

    # -- outbound (any thread) --------------------------------------------------------------

    def publish_batch(self, payload):
        info = self.client.publish(self.topic_batch, payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_status(self, queue):
        """A retained `online` status with new queue figures (backlogstatus.figures)."""
        self.queue = queue
        self._arm_will(self.client)
        if not self.connected:
            return False
        info = self.client.publish(self.topic_status, self._status("online", self._since), qos=1,
                                   retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_health(self, obj):
        try:   # never NaN/Infinity on the wire (the hub refuses them)
            text = boundedjson.dumps(obj, separators=(",", ":"))
        except LocalProtocolError as exc:
            note(log, logging.ERROR, "station health not sent: it holds a non-finite number",
                 reason=exc.reason)
            return False
        info = self.client.publish(self.topic_health, text, qos=0)
        return info.rc == mqtt.MQTT_ERR_SUCCESS


def _advice(reason_code):
    text = str(reason_code).lower()
    if "not authori" in text or "bad user" in text:
        return "{} - check the station's certificate (CN must be the station id) or credentials".format(
            reason_code)
    if "identifier" in text:
        return "{} - check mqtt.client_id".format(reason_code)
    return str(reason_code)
