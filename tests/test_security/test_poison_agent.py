"""A hostile reader's health frames against the real agent (a pty, the real Service, a real
Mosquitto and the hub stand-in): non-finite or absurd clock values, deep JSON. The agent keeps
syncing, counts each refusal by its reason, and never publishes NaN/Infinity (the hub's API
answered 500 for everyone once one was stored: issue #18)."""

from __future__ import annotations

import json

from protocol import boundedjson, link
from test_agent.hubstub import wait_until


def _health_frame(reader, **fields):
    body = {"rid": reader.rid, "fw": "fake-1", "boot": 1, "up": 1000}
    body.update(fields)
    return link.encode(link.HEALTH, json.dumps(body).encode())


def _published_readers(hub):
    with hub.lock:
        payloads = list(hub.health)
    out = []
    for payload in payloads:
        doc = boundedjson.loads_object(payload)       # strict: NaN/Infinity raise here
        out.extend(doc.get("readers") or [])
    return out


def test_a_reader_time_of_1e999_never_reaches_the_wire(fake_readers, hub_stub, agent_config,
                                                       inproc_agent):
    hub = hub_stub()
    reader = fake_readers("r1", health_s=3600)
    agent = inproc_agent(agent_config(ports=[reader.port], status={"health_interval_s": 0.3}))
    wait_until(lambda: reader.port in agent.core.ports, 10, what="port open")
    port = agent.core.ports[reader.port]
    # json.dumps writes 1e999 (a float inf) as Infinity; the raw text 1e999 parses to inf
    reader.send_raw(link.encode(link.HEALTH, b'{"rid": "%s", "fw": "x", "time": 1e999}'
                                % reader.rid.encode()))
    reader.send_raw(_health_frame(reader, time=float("inf")))
    reader.send_raw(link.encode(link.HEALTH, b"[" * 400))
    wait_until(lambda: port.link_counts().get("health_non_finite", 0) == 2, 10,
               what="non-finite health frames counted")
    wait_until(lambda: port.link_counts().get("health_json_too_deep", 0) == 1, 10,
               what="deep health frame counted")
    # a finite time that is no Unix time: the frame is used, the time is unknown, the clock reset
    reader.send_raw(_health_frame(reader, time=1e300))
    wait_until(lambda: port.link_counts()["bad_reader_time"] == 1, 10, what="bad time counted")
    state = agent.core.readers[bytes.fromhex(reader.rid)]
    reader.tap_many(3)
    wait_until(lambda: reader.hub_wm == 3, 15, what="the reader still syncs")
    wait_until(lambda: any(r.get("rid") == reader.rid for r in _published_readers(hub)), 10,
               what="health published with the reader")
    offsets = [r.get("clock_offset_s") for r in _published_readers(hub)]
    assert all(v is None or boundedjson.is_finite(v) for v in offsets), offsets
    assert state.clock_offset_s is None or abs(state.clock_offset_s) < 86400 * 365 * 100
    with hub.lock:
        assert not any(b"Infinity" in p or b"NaN" in p for p in hub.health)
