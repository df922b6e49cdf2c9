"""Limits (issue #18, findings 4 and 7): the API's body limit before authentication, the MQTT
packet limit beside the hub's max_payload, the per-station quarantine quota, and u64 batch ids
on SQLite and PostgreSQL."""

from __future__ import annotations

import select
import socket
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion


from hil_tests.simreader import SimReader
from hubkit import SESSION_START, District, Hub, make_config
from hubproc import HubProcess, wait_for
from protocol import batch as wire
from protocol import topics
from hil_tests.stationsim import StationSim

from hil_tests.timescale import scaled
from server_hub import config as hubconfig
from server_hub.dashboard.fleet import Fleet, fleet_counters
from server_hub.errors import ConfigError
from server_hub.identity import acl
from server_hub.store import quarantine as quarantine_store
from server_hub.store import reports

MB = 1024 * 1024


def _post_huge(port, total, *, chunked):
    """POST `total` bytes to /api/v1/learners without a token, 1 MiB at a time, reading the
    answer as soon as the hub gives one. -> (status line, bytes the hub took before answering)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(30))
    head = "POST /api/v1/learners HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {total}\r\n\r\n"
    sock.sendall(head.encode())
    piece = b"7" * MB
    frame = (b"%x\r\n" % len(piece)) + piece + b"\r\n" if chunked else piece
    sent = 0
    answer = b""
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(frame)
            sent += len(piece)
        if chunked and sent >= total:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        while b"\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent


def _vm(proc, field):
    for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(field)


@pytest.mark.slow
def test_a_300_mb_unauthenticated_body_is_refused_before_it_is_read(mosquitto, tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = Hub(url, make_config())
    _, token = hub.registry.create_operator("ops", "operator")
    hub.close()
    proc = HubProcess(tmp_path, url, mosquitto.port).start()
    try:
        before = _vm(proc, "VmRSS")
        status, sent = _post_huge(proc.api_port, 300 * MB, chunked=False)
        assert " 413 " in status + " ", status
        status, sent_chunked = _post_huge(proc.api_port, 300 * MB, chunked=True)
        assert " 413 " in status + " ", status
        peak = _vm(proc, "VmHWM")
        after = _vm(proc, "VmRSS")
        print(f"hub RSS before {before / MB:.1f} MiB, after {after / MB:.1f} MiB, peak "
              f"{peak / MB:.1f} MiB; the client got out {sent / MB:.0f} MiB (Content-Length) "
              f"and {sent_chunked / MB:.0f} MiB (chunked) before the 413")
        assert peak - before < 64 * MB and after - before < 64 * MB
        assert sent_chunked < 300 * MB
        assert proc.get("/healthz").status_code == 200      # and it still serves
        small = proc.get("/api/v1/learners")
        assert small.status_code == 401
        # JSON bodies: no NaN/Infinity/1e999, no deep nesting -- before any route runs
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for body, reason in ((b'{"id": "L-9", "name": "x", "n": 1e999}', "non_finite"),
                             (b'{"id": "L-9", "name": NaN}', "non_finite"),
                             (b'{"id": "L-9", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                              "json_too_deep")):
            got = httpx.post(proc.base + "/api/v1/learners", content=body, headers=auth,
                             timeout=scaled(10))
            assert got.status_code == 422 and got.json()["reason"] == reason, got.text
        ok = httpx.post(proc.base + "/api/v1/learners", json={"id": "L-9", "name": "Li"},
                        headers={"Authorization": f"Bearer {token}"}, timeout=scaled(10))
        assert ok.status_code == 201, ok.text
        assert proc.get("/api/v1/sync", token).status_code == 200
        assert proc.stop() == 0
    finally:
        proc.kill()


def test_the_body_limit_is_a_config_key_sized_for_the_largest_upload():
    cfg = hubconfig.load(env={})
    from server_hub.api.rollout_routes import MAX_BUNDLE
    assert cfg.api.max_body_bytes == 8 * MB
    assert hubconfig.load(env={"TAPCERT_HUB_API_MAX_BODY_BYTES": "1048576"}).api.max_body_bytes == MB
    assert MAX_BUNDLE >= cfg.api.max_body_bytes     # a bundle is bounded by the smaller one


def test_packet_limits_nest_agent_batch_hub_payload_broker_packet():
    cfg = hubconfig.load(env={})
    assert wire.MAX_PAYLOAD <= cfg.mqtt.max_payload < topics.MAX_PACKET
    listener = acl.render_listener(8883, cafile="ca", certfile="c", keyfile="k", crlfile="crl",
                                   acl_file="acl")
    assert f"max_packet_size {topics.MAX_PACKET}" in listener.splitlines()
    for bad in (wire.MAX_PAYLOAD - 1, topics.MAX_PACKET):
        with pytest.raises(ConfigError, match="max_payload"):
            hubconfig.load(env={"TAPCERT_HUB_MQTT_MAX_PAYLOAD": str(bad)})


def test_the_broker_drops_a_station_that_sends_a_packet_over_the_limit(mosquitto):
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="big-station",
                         protocol=paho.MQTTv311)
    gone = []
    client.on_disconnect = lambda *a, **k: gone.append(1)
    client.connect("127.0.0.1", mosquitto.port, keepalive=30)
    client.loop_start()
    try:
        wait_for(client.is_connected, "connected")
        client.publish("station/S-1/batch", b"\0" * (topics.MAX_PACKET + 1), qos=1)
        wait_for(lambda: gone, "the broker to drop the oversized packet's sender")
    finally:
        client.disconnect()
        client.loop_stop()


def _forged(n, station_reader=None):
    stranger = SimReader(start_time=SESSION_START)      # never enrolled: unknown_reader
    return [stranger.tap(bytes([4, 1, 2, i & 0xFF]), at=SESSION_START + i) for i in range(n)]


def test_quarantine_quota_refuses_counts_and_alarms_and_custody_holds(db_url):
    hub = Hub(db_url, make_config(hub__quarantine_quota=5))
    try:
        district = District(hub)
        r = hub.ingest("S-1", wire.encode_batch(1, _forged(4)))
        assert list(wire.decode_ack(r.ack).outcomes) == [wire.UNKNOWN_READER] * 4
        good = district.tap("L-0", at=SESSION_START)
        over = _forged(3)
        r = hub.ingest("S-1", wire.encode_batch(2, [good] + over))
        assert r.ack is None                        # no answer: the agent keeps and resends
        assert r.counts.get("over_quota") == 3
        assert hub.count("quarantine") == 4
        assert hub.count("records") == 1            # the good record is in ...
        again = hub.ingest("S-1", wire.encode_batch(3, [good]))
        assert list(wire.decode_ack(again.ack).outcomes) == [wire.DUPLICATE]  # ... once
        with hub.store.read() as conn:
            assert quarantine_store.over_quota(conn) == {"S-1": 3}
        assert hub.count("alarms", "kind = 'quarantine_quota' AND station_id = 'S-1'") == 1
        view = Fleet(hub.store, hub.config).snapshot(max_age_s=0).views[0]
        assert "quarantine_quota" in [p.rule for p in view.problems]     # an alert rule
        hub.ingest("S-1", wire.encode_batch(4, over))            # a resend: counted again,
        assert hub.count("alarms", "kind = 'quarantine_quota'") == 1   # one alarm a day
        with hub.store.read() as conn:
            assert quarantine_store.over_quota(conn) == {"S-1": 6}
            assert fleet_counters(conn)["over_quota"] == 6      # /metrics
        # once the quarantine is dealt with (released), the resend is quarantined and acked
        with hub.store.write() as conn:
            conn.execute(quarantine_store.quarantine.update().values(released_at=1.0))
        r = hub.ingest("S-1", wire.encode_batch(5, over))
        assert list(wire.decode_ack(r.ack).outcomes) == [wire.UNKNOWN_READER] * 3
        # a whole-batch refusal counts against the quota too
        hub.config.hub.quarantine_quota = 3
        r = hub.ingest("S-1", b"TB\x01\x00" + b"\xff" * 20)
        assert r.ack is None and r.counts.get("over_quota") == 1
    finally:
        hub.close()


def test_u64_batch_ids_are_acked_stored_and_read_back(db_url):
    hub = Hub(db_url, make_config())
    try:
        district = District(hub)
        top = (1 << 64) - 1
        r = hub.ingest("S-1", wire.encode_batch(top, [district.tap("L-0", at=SESSION_START)]
                                                + _forged(1)))
        ack = wire.decode_ack(r.ack)
        assert ack.batch_id == top and list(ack.outcomes) == [wire.ACCEPTED, wire.UNKNOWN_READER]
        mid = 1 << 63
        r = hub.ingest("S-1", wire.encode_batch(mid, [b"\x01" * 40]))
        assert wire.decode_ack(r.ack).batch_id == mid
        # stored as two's complement in the signed BIGINT, read back unsigned
        assert hub.sql("SELECT batch_id FROM records")[0][0] == -1
        rows = hub.sql("SELECT batch_id FROM quarantine ORDER BY id")
        assert [row[0] for row in rows] == [-1, mid - (1 << 64)]
        items = reports.quarantine_list(hub.store)
        assert sorted(i["batch_id"] for i in items) == [mid, top]
        assert hub.sql("SELECT last_batch_id FROM station_sync")[0][0] == mid - (1 << 64)
    finally:
        hub.close()


def test_no_infinity_or_nan_reaches_a_stored_definition(hub):
    from server_hub.errors import DefinitionError
    District(hub)
    for standard in ({"type": "fixed", "credits": float("inf")},
                     '{"type": "fixed", "credits": Infinity}', '{"type": "fixed", "credits": 1e999}',
                     '{"type": "fixed", "credits": NaN}'):
        with pytest.raises(DefinitionError):
            hub.registry.add_activity("A-9", "S-1", "x", {"type": "once", "sessions": []},
                                      standard)
    assert hub.count("activities", "id = 'A-9'") == 0
