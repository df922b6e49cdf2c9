"""natslink: the hub's NATS JetStream adapter, for a city on a NATS cluster (docs/scale.md).

    station/S/batch (MQTT QoS 1, any node) ─▶ subject station.S.batch ─▶ work-queue stream
      ─▶ durable pull consumer shared by every hub worker (each message to one worker)
      ─▶ pipeline.handle_batch ─▶ COMMIT ─▶ publish the ack on station.S.ack
      ─▶ ack the JetStream message (it leaves the work queue)
      (hub.group_max_batches > 1: the batches of one fetch, up to that many, go through
       pipeline.handle_batches in one transaction; every ack and JetStream ack follow it)
    station.S.status / station.S.health ─▶ core NATS queue group "hub" ─▶ latest per station

NATS has no MQTT shared subscriptions ($share/... is a literal topic there), so competing hub
workers are NATS clients of one durable consumer. A message that a worker fetched and did not
ack (the worker died, the database is down) is redelivered after `ack_wait_s`; while the
database is retried the worker tells JetStream it is still working on it.

Custody never rests on the broker: a NATS cluster can lose messages it has PUBACKed while a
stream leader is elected (real-components.md), and acks published from the NATS side reach
MQTT subscribers at QoS 0. The agent resends every batch until it sees the hub's ack, and a
batch handled twice (redelivery, resend, two workers) is acked as duplicates (SPEC §4.2).

The blocked-card list is a retained MQTT message, which only an MQTT client can publish, so
`publish_retained` goes through a small paho client on the cluster's MQTT listener
(`mqtt.host`/`mqtt.port`). asyncio runs in its own thread; the pipeline (blocking database
work) runs in a one-thread executor so the connection's heartbeats carry on meanwhile.

No message can stop the loop: a batch the hub fails on for a reason other than the database
is quarantined (`batch_hub_error`, stationmsg.failed), counted and acked on JetStream (never
redelivered for ever; no hub ack, so its agent resends), a bad status/health message is
refused by stationmsg.save; `threads()` names the loop's thread for /healthz.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import threading

import nats
import nats.errors
import nats.js.errors
from nats.js.api import (AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy,
                         StorageType, StreamConfig)

from protocol import topics
from protocol.errors import RemoteProtocolError
from server_hub.ingest import groupcommit, stationmsg
from server_hub.errors import HubError, StoreError
from server_hub.store import quarantine

log = logging.getLogger("tapcert.hub.nats")
QUEUE_GROUP = "hub"
BATCH_SUBJECT = "station.*.batch"


def subject_station(subject: str, suffix: str) -> str | None:
    """'station.S-1.batch' -> 'S-1' (the MQTT topic station/S-1/batch), None if not ours."""
    try:
        station, got = topics.parse(subject.replace(".", "/"))
    except RemoteProtocolError:
        return None
    return station if got == suffix else None


def ack_subject(station: str) -> str:
    return topics.topic(station, topics.ACK).replace("/", ".")


def stream_config(cfg) -> StreamConfig:
    # no max_age, no max_msgs: nothing in the queue ever expires (design.md, guarantee 3)
    return StreamConfig(name=cfg.stream, subjects=[BATCH_SUBJECT],
                        retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                        num_replicas=cfg.replicas)


def consumer_config(cfg) -> ConsumerConfig:
    return ConsumerConfig(durable_name=cfg.consumer, ack_policy=AckPolicy.EXPLICIT,
                          deliver_policy=DeliverPolicy.ALL, ack_wait=cfg.ack_wait_s,
                          max_deliver=-1, max_ack_pending=cfg.max_ack_pending,
                          filter_subject=BATCH_SUBJECT)


class NATSLink:
    """The same surface as MQTTLink (start, stop, stats, outcomes, publish_retained,
    connection, idle) over a JetStream work queue."""

    def __init__(self, nats_cfg, mqtt_cfg, pipeline, *, pause_before_ack_s: float = 0.0,
                 worker_id: str = ""):
        self.cfg = nats_cfg
        self.pipeline = pipeline
        self.store = pipeline.store
        self.pause_before_ack_s = pause_before_ack_s
        self.name = "tapcert-hub" + (f"-{worker_id}" if worker_id else "")
        hub_cfg = getattr(pipeline.config, "hub", None)
        self.group_max = max(1, int(getattr(hub_cfg, "group_max_batches", 1) or 1))
        self.servers = [s.strip() for s in nats_cfg.servers.split(",") if s.strip()]
        if not self.servers:
            raise HubError("[nats] servers is empty: list the cluster's client URLs, e.g. "
                           "nats://10.0.0.1:4222,nats://10.0.0.2:4222")
        self.retained = RetainedPublisher(mqtt_cfg, self.name + "-retained")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hub-db")
        self._stopping = threading.Event()
        self._busy = False
        self.nc = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()     # set once the consumer is bound
        self.stats = {"batches": 0, "records": 0, "acks": 0, "errors": 0, "status": 0,
                      "health": 0, "ignored": 0, "redelivered": 0, "groups": 0}
        self.outcomes: dict[str, int] = {}

    # --- lifecycle (caller's thread) -------------------------------------------------------

    def start(self) -> None:
        self.retained.start()
        self._thread = threading.Thread(target=self._main, name="hub-nats", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.retained.stop()

    def connection(self):
        return self.retained.connection()

    def threads(self) -> dict:
        """The threads this link needs alive (server_hub/liveness.py)."""
        return {"hub-nats": lambda: self._thread,
                "hub-mqtt-retained": lambda: self.retained.client._thread}

    def _quota(self) -> int:
        return int(getattr(getattr(self.pipeline.config, "hub", None), "quarantine_quota", 0) or 0)

    def _failed(self, station, payload, exc) -> None:
        self.stats["errors"] += 1
        quarantine.failed(self.store, self.stats, station, topics.BATCH, payload, exc, log,
                          self._quota())

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        return self.retained.publish_retained(topic, payload)

    def idle(self) -> bool:
        return not self._busy

    # --- the event loop thread -------------------------------------------------------------

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._run())
        except Exception:
            log.exception("the NATS link stopped on an error; restart the hub worker")
        finally:
            self.loop.close()

    def _tls(self):
        if not self.cfg.ca_file:
            return None
        ctx = ssl.create_default_context(cafile=self.cfg.ca_file)
        if self.cfg.cert_file:
            ctx.load_cert_chain(self.cfg.cert_file, self.cfg.key_file or None)
        return ctx

    async def _connect(self):
        async def disconnected():
            self.connected.clear()
            if not self._stopping.is_set():
                log.warning("lost the NATS server; reconnecting to another in %s",
                            ",".join(self.servers))

        async def reconnected():
            self.connected.set()
            log.info("reconnected to NATS server %s", self.nc.connected_url.netloc)

        async def error(exc):
            if not self._stopping.is_set():
                log.debug("NATS client: %s", exc)

        options = dict(servers=self.servers, name=self.name, allow_reconnect=True,
                       max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=3,
                       disconnected_cb=disconnected, reconnected_cb=reconnected,
                       error_cb=error, tls=self._tls())
        if self.cfg.user:
            options.update(user=self.cfg.user, password=self.cfg.password or None)
        delay = 0.5
        while not self._stopping.is_set():
            try:
                self.nc = await nats.connect(**options)
                self.connected.set()
                log.info("connected to NATS server %s", self.nc.connected_url.netloc)
                return True
            except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
                log.error("no NATS server of %s answers (%s); retrying in %.0fs",
                          ",".join(self.servers), exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
        return False

    async def _bind(self):
        """Create (or find) the work-queue stream and the shared durable consumer."""
        js = self.nc.jetstream(timeout=5)
        delay = 0.5
        while not self._stopping.is_set():
            try:
                try:
                    await js.add_stream(stream_config(self.cfg))
                except nats.js.errors.BadRequestError as exc:
                    # exists with another configuration (e.g. other replicas): keep it
                    info = await js.stream_info(self.cfg.stream)
                    log.warning("stream %s exists with another configuration (%s); using it "
                                "as it is (subjects %s, replicas %s)", self.cfg.stream,
                                exc.description, info.config.subjects, info.config.num_replicas)
                try:
                    await js.add_consumer(self.cfg.stream, consumer_config(self.cfg))
                except nats.js.errors.BadRequestError as exc:
                    log.warning("consumer %s exists with another configuration (%s); using it",
                                self.cfg.consumer, exc.description)
                sub = await js.pull_subscribe_bind(self.cfg.consumer, self.cfg.stream)
                self.subscribed.set()
                log.info("subscribed to station topics (JetStream %s/%s, worker %s)",
                         self.cfg.stream, self.cfg.consumer, self.name)
                return sub
            except (nats.errors.Error, OSError, asyncio.TimeoutError) as exc:
                log.warning("JetStream not ready (%s: %s); retrying in %.1fs (a leader may be "
                            "being elected)", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5)
        return None

    async def _run(self) -> None:
        if not await self._connect():
            return
        try:
            sub = await self._bind()
            if sub is None:
                return
            for suffix in (topics.STATUS, topics.HEALTH):
                await self.nc.subscribe(f"station.*.{suffix}", queue=QUEUE_GROUP,
                                        cb=self._on_json)
            delay = 0.5
            while not self._stopping.is_set():
                try:
                    msgs = await sub.fetch(self.cfg.fetch, timeout=1.0)
                except (nats.errors.TimeoutError, asyncio.TimeoutError):
                    continue
                except (nats.errors.Error, OSError) as exc:
                    log.warning("fetching batches failed (%s: %s); retrying in %.1fs",
                                type(exc).__name__, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5)
                    continue
                delay = 0.5
                for part in groupcommit.split(msgs, self.group_max, lambda m: m.data):
                    if self._stopping.is_set():
                        break   # not acked: redelivered to another worker after ack_wait
                    try:
                        if len(part) == 1:
                            await self._handle_batch(part[0])
                        else:
                            await self._handle_group(part)
                    except (nats.errors.Error, OSError) as exc:
                        log.warning("NATS failed while handling %d batches (%s); they come "
                                    "again after ack_wait", len(part), exc)
                    except Exception as exc:    # past the handlers' isolation: still only these
                        for msg in part:
                            self._failed(subject_station(msg.subject, topics.BATCH) or "",
                                         msg.data, exc)
                            await self._ack(msg)
        finally:
            try:
                await asyncio.wait_for(self.nc.close(), 5)
            except (nats.errors.Error, OSError, asyncio.TimeoutError):
                pass

    async def _handle_batch(self, msg, counted: bool = False) -> None:
        station = subject_station(msg.subject, topics.BATCH)
        if station is None:
            self.stats["ignored"] += 1
            await self._ack(msg)
            return
        if msg.metadata.num_delivered > 1 and not counted:
            self.stats["redelivered"] += 1
        self._busy = True
        try:
            result = await self._commit(station, msg)
        finally:
            self._busy = False
        if result is None:
            return
        if self.pause_before_ack_s:
            await asyncio.sleep(self.pause_before_ack_s)
        await self._ack_out(station, result, msg)

    async def _handle_group(self, msgs) -> None:
        """Group commit (hub.group_max_batches): the fetched batches in one transaction;
        each hub ack is published and each JetStream message acked after that commit."""
        items = []
        for msg in msgs:
            station = subject_station(msg.subject, topics.BATCH)
            if station is None:
                self.stats["ignored"] += 1
                await self._ack(msg)
                continue
            if msg.metadata.num_delivered > 1:
                self.stats["redelivered"] += 1
            items.append((station, msg))
        if len(items) <= 1:
            for station, msg in items:
                await self._handle_batch(msg, counted=True)
            return
        self._busy = True
        try:
            results = await self._commit_group(items)
        finally:
            self._busy = False
        if results is None:
            return
        if self.pause_before_ack_s:
            await asyncio.sleep(self.pause_before_ack_s)
        for (station, msg), result in zip(items, results):
            if result.error is None:
                await self._ack_out(station, result, msg)
            elif isinstance(result.error, StoreError):
                await self._handle_batch(msg, counted=True)    # alone, with its retries
            else:
                self._failed(station, msg.data, result.error)
                await self._ack(msg)

    async def _commit_group(self, items):
        delay = 0.5
        loop = asyncio.get_running_loop()
        while True:
            try:
                results = await loop.run_in_executor(
                    self._executor, self.pipeline.handle_batches,
                    [(station, msg.data) for station, msg in items])
                break
            except StoreError as exc:
                if self._stopping.is_set():
                    return None
                log.error("database error on a group of %d batches: %s; retrying in %.0fs",
                          len(items), exc, delay)
                for _, msg in items:
                    try:
                        await msg.in_progress()
                    except (nats.errors.Error, OSError):
                        pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
            except Exception:
                log.exception("hub failed on a group of %d batches; handling them one by one",
                              len(items))
                for _, msg in items:
                    await self._handle_batch(msg, counted=True)
                return None
        self.stats["groups"] += 1
        log.info("group of %d batches committed in one transaction", len(items))
        for (station, _), result in zip(items, results):
            if result.error is None:
                self._committed(station, result)
        return results

    async def _ack_out(self, station, result, msg) -> None:
        if result.ack is not None:
            try:
                await self.nc.publish(ack_subject(station), result.ack)
                self.stats["acks"] += 1
            except (nats.errors.Error, OSError) as exc:
                # no ack and no JetStream ack: redelivered, then acked as duplicates
                log.warning("could not publish the ack for station %s batch %s (%s); the "
                            "batch will come again", station, result.batch_id, exc)
                return
        await self._ack(msg)

    async def _commit(self, station, msg):
        """The batch through the pipeline (COMMIT), retrying database outages; None when the
        message must not be acked (stopping) or was given up on (a bug: the agent resends)."""
        delay = 0.5
        loop = asyncio.get_running_loop()
        while True:
            try:
                result = await loop.run_in_executor(self._executor, self.pipeline.handle_batch,
                                                    station, msg.data)
                break
            except StoreError as exc:
                if self._stopping.is_set():
                    return None
                log.error("database error on station %s batch: %s; retrying in %.0fs", station,
                          exc, delay)
                try:
                    await msg.in_progress()      # still ours: do not redeliver it yet
                except (nats.errors.Error, OSError):
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
            except Exception as exc:
                await loop.run_in_executor(self._executor, self._failed, station, msg.data, exc)
                await self._ack(msg)
                return None
        self._committed(station, result)
        return result

    def _committed(self, station, result) -> None:
        self.stats["batches"] += 1
        for name, n in result.counts.items():
            self.outcomes[name] = self.outcomes.get(name, 0) + n
            self.stats["records"] += n
        log.info("station %s batch %s committed: %s", station, result.batch_id,
                 " ".join(f"{k}={v}" for k, v in sorted(result.counts.items())))

    async def _ack(self, msg) -> None:
        try:
            await msg.ack()
        except (nats.errors.Error, OSError) as exc:
            # redelivered after ack_wait and answered as duplicates: harmless
            log.debug("JetStream ack failed (%s)", exc)

    async def _on_json(self, msg) -> None:
        try:
            kind = msg.subject.rsplit(".", 1)[-1]
            station = subject_station(msg.subject, kind)
            if station is None:
                self.stats["ignored"] += 1
                return
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._save_json, station, kind, msg.data)
        except Exception:       # a callback of the NATS client: one message, never the loop
            self.stats["errors"] += 1
            log.exception("a message on %s could not be handled", msg.subject)

    def _save_json(self, station, kind, payload) -> None:
        stationmsg.save(self.store, self.stats, station, kind, payload, log, self._quota())


class RetainedPublisher:
    """A publish-only paho client on the cluster's MQTT listener, for retained messages."""

    def __init__(self, mqtt_cfg, client_id: str):
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion
        self._paho = paho
        self.cfg = mqtt_cfg
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=True, protocol=paho.MQTTv311)
        self.client.reconnect_delay_set(1, 30)
        if mqtt_cfg.username:
            self.client.username_pw_set(mqtt_cfg.username, mqtt_cfg.password or None)
        if mqtt_cfg.ca_file:
            self.client.tls_set(ca_certs=mqtt_cfg.ca_file, certfile=mqtt_cfg.cert_file or None,
                                keyfile=mqtt_cfg.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
        self.connected = threading.Event()
        self.connections = 0
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a, **k: self.connected.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            log.error("MQTT listener %s:%s refused the hub's publisher: %s", self.cfg.host,
                      self.cfg.port, reason_code)
            return
        self.connections += 1
        self.connected.set()

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def connection(self):
        return self.connections if self.connected.is_set() else None

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        if not self.connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=1, retain=True)
        return info.rc == self._paho.MQTT_ERR_SUCCESS
