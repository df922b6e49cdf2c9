"""An acking stand-in for the hub: subscribes to station/+/batch, decodes each batch with
protocol.batch, remembers every record by (reader_id, seq) and publishes an ack with one
outcome per record (ACCEPTED the first time, DUPLICATE after) on station/<S>/ack.

Misbehaviour on demand: `silent` (receive but never ack), `duplicate_acks` (every ack twice),
`garbage_first` (an undecodable ack before the real one), `oversize_first` (an ack larger than
any ack can be), `wrong_count` (an ack whose count does not match), `unknown_first` (an ack for
a batch id nobody sent), and `outcome(rid, seq, data, seen_before) -> code` to choose outcomes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt

from protocol import batch as bp
from protocol import record as rec
from protocol import topics
from protocol.errors import RemoteProtocolError
from hil_tests.timescale import scaled


class HubStub:
    def __init__(self, port, *, silent=False, duplicate_acks=False, garbage_first=False,
                 oversize_first=False, wrong_count=False, unknown_first=False, outcome=None,
                 host="127.0.0.1", tls=None):
        self.port = port
        self.host = host
        self.tls = tls  # (ca_file, cert_file, key_file): connect with the hub's certificate
        self.silent = silent
        self.duplicate_acks = duplicate_acks
        self.garbage_first = garbage_first
        self.oversize_first = oversize_first
        self.wrong_count = wrong_count
        self.unknown_first = unknown_first
        self.outcome = outcome
        self.records = {}           # (reader_id, seq) -> record bytes (first seen)
        self.deliveries = Counter()  # (reader_id, seq) -> times received
        self.batches = 0
        self.batch_ids = Counter()
        self.acks_sent = 0
        self.live_batches = 0
        self.bad_batches = 0
        self.bytes_in = 0           # batch payload bytes received
        self.first_batch_at = None  # time.monotonic() of the first and the latest batch
        self.last_batch_at = None
        self.health = []            # health JSON payloads seen
        self.status = {}            # station -> last status payload
        self.lock = threading.Lock()
        self._connected = threading.Event()
        self.client = None

    def start(self, timeout=10.0):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hubstub-{}".format(id(self)),
                        clean_session=True, protocol=mqtt.MQTTv311)
        if self.tls:
            import ssl
            ca, cert, key = (str(p) for p in self.tls)
            c.tls_set(ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.connect(self.host, self.port, keepalive=30)
        c.loop_start()
        self.client = c
        if not self._connected.wait(timeout):
            self.stop()
            raise TimeoutError("hub stand-in could not connect to the broker")
        return self

    def stop(self):
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(topics.subscription(topics.BATCH), 1), (topics.subscription(topics.HEALTH), 0),
                          (topics.subscription(topics.STATUS), 1)])
        self._connected.set()

    def _on_message(self, client, userdata, msg):
        station, suffix = topics.parse(msg.topic)
        if suffix == topics.HEALTH:
            with self.lock:
                self.health.append(bytes(msg.payload))
            return
        if suffix == topics.STATUS:
            with self.lock:
                self.status[station] = bytes(msg.payload)
            return
        ack_topic = topics.topic(station, topics.ACK)
        try:
            batch = bp.decode_batch(bytes(msg.payload))
        except RemoteProtocolError as exc:
            with self.lock:
                self.bad_batches += 1
            batch_id = bp.peek_batch_id(bytes(msg.payload))
            if batch_id is not None and not self.silent:
                status = {"batch_oversize": bp.BATCH_OVERSIZE,
                          "batch_bad_version": bp.BATCH_BAD_VERSION}.get(exc.reason, bp.BATCH_MALFORMED)
                self._publish(ack_topic, bp.encode_ack(batch_id, b"", status))
            return
        outcomes = bytearray()
        with self.lock:
            now = time.monotonic()
            self.first_batch_at = self.first_batch_at or now
            self.last_batch_at = now
            self.bytes_in += len(msg.payload)
            self.batches += 1
            self.batch_ids[batch.batch_id] += 1
            if batch.flags & bp.FLAG_LIVE:
                self.live_batches += 1
            for data in batch.records:
                try:
                    r = rec.decode(data)
                    key = (r.reader_id, r.seq)
                except RemoteProtocolError:
                    outcomes.append(bp.MALFORMED)
                    continue
                seen = key in self.records
                self.deliveries[key] += 1
                if not seen:
                    self.records[key] = data
                if self.outcome is not None:
                    outcomes.append(self.outcome(r.reader_id, r.seq, data, seen))
                else:
                    outcomes.append(bp.DUPLICATE if seen else bp.ACCEPTED)
        if self.silent:
            return
        if self.garbage_first:
            self._publish(ack_topic, b"\x00garbage ack\xff" * 3)
        if self.oversize_first:
            self._publish(ack_topic, bp.encode_ack(batch.batch_id, bytes(outcomes)) + b"\x00" * 5000)
        if self.unknown_first:
            self._publish(ack_topic, bp.encode_ack(batch.batch_id ^ 0x5A5A5A, bytes(outcomes)))
        if self.wrong_count:
            wrong = bytes(outcomes) + b"\x00" if len(outcomes) < bp.MAX_RECORDS else bytes(outcomes[:-1])
            self._publish(ack_topic, bp.encode_ack(batch.batch_id, wrong))
        ack = bp.encode_ack(batch.batch_id, bytes(outcomes))
        self._publish(ack_topic, ack)
        if self.duplicate_acks:
            self._publish(ack_topic, ack)

    def _publish(self, topic, payload):
        self.client.publish(topic, payload, qos=1)
        with self.lock:
            self.acks_sent += 1

    # -- views for assertions ----------------------------------------------------------------

    def keys(self):
        with self.lock:
            return set(self.records)

    def count(self):
        with self.lock:
            return len(self.records)


def wait_until(predicate, timeout, step=0.05, what="condition"):
    """Poll predicate until true; raise AssertionError after timeout (every wait is bounded;
    TAPCERT_TIMEOUT_SCALE stretches it on a busy machine)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    if not predicate():
        raise AssertionError("timed out after {} s waiting for {}".format(timeout, what))
