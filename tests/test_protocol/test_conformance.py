"""Conformance to protocol/SPEC.md §8: one test per numbered requirement, named test_r<n>_….

Wire-format requirements are checked twice: the shipped code against the vectors, and
specdecoder.py -- an implementation written from SPEC.md alone, importing nothing from
protocol/ -- against the same vectors and §7's examples. Hub requirements run the hub's
ingest core on records from SimReader; R-24/R-25/R-32/R-33 run the pipeline on SQLite and
PostgreSQL (hubkit fixtures).
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

import specdecoder as sd
from hil_tests.simreader import SimReader
from hubkit import SESSION_END, SESSION_START, District

from protocol import batch as wire
from protocol import blocklist, boundedjson, link, linkcredit, topics
from protocol import record as rec
from protocol.errors import RemoteProtocolError
from server_hub.core import clock
from server_hub.core.ingest import (BatchIngest, BatchRejected, ReaderInfo,
                                    StoredRecord, Verifier)

SPEC = (REPO / "protocol" / "SPEC.md").read_text()
VEC = {n: json.loads((REPO / "protocol" / "vectors" / f"{n}.json").read_text())
       for n in ("records", "link", "batch", "blocklist")}
RECORDS, LINK, BATCH, BLOCK = VEC["records"], VEC["link"], VEC["batch"], VEC["blocklist"]
PK = bytes.fromhex(RECORDS["public_key"])
H = bytes.fromhex
LATER_DAY = SESSION_END + 86400     # "now" once the session has closed


def refused(fn, *args):
    try:
        fn(*args)
    except (sd.Refused, RemoteProtocolError) as exc:
        return exc.reason
    raise AssertionError(f"{fn.__name__} accepted {args!r:.80}")


def impl_lines(data: bytes):
    dec, out = link.LinkDecoder(), []
    dec.feed(data)
    while True:
        try:
            m = dec.next_message()
        except RemoteProtocolError as exc:
            out.append(("refused", exc.reason))
            continue
        if m is link.NEED_DATA:
            return out
        out.append(("frame", m.type, m.body))


# --- the document itself ---------------------------------------------------------------------

def test_every_requirement_in_spec_has_a_test():
    cited = {int(n) for n in re.findall(r"\[R-(\d+)\]", SPEC)}
    listed = {int(n) for n in re.findall(r"^\| R-(\d+) \|", SPEC, re.M)}
    assert cited == listed == set(range(1, max(listed) + 1))
    tested = {int(m.group(1)) for name in globals() if (m := re.match(r"test_r(\d+)_", name))}
    assert listed - tested == set(), f"requirements without a test: {sorted(listed - tested)}"


def test_spec_section_7_is_printed_from_the_vectors():
    section = SPEC[SPEC.index("## 7. Worked examples"):SPEC.index("## 8. Conformance")]
    vectors = "".join(json.dumps(v) for v in VEC.values())
    blocks = section.split("```")[1::2]
    whole = ["".join(b.split()) for b in blocks if re.fullmatch(r"[0-9a-f\s]+", b)]
    assert len(whole) >= 7 and all(b in vectors for b in whole)
    for blob in re.findall(r"[0-9a-f]{24,}", section):
        assert blob in vectors, blob
    for line in re.findall(r"`(~[A-Z]:[^`]*)`", section):
        assert line.split("…")[0] in vectors, line      # a long line is shown cut short


# --- §2 records -------------------------------------------------------------------------------

def test_r1_records_encode_byte_for_byte_from_the_spec():
    for v in RECORDS["valid"]:
        f = sd.decode_record(H(v["encoded"]))
        assert sd.encode_payload(f) + f["signature"] == H(v["encoded"])
        assert (f["seq"], f["uid"].hex(), f["reader_time"]) == (v["seq"], v["uid"], v["reader_time"])
        assert rec.decode(H(v["encoded"])).encode() == H(v["encoded"])


def test_r2_record_refusals_in_spec_order():
    for v in RECORDS["malformed"]:
        assert refused(sd.decode_record, H(v["hex"])) == v["reason"], v["name"]
        assert refused(rec.decode, H(v["hex"])) == v["reason"], v["name"]
    two = bytearray(H(RECORDS["valid"][0]["encoded"]))
    two[0], two[1] = 2, 9                 # bad version and bad kind: the first check names it
    assert refused(sd.decode_record, bytes(two)) == refused(rec.decode, bytes(two)) == "bad_version"


def test_r3_reader_id_is_the_key_hash_prefix():
    assert sd.reader_id(PK).hex() == RECORDS["reader_id"] == rec.reader_id_from_public_key(PK).hex()


def _reader_info(r: SimReader, station="S-1", status="active"):
    return {r.reader_id: ReaderInfo(r.reader_id, r.public_key, station, status, "R")}


def _decide(r, records, stored=None, readers=None, station="S-1", batch_id=1):
    ingest = BatchIngest(station, wire.encode_batch(batch_id, records))
    return ingest.decide(_reader_info(r) if readers is None else readers, stored or {}, Verifier())


def _stored(raw):
    p, _ = rec.split(raw)
    d = rec.decode(raw)
    return {(d.reader_id, d.seq): StoredRecord(d.seq, rec.chain_hash(p), d.prev_hash, raw)}


def test_r4_chain_and_genesis_link():
    vs = RECORDS["valid"]
    assert H(vs[0]["encoded"])[14:30] == bytes(16)
    for a, b in zip(vs, vs[1:]):
        assert sd.decode_record(H(b["encoded"]))["prev_hash"] == sd.chain_hash(H(a["payload"]))
    r = SimReader()
    r.prev_hash = b"\x01" * 16            # a seq-1 record that does not start at genesis
    first, second = r.tap(b"\x04\x01\x02\x03"), r.tap(b"\x04\x01\x02\x03")
    plan = _decide(r, [first, second])
    assert list(plan.outcomes) == [wire.BROKEN_CHAIN, wire.ACCEPTED]
    assert [a.kind for a in plan.alarms] == ["broken_chain"]


def test_r5_signature_over_the_payload():
    for v in RECORDS["valid"]:
        good = H(v["encoded"])
        assert sd.verify(PK, good)
        for i in (0, 30, len(good) - 1):   # a bit of the payload, then of the signature
            bad = bytearray(good)
            bad[i] ^= 1
            assert not sd.verify(PK, bytes(bad))
            assert not Verifier()(PK, *reversed(rec.split(bytes(bad))))


# --- §3 link ----------------------------------------------------------------------------------

def test_r6_frames_and_crc_byte_for_byte():
    assert zlib.crc32(b"123456789") == 0xCBF43926          # the ISO-HDLC check value
    for v in LINK["valid"]:
        body = H(v["body"])
        assert sd.encode_frame(v["type"], body).decode() == v["line"]
        assert link.encode(v["type"], body).decode() == v["line"]
        assert sd.parse_lines(v["line"].encode()) == [("frame", v["type"], body)]


def test_r7_line_rule_600_bytes():
    (ok,) = [t for t in LINK["tolerated"] if "600" in t["name"]]
    assert len(ok["line"].encode()) - 1 == 600
    for decode in (sd.parse_lines, impl_lines):
        assert decode(ok["line"].encode()) == [("frame", "R", H(ok["body"]))]
        long = [m for m in LINK["malformed"] if m["name"].startswith("line of 601")][0]
        after = long["line"].encode() + LINK["valid"][3]["line"].encode()
        assert decode(after) == [("refused", "oversize"), ("frame", "Q", b"")]
        cr = ok["line"].encode()[:-1] + b"\r\n"   # the CR counts: 601 bytes before the LF
        assert decode(cr)[0] == ("refused", "oversize")
    with pytest.raises(Exception):
        link.encode("R", bytes(439))               # would be 600 bytes before the LF


def test_r8_agent_to_reader_lines_fit_256():
    worst = [bytes([i]) * 10 for i in range(40)]   # 10-byte UIDs: the longest B frames
    for body in blocklist.frame_bodies(worst) + sd.b_frame_bodies(worst):
        assert len(link.encode(link.BLOCKED, body)) <= 256
    for v in LINK["valid"]:
        if v["type"] in "ATQIBW":
            assert len(v["line"]) <= 256


def test_r9_only_canonical_base64():
    for v in LINK["malformed"]:
        if v["reason"] == "bad_base64":
            for decode in (sd.parse_lines, impl_lines):
                assert decode(v["line"].encode()) == [("refused", "bad_base64")], v["name"]


def test_r10_noise_skipped_and_receiver_recovers():
    good = LINK["valid"][3]["line"].encode()
    for v in LINK["malformed"]:
        for decode in (sd.parse_lines, impl_lines):
            assert decode(v["line"].encode() + good) == [("refused", v["reason"]),
                                                         ("frame", "Q", b"")], v["name"]
    noise = "".join(LINK["noise"]).encode()
    assert sd.parse_lines(noise + good) == [("noise",)] * 3 + [("frame", "Q", b"")]
    assert impl_lines(noise + good) == [("frame", "Q", b"")]
    for t in LINK["tolerated"]:
        assert impl_lines(t["line"].encode()) == sd.parse_lines(t["line"].encode())[-1:]


def test_r11_typed_body_lengths():
    decoders = {"A": link.decode_ack, "T": link.decode_time, "I": link.decode_inject,
                "W": link.decode_rewind}
    for v in LINK["typed_malformed"]:
        assert refused(sd.check_typed_body, v["type"], H(v["body"])) == v["reason"]
        assert refused(decoders[v["type"]], H(v["body"])) == v["reason"]
    for v in LINK["valid"]:
        sd.check_typed_body(v["type"], H(v["body"]))


# --- §4.1 batches, §4.2 acks -------------------------------------------------------------------

def test_r12_batches_byte_for_byte_and_refusals():
    for v in BATCH["valid_batches"]:
        recs = [H(r) for r in v["records"]]
        assert sd.encode_batch(v["batch_id"], recs, v["flags"] & 1, v["agent_times"]).hex() == v["hex"]
        got = sd.decode_batch(H(v["hex"]))
        assert got["records"] == recs and got["agent_times"] == v["agent_times"]
    for v in BATCH["malformed_batches"]:
        assert refused(sd.decode_batch, H(v["hex"])) == v["reason"], v["name"]
        assert refused(wire.decode_batch, H(v["hex"])) == v["reason"], v["name"]


def test_r13_batch_limits():
    big = [bytes(132)] * 1000
    assert len(sd.encode_batch(1, big, agent_times=[0] * 1000)) == 137_014
    with pytest.raises(Exception):
        wire.encode_batch(1, big, agent_times=[0] * 1000)
    assert len(wire.encode_batch(1, big[:956], agent_times=[0] * 956)) <= 131_072
    with pytest.raises(Exception):
        wire.encode_batch(1, [bytes(116)] * 1001)
    over = wire.encode_batch(9, big[:956], agent_times=[0] * 956)
    over += bytes(131_073 - len(over))
    with pytest.raises(BatchRejected) as exc:
        BatchIngest("S-1", over)
    assert (exc.value.status, exc.value.batch_id) == (wire.BATCH_OVERSIZE, 9)
    assert refused(sd.decode_batch, over) == "batch_oversize"


def test_r34_limits_nest_and_an_unacked_batch_stays_with_the_agent(tmp_path):
    # every size class through the real broker: tests/test_limits/test_oversize_paths.py
    from agent.store import Store as AgentQueue
    from server_hub import config as hubconfig
    from server_hub.errors import ConfigError
    from server_hub.identity import acl
    cfg = hubconfig.load(env={})
    assert wire.MAX_PAYLOAD <= cfg.mqtt.max_payload <= topics.MAX_PACKET - 1024
    assert f"max_packet_size {topics.MAX_PACKET}" in acl.render_listener(
        8883, cafile="ca", certfile="c", keyfile="k", crlfile="crl", acl_file="acl")
    for bad in (wire.MAX_PAYLOAD - 1, topics.MAX_PACKET - 1023):
        with pytest.raises(ConfigError, match="max_payload"):
            hubconfig.load(env={"TAPCERT_HUB_MQTT_MAX_PAYLOAD": str(bad)})
    r = SimReader()
    queue = AgentQueue(tmp_path / "q.db")
    try:
        queue.add_records([(r.reader_id, i + 1, t, r.time, False)
                           for i, t in enumerate(r.taps(3))], now=1.0)
        batch_id, records, _ = queue.claim_batch_timed(10, False)
        assert len(records) == 3 and queue.counts()["inflight"] == 3
        assert queue.prune(older_than=10 ** 10) == 0         # published, not acked: kept
        assert queue.reset_inflight() == 3                   # and sent again
        assert queue.pending_counts() == (0, 3)
    finally:
        queue.close()


def test_r14_flag_bits_2_to_7_ignored():
    r = SimReader()
    p = bytearray(wire.encode_batch(5, [r.tap(b"\x04\x01\x02\x03")]))
    p[3] |= 0xFC
    assert list(BatchIngest("S-1", bytes(p)).decide(_reader_info(r), {}, Verifier()).outcomes) \
        == [wire.ACCEPTED]
    assert sd.decode_batch(bytes(p))["agent_times"] is None


def test_r15_refused_batch_acked_only_with_a_readable_id():
    for v in BATCH["malformed_batches"]:
        payload = H(v["hex"])
        with pytest.raises(BatchRejected) as exc:
            BatchIngest("S-1", payload)
        readable = len(payload) >= 14 and payload[:2] == b"TB"
        assert (exc.value.batch_id is not None) == readable, v["name"]


def test_r16_acks_byte_for_byte_and_refusals():
    for v in BATCH["valid_acks"]:
        assert sd.decode_ack(H(v["hex"]))["outcomes"].hex() == v["outcomes"]
        assert wire.encode_ack(v["batch_id"], H(v["outcomes"]), v["status"]).hex() == v["hex"]
    for v in BATCH["malformed_acks"]:
        assert refused(sd.decode_ack, H(v["hex"])) == refused(wire.decode_ack, H(v["hex"])) \
            == v["reason"], v["name"]


# --- §4.3 outcomes ---------------------------------------------------------------------------

def test_r17_batch_sent_again_is_duplicate_whatever_its_id():
    r = SimReader()
    recs = [r.tap(b"\x04\x01\x02\x03") for _ in range(3)]
    stored = {}
    for raw in recs:
        stored.update(_stored(raw))
    for batch_id in (1, 2):               # the same id again, and a reused id
        assert list(_decide(r, recs, stored, batch_id=batch_id).outcomes) == [wire.DUPLICATE] * 3


def test_r18_precedence():
    r, other = SimReader(), SimReader()
    a = r.tap(b"\x04\x01\x02\x03")
    readers = {**_reader_info(r), **_reader_info(other, status="revoked")}
    bad = bytearray(r.tap(b"\x04\x01\x02\x03"))
    bad[-1] ^= 1
    junk = bytearray(a)
    junk[0] = 2
    plan = _decide(r, [a, bytes(junk), other.tap(b"\x04\x09\x09\x09"), bytes(bad)],
                   {**_stored(a)}, readers)
    # identical stored > decode > reader status > signature
    assert list(plan.outcomes) == [wire.DUPLICATE, wire.BAD_VERSION, wire.REVOKED_READER,
                                   wire.BAD_SIGNATURE]
    # a revoked reader's record already stored stays DUPLICATE (rule 2 before rule 3)
    readers[r.reader_id].status = "revoked"
    assert list(_decide(r, [a], _stored(a), readers).outcomes) == [wire.DUPLICATE]


def test_r19_duplicate_exactly():
    r = SimReader()
    a = r.tap(b"\x04\x01\x02\x03")
    assert list(_decide(r, [a, a]).outcomes) == [wire.ACCEPTED, wire.DUPLICATE]
    forged = a[:-64] + bytes(64)            # same payload, a signature that does not verify
    assert list(_decide(r, [forged], _stored(a)).outcomes) == [wire.BAD_SIGNATURE]


def test_r20_equivocation():
    r = SimReader()
    a = r.tap(b"\x04\x01\x02\x03")
    r.seq, r.prev_hash = 0, rec.GENESIS_HASH
    b = r.tap(b"\x04\x07\x07\x07")          # another record with seq 1, signed by the reader
    plan = _decide(r, [b], _stored(a))
    assert list(plan.outcomes) == [wire.EQUIVOCATION] and plan.alarms[0].kind == "equivocation"
    assert list(_decide(r, [a, b]).outcomes) == [wire.ACCEPTED, wire.EQUIVOCATION]
    assert list(_decide(r, [b[:-1] + bytes([b[-1] ^ 1])], _stored(a)).outcomes) \
        == [wire.BAD_SIGNATURE]


def test_r21_broken_chain_exactly_and_gaps_accepted():
    r = SimReader()
    s1, s2, s3 = (r.tap(b"\x04\x01\x02\x03") for _ in range(3))
    r2 = SimReader(seed=r.seed)             # the same key minting another seq 2
    r2.tap(b"\x04\x05\x05\x05")
    alt2 = r2.tap(b"\x04\x05\x05\x05")
    plan = _decide(r, [s3], _stored(alt2))   # (b) prev_hash vs the stored record below
    assert list(plan.outcomes) == [wire.BROKEN_CHAIN]
    plan = _decide(r, [alt2], _stored(s3))   # (c) the stored record above links elsewhere
    assert list(plan.outcomes) == [wire.BROKEN_CHAIN]
    assert list(_decide(r, [s1, s3]).outcomes) == [wire.ACCEPTED, wire.ACCEPTED]   # a gap
    assert list(_decide(r, [s2]).outcomes) == [wire.ACCEPTED]


def test_r22_runs_authenticated_by_their_newest_signature():
    r = SimReader()
    s1, s2, s3 = (r.tap(b"\x04\x01\x02\x03") for _ in range(3))
    mid = s2[:-1] + bytes([s2[-1] ^ 1])     # only the middle signature is bad: the chain
    assert list(_decide(r, [s1, mid, s3]).outcomes) == [wire.ACCEPTED] * 3   # carries it
    end = s3[:-1] + bytes([s3[-1] ^ 1])
    assert list(_decide(r, [s1, s2, end]).outcomes) == [wire.ACCEPTED, wire.ACCEPTED,
                                                        wire.BAD_SIGNATURE]


def test_r23_reader_status_and_station():
    r = SimReader()
    a = r.tap(b"\x04\x01\x02\x03")
    assert list(_decide(r, [a], readers={}).outcomes) == [wire.UNKNOWN_READER]
    assert list(_decide(r, [a], readers=_reader_info(r, status="lost")).outcomes) \
        == [wire.REVOKED_READER]
    assert list(_decide(r, [a], readers=_reader_info(r, station="S-2")).outcomes) \
        == [wire.WRONG_STATION]


# --- §4.8 time --------------------------------------------------------------------------------

def test_r24_time_floor(hub):
    assert clock.best_time(978_307_200, 5_000, None) == (None, clock.UNKNOWN)   # 2001
    assert clock.best_time(1_499_999_999, 5_000, None, 1_790_000_000) == \
        (1_790_000_000, clock.AGENT)
    assert clock.best_time(1_499_999_999, 5_000, None, 978_307_200) == (None, clock.UNKNOWN)
    assert clock.best_time(1_500_000_000, 5_000, None) == (1_500_000_000, clock.READER)
    d = District(hub)
    old = d.reader.tap(d.cards["L-0"], at=978_307_200)          # seq 1: a clock from 2001
    anchor = d.reader.tap(d.cards["L-1"], at=SESSION_START + 60)  # seq 2: 1 s of uptime later
    r = hub.ingest("S-1", wire.encode_batch(1, [old, anchor]), now=LATER_DAY)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.ACCEPTED, wire.ACCEPTED]
    rows = hub.sql("SELECT seq, best_time, time_source FROM records ORDER BY seq")
    assert [tuple(x) for x in rows] == [(1, SESSION_START + 59, clock.REBUILT),
                                        (2, SESSION_START + 60, clock.READER)]


def test_r25_future_clock_holds_but_never_changes_outcome(hub):
    from server_hub.core import integrity
    d = District(hub)
    ahead = d.reader.tap(d.cards["L-0"], at=LATER_DAY + 3600)
    r = hub.ingest("S-1", wire.encode_batch(1, [ahead]), now=LATER_DAY)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.ACCEPTED]
    ((flags,),) = hub.sql("SELECT flags FROM records")
    assert flags & integrity.FLAG_FUTURE


# --- §4.6 blocked list ------------------------------------------------------------------------

def test_r26_blocked_list_message_and_sort_key():
    v = BLOCK["list"]
    uids = [H(u) for u in v["uids_in_order"]]
    assert [len(u) for u in uids] == sorted(len(u) for u in uids)     # 4-byte UIDs first
    assert sd.encode_list(v["list_version"], reversed(uids)).hex() == v["hex"]
    assert blocklist.encode_list(v["list_version"], list(reversed(uids))).hex() == v["hex"]
    assert sd.decode_list(H(v["hex"])) == blocklist.decode_list(H(v["hex"])) == (7, uids)
    for m in BLOCK["malformed"]:
        assert refused(sd.decode_list, H(m["hex"])) == refused(blocklist.decode_list, H(m["hex"])) \
            == m["reason"], m["name"]


def test_r27_bcrc(monkeypatch):
    v = BLOCK["list"]
    uids = [H(u) for u in v["uids_in_order"]]
    assert sd.bcrc(uids) == v["bcrc"] == zlib.crc32(H(v["hex"])[10:])
    assert sd.bcrc([]) == BLOCK["empty"]["bcrc"] == 0
    monkeypatch.syspath_prepend(str(REPO / "firmware"))
    import blocked   # the reader's own list (firmware/blocked.py), on a flash that keeps nothing
    monkeypatch.setattr(blocked, "write_blob", lambda path, data: None)
    bl = blocked.BlockedList.__new__(blocked.BlockedList)
    bl.path, bl.max_cards, bl._data = None, 1000, b""
    for f in v["frames"]:
        bl.apply(H(f["body"]))
    assert bl.crc == v["bcrc"]


def test_r28_b_frames_replace_then_adds_of_16():
    for case in (BLOCK["list"], BLOCK["twenty_cards_frames"], BLOCK["empty"]):
        uids = [H(u) for u in case.get("uids_in_order", case.get("uids", []))]
        bodies = [f["body"] for f in case["frames"]]
        assert [b.hex() for b in sd.b_frame_bodies(uids)] == bodies
        assert [b.hex() for b in blocklist.frame_bodies(uids)] == bodies
        assert [sd.encode_frame("B", H(b)).decode() for b in bodies] == \
            [f["line"] for f in case["frames"]]


# --- §4.9 JSON, §5 topics and transport ---------------------------------------------------------

def test_r29_bounded_json():
    cases = {b"[" * 33 + b"]" * 33: "json_too_deep", b'{"a": NaN}': "non_finite",
             b'{"a": 1e999}': "non_finite", b'{"a": 18446744073709551617}': "number_too_large",
             b'{"a": "\xff"}': "bad_json", b"x" * 65537: "json_too_large"}
    for text, reason in cases.items():
        assert refused(boundedjson.loads, text) == reason, text[:20]
    assert refused(link.decode_json, b"[1]") == "bad_json"
    assert boundedjson.loads(b'{"a": 18446744073709551616}') == {"a": 1 << 64}


def test_r30_station_ids_and_topics():
    assert topics.parse("station/S-0001/batch") == ("S-0001", "batch")
    for bad in ("station/S 1/batch", "station/" + "x" * 33 + "/batch", "station/S-1/other",
                "station/S-1/batch/x", "stations/S-1/batch", "station//batch"):
        assert refused(topics.parse, bad) == "bad_topic", bad


def test_r31_broker_requires_station_certificates():
    from server_hub.identity import acl
    text = acl.render_listener(8883, cafile="ca", certfile="c", keyfile="k", crlfile="crl",
                               acl_file="acl")
    for line in ("require_certificate true", "use_identity_as_username true",
                 "allow_anonymous false", "certfile c"):
        assert line in text.splitlines()
    assert "pattern readwrite station/%u/#" in acl.render_acl().splitlines()


# --- §6 evidence ------------------------------------------------------------------------------

def _corrupt_middle(hub):
    """Three taps by three learners in one chained run; the middle record's own signature
    is corrupt (its payload intact), so chain authentication accepts all three."""
    d = District(hub)
    recs = [d.tap(f"L-{i}", at=SESSION_START + 60 * (i + 1)) for i in range(3)]
    recs[1] = recs[1][:-1] + bytes([recs[1][-1] ^ 0x40])
    r = hub.ingest("S-1", wire.encode_batch(1, recs), now=LATER_DAY)
    assert list(wire.decode_ack(r.ack).outcomes) == [wire.ACCEPTED] * 3
    return d, recs


def test_r32_auditor_flags_a_stored_record_whose_own_signature_fails(hub):
    from server_hub.ingest.auditor import RecordAuditor
    d, recs = _corrupt_middle(hub)
    import sqlalchemy as sa
    with hub.store.read() as conn:                              # its cursor's index: migration 12
        assert "ix_records_audit_cursor" in {i["name"] for i in sa.inspect(conn).get_indexes("records")}
    auditor = RecordAuditor(hub.store, batch=2, settle_s=30)
    assert auditor.step(now=LATER_DAY + 1) == 0                 # not settled yet
    assert auditor.measure(now=LATER_DAY + 1) == (3, 1.0)
    assert auditor.run_until_idle(now=LATER_DAY + 60) == 3
    assert (auditor.verified, auditor.failed) == (2, 1)
    rows = hub.sql("SELECT kind, seq, station_id FROM alarms")
    assert [tuple(x) for x in rows] == [("record_signature", 2, "S-1")]
    again = RecordAuditor(hub.store, settle_s=30)                # resumes from the watermark
    assert again.run_until_idle(now=LATER_DAY + 60) == 0 and again.measure()[0] == 0
    more = d.tap("L-0")
    hub.ingest("S-1", wire.encode_batch(2, [more]), now=LATER_DAY + 100)
    assert again.run_until_idle(now=LATER_DAY + 200) == 1 and again.failed == 0


def test_r33_transcripts_embed_only_records_that_prove_themselves(hub):
    from server_hub.creditbank.export import transcript_credits
    d, recs = _corrupt_middle(hub)
    embedded = {}
    for learner in ("L-0", "L-1", "L-2"):
        items = transcript_credits(hub.store, learner)
        assert len(items) == 1                     # the credit itself stands (chain-proven)
        embedded[learner] = [H(x["recordHex"]) for x in items[0]["records"]]
        for x in items[0]["records"]:
            assert sd.verify(H(x["readerPublicKey"]), H(x["recordHex"]))
    assert embedded == {"L-0": [recs[0]], "L-1": [], "L-2": [recs[2]]}


def test_r35_line_credits_keep_the_agent_within_256_bytes_of_the_reader():
    from agent.linkpace import LinePacer
    assert linkcredit.encode_credit().decode() == "~K:*94585d83\n" and "`~K:*94585d83`" in SPEC
    assert sd.parse_lines(linkcredit.encode_credit(3)) == [("frame", "K", b"\x03")]
    for bad in (b"\x00", b"\x01\x01"):
        with pytest.raises(RemoteProtocolError, match="credit"):
            linkcredit.decode_credit(bad)
    # a reader that takes one line at a time off a console holding 256 bytes, and credits it
    pacer, console, taken = LinePacer(), bytearray(), link.LinkDecoder()
    pacer.opened(0.0)
    lines = [link.encode(link.BLOCKED, b) for b in blocklist.frame_bodies(
        [bytes([i % 256, i // 256]) * 5 for i in range(1000)])] + [link.encode(link.QUERY)]
    for line in lines:
        pacer.push(line)
    got, now = [], 0.0
    while pacer.waiting or console:
        for line in pacer.take(now):
            console += line
            assert len(console) <= 256, "the agent overran the reader's console"
        end = console.index(b"\n") + 1
        taken.feed(bytes(console[:end]))
        del console[:end]
        frame = taken.next_message()
        got.append(frame)
        pacer.credit(1, now)
        now += 0.01
    assert [f.type for f in got] == ["K"] + ["B"] * 63 + ["Q"]
    assert pacer.stats["credit_timeouts"] == 0
