"""MQTT helpers for the system benchmarks: a passive monitor of what crosses the broker, a
windowed publisher of prepared batches, and the hub as a process on a fresh broker.

    with hub_on_fresh_broker(tmp, url) as (broker, hub):
        mon = Monitor(broker.port, stations)        # sees batches and acks go by (QoS 0)
        run = feed(broker.port, stations, batches)  # as agents would, until all acked
        run.rate(), run.elapsed, run.curve([10_000, 100_000])

The monitor times a run the same way whoever publishes (the real agent or `feed`): from the
first batch the broker forwards to the last ack covering the expected records.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import Counter, deque
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hil_tests.services import Mosquitto
from protocol import batch as wire
from protocol import topics


def hub_cpu() -> int | None:
    """The CPU the hub is pinned to (the last one), None on a one-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if len(cpus) > 1 else None


def other_cpus() -> set[int]:
    cpus = set(os.sched_getaffinity(0))
    hub = hub_cpu()
    return cpus - {hub} if hub is not None else cpus


@contextlib.contextmanager
def hub_on_fresh_broker(workdir: Path, url: str, *, cpu: int | None = -1, extra: str = ""):
    """A new Mosquitto (no persistence) and `tapcert-hub run` on `url`, the hub pinned to
    `cpu` (-1: hub_cpu()). Yields (broker, hub Popen)."""
    from bench.hub_process import hub_process
    workdir = Path(workdir)
    broker = Mosquitto(workdir / "mosquitto", persistence=False,
                       extra_config="set_tcp_nodelay true").start()
    try:
        with hub_process(url, broker.port, workdir / "hub", hub_cpu() if cpu == -1 else cpu,
                         extra=extra) as hub:
            yield broker, hub
    finally:
        broker.stop()


def _client(client_id: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                    protocol=paho.MQTTv311)
    c.max_inflight_messages_set(0)
    c.max_queued_messages_set(0)
    return c


class Monitor:
    """Subscribes (QoS 0) to the batch and ack topics of `stations`; records when the first
    batch went by and, per acked batch, when its first ack went by."""

    def __init__(self, port: int, stations, expect_records: int):
        self.expect = expect_records
        self.first_batch: float | None = None
        self.acked: dict[tuple[str, int], float] = {}
        self.outcomes: Counter = Counter()
        self.records_acked = 0
        self.done = threading.Event()
        self._subscribed = threading.Event()
        self.client = _client(f"bench-monitor-{os.getpid()}-{id(self)}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a, **k: self._subscribed.set()
        self.client.on_connect = lambda c, *a, **k: c.subscribe(
            [(topics.topic(s, topics.BATCH), 0) for s in stations]
            + [(topics.topic(s, topics.ACK), 0) for s in stations])
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("bench monitor could not subscribe")

    def _on_message(self, client, userdata, msg):
        now = time.monotonic()
        station, suffix = topics.parse(msg.topic)
        if suffix == topics.BATCH:
            if self.first_batch is None:
                self.first_batch = now
            return
        ack = wire.decode_ack(msg.payload)
        key = (station, ack.batch_id)
        if key in self.acked:
            return
        self.acked[key] = now
        self.outcomes.update(ack.outcomes)
        self.records_acked += len(ack.outcomes)
        if self.records_acked >= self.expect:
            self.done.set()

    @property
    def last_ack(self) -> float:
        return max(self.acked.values())

    def elapsed(self) -> float:
        return self.last_ack - self.first_batch

    def wait(self, timeout: float) -> None:
        if not self.done.wait(timeout):
            raise TimeoutError(f"only {self.records_acked:,} of {self.expect:,} records acked "
                               f"after {timeout:.0f}s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FeedRun:
    def __init__(self, start: float, done: list[tuple[float, int]], outcomes: Counter):
        self.start = start
        self.done = sorted(done)          # (ack time, records in that batch)
        self.outcomes = outcomes
        self.records = sum(n for _, n in done)
        self.elapsed = self.done[-1][0] - start
        self.resends = 0

    def rate(self) -> float:
        return self.records / self.elapsed

    def time_to(self, n: int) -> float:
        """Seconds from the first publish until `n` records were acked."""
        total = 0
        for t, k in self.done:
            total += k
            if total >= n:
                return t - self.start
        raise ValueError(f"only {total} records were acked")


def feed(port: int, stations, batches, *, window: int = 64, per_station: int = 4,
         resend_s: float = 15.0, timeout: float = 600.0, client_id: str = "bench-feed",
         on_progress=None) -> FeedRun:
    """Publish `batches` [(station, batch_id, count, payload)] at QoS 1 as stations' agents
    would: at most `per_station` unacked per station (the agent's max_inflight_batches; the
    hub sheds a station's flood beyond mqtt.max_queued_per_station) and `window` in all,
    stations served round-robin in the batches' order, a batch resent when not acked within
    `resend_s`; until every one is acked (each record accepted or duplicate).
    on_progress(records acked so far) is called after each ack."""
    from hil_tests.stationsim import StationSim
    sim = StationSim(port, stations, client_id=client_id)
    try:
        queues: dict[str, deque] = {}
        for item in batches:
            queues.setdefault(item[0], deque()).append(item)
        ring = deque(queues)                      # stations in order of their first batch
        inflight: dict[str, int] = {sid: 0 for sid in queues}
        pending: dict[tuple[str, int], list] = {}  # key -> [count, payload, sent at]
        done: list[tuple[float, int]] = []
        outcomes: Counter = Counter()
        resends = 0
        start = time.monotonic()
        deadline = start + timeout
        while ring or pending:
            blocked = 0
            while ring and len(pending) < window and blocked < len(ring):
                sid = ring[0]
                ring.rotate(-1)
                if inflight[sid] >= per_station:
                    blocked += 1
                    continue
                blocked = 0
                _, batch_id, count, payload = queues[sid].popleft()
                if not queues[sid]:
                    ring.remove(sid)
                inflight[sid] += 1
                pending[(sid, batch_id)] = [count, payload, time.monotonic()]
                sim.publish(sid, payload)
            try:
                station, ack = sim.events.get(timeout=0.5)
            except queue.Empty:
                now = time.monotonic()
                if now > deadline:
                    raise TimeoutError(f"{len(pending)} batches not acked in {timeout:.0f}s "
                                       f"({resends} resends)") from None
                for (sid, batch_id), entry in pending.items():
                    if now - entry[2] > resend_s:
                        entry[2] = now
                        resends += 1
                        sim.publish(sid, entry[1])
                continue
            entry = pending.pop((station, ack.batch_id), None)
            if entry is None:
                continue
            count = entry[0]
            inflight[station] -= 1
            bad = [c for c in ack.outcomes if c not in (wire.ACCEPTED, wire.DUPLICATE)]
            if ack.status != wire.BATCH_OK or bad or len(ack.outcomes) != count:
                raise RuntimeError(f"batch {station}/{ack.batch_id} not accepted: {ack}")
            outcomes.update(ack.outcomes)
            done.append((sim.ack_times[(station, ack.batch_id)], count))
            if on_progress is not None:
                on_progress(sum(outcomes.values()))
        fed = FeedRun(start, done, outcomes)
        fed.resends = resends
        return fed
    finally:
        sim.close()
