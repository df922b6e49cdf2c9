"""Many simulated station agents reconnecting at once (the recovery benchmark).

Each simulated agent is its own MQTT connection (paho client, its own client id, subscribed
to its own ack topic) with a backlog of pre-signed batches. All of them connect together,
publish their batches at QoS 1 (at most `inflight` unacked each, like the agent) and resend
a batch that the hub has not acked within `ack_timeout_s` (doubling, like the agent's
outbox, with ±25 % jitter). One thread drives every connection through one epoll selector
(paho's external-loop API), so a thousand agents cost a thousand sockets, not threads.

    swarm = Swarm(port, {station: [(batch_id, count, payload), ...]})
    result = swarm.run(timeout=600)
    result.per_station        # station -> seconds from the start until its last batch acked
"""

from __future__ import annotations

import random
import resource
import selectors
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from protocol import batch as wire
from protocol import topics


def raise_fd_limit(want: int) -> None:
    """Sockets for every simulated agent (the broker started after this inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


class _Agent:
    __slots__ = ("station", "todo", "inflight", "done_at", "client", "subscribed", "resends")

    def __init__(self, station, batches):
        self.station = station
        self.todo = list(batches)          # [(batch_id, count, payload)] not yet sent
        self.inflight = {}                 # batch_id -> (count, payload, due, timeout)
        self.done_at = None
        self.client = None
        self.subscribed = False
        self.resends = 0


class SwarmResult:
    def __init__(self, start, agents, outcomes, records):
        self.start = start
        self.per_station = {a.station: a.done_at - start for a in agents}
        self.elapsed = max(self.per_station.values())
        self.resends = sum(a.resends for a in agents)
        self.outcomes = outcomes
        self.records = records

    def rate(self) -> float:
        return self.records / self.elapsed


class Swarm:
    def __init__(self, port: int, backlogs: dict, *, inflight: int = 4,
                 ack_timeout_s: float = 15.0, backoff_max_s: float = 300.0, seed: int = 9):
        self.port = port
        self.agents = [_Agent(s, b) for s, b in backlogs.items()]
        self.inflight = inflight
        self.ack_timeout_s = ack_timeout_s
        self.backoff_max_s = backoff_max_s
        self.rng = random.Random(seed)
        self.sel = selectors.DefaultSelector()
        self.writers: set = set()
        self.outcomes: dict[int, int] = {}
        self.records = sum(n for a in self.agents for _, n, _ in a.todo)
        raise_fd_limit(len(self.agents) + 256)

    # --- one connection ---------------------------------------------------------------------

    def _connect(self, agent: _Agent) -> None:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"swarm-{agent.station}",
                        clean_session=True, protocol=paho.MQTTv311, userdata=agent)
        c.max_inflight_messages_set(0)
        c.max_queued_messages_set(0)
        c.on_socket_open = lambda client, ud, sock: self.sel.register(
            sock, selectors.EVENT_READ, client)
        c.on_socket_close = lambda client, ud, sock: self._unregister(sock)
        c.on_socket_register_write = lambda client, ud, sock: self.writers.add(client)
        c.on_socket_unregister_write = lambda client, ud, sock: self.writers.discard(client)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        agent.client = c
        c.connect("127.0.0.1", self.port, keepalive=120)

    def _unregister(self, sock) -> None:
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _on_connect(self, client, agent, flags, reason_code, properties=None):
        if reason_code.is_failure:
            raise RuntimeError(f"broker refused simulated station {agent.station}: {reason_code}")
        client.subscribe(topics.topic(agent.station, topics.ACK), qos=1)

    def _on_subscribe(self, client, agent, mid, reason_codes, properties=None):
        agent.subscribed = True
        self._send(agent, time.monotonic())

    def _on_message(self, client, agent, msg):
        ack = wire.decode_ack(msg.payload)
        entry = agent.inflight.pop(ack.batch_id, None)
        if entry is None:
            return                            # a second ack of a resent batch
        if ack.status != wire.BATCH_OK or len(ack.outcomes) != entry[0]:
            raise RuntimeError(f"{agent.station} batch {ack.batch_id}: {ack}")
        for code in ack.outcomes:
            self.outcomes[code] = self.outcomes.get(code, 0) + 1
        now = time.monotonic()
        if not agent.todo and not agent.inflight:
            agent.done_at = now
        else:
            self._send(agent, now)

    # --- the agent's outbox, much simplified -----------------------------------------------

    def _timeout(self, base: float) -> float:
        return base * (1 + self.rng.uniform(-0.25, 0.25))

    def _send(self, agent: _Agent, now: float) -> None:
        while agent.todo and len(agent.inflight) < self.inflight:
            batch_id, count, payload = agent.todo.pop(0)
            t = self.ack_timeout_s
            agent.inflight[batch_id] = (count, payload, now + self._timeout(t), t)
            agent.client.publish(topics.topic(agent.station, topics.BATCH), payload, qos=1)

    def _resend_due(self, now: float) -> None:
        for agent in self.agents:
            for batch_id, (count, payload, due, t) in list(agent.inflight.items()):
                if now >= due:
                    t = min(2 * t, self.backoff_max_s)
                    agent.inflight[batch_id] = (count, payload, now + self._timeout(t), t)
                    agent.resends += 1
                    agent.client.publish(topics.topic(agent.station, topics.BATCH), payload,
                                         qos=1)

    # --- the loop ---------------------------------------------------------------------------

    def run(self, timeout: float = 600.0) -> SwarmResult:
        start = time.monotonic()
        for agent in self.agents:               # everyone reconnects at once
            self._connect(agent)
        deadline = start + timeout
        next_misc = start
        remaining = len(self.agents)
        try:
            while remaining:
                for client in list(self.writers):
                    client.loop_write()
                for key, _ in self.sel.select(timeout=0.05):
                    key.data.loop_read(max_packets=10)
                now = time.monotonic()
                if now >= next_misc:
                    for agent in self.agents:
                        agent.client.loop_misc()
                    self._resend_due(now)
                    remaining = sum(1 for a in self.agents if a.done_at is None)
                    next_misc = now + 0.2
                    if now > deadline:
                        raise TimeoutError(f"{remaining} simulated stations not done after "
                                           f"{timeout:.0f}s")
        finally:
            for agent in self.agents:
                if agent.client is not None:
                    agent.client.disconnect()
                    agent.client.loop_write()
            self.sel.close()
        return SwarmResult(start, self.agents, self.outcomes, self.records)
