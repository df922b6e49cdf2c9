# dual: micropython
# The shared vectors (protocol/vectors/*.json), checked byte for byte on both interpreters.
import json
from binascii import hexlify, unhexlify

import protocol
from protocol import batch, link, record
from protocol.errors import ProtocolError, RemoteProtocolError

_DIR = protocol.__file__.rsplit("/", 1)[0] + "/vectors/"


def _load(name):
    with open(_DIR + name) as f:
        return json.load(f)


def _hex(data):
    return hexlify(data).decode()


RECORDS = _load("records.json")
LINK = _load("link.json")
BATCH = _load("batch.json")


def _raises(fn, reason):
    try:
        fn()
    except RemoteProtocolError as exc:
        assert exc.reason == reason, "expected {}, got {} ({})".format(reason, exc.reason, exc)
        return
    raise AssertionError("no error raised, expected " + reason)


def test_records_decode_to_their_fields():
    for v in RECORDS["valid"]:
        r = record.decode(unhexlify(v["encoded"]))
        assert r.kind == v["kind"] and r.seq == v["seq"]
        assert _hex(r.reader_id) == v["reader_id"] and _hex(r.prev_hash) == v["prev_hash"]
        assert r.reader_time == v["reader_time"] and r.boot == v["boot"]
        assert r.uptime_ms == v["uptime_ms"] and _hex(r.uid) == v["uid"] and _hex(r.auth) == v["auth"]
        assert _hex(r.signature) == v["signature"]
        assert _hex(r.payload()) == v["payload"] and _hex(r.encode()) == v["encoded"]


def test_records_encode_byte_for_byte():
    for v in RECORDS["valid"]:
        payload = record.encode_payload(v["kind"], unhexlify(v["reader_id"]), v["seq"],
                                        unhexlify(v["prev_hash"]), v["reader_time"], v["boot"],
                                        v["uptime_ms"], unhexlify(v["uid"]), unhexlify(v["auth"]))
        assert _hex(payload) == v["payload"]
        assert _hex(record.chain_hash(payload)) == v["chain_hash"]


def test_records_form_a_chain():
    valid = RECORDS["valid"]
    assert valid[0]["prev_hash"] == _hex(record.GENESIS_HASH)
    for prev, cur in zip(valid, valid[1:]):
        assert cur["prev_hash"] == prev["chain_hash"]


def test_reader_id_is_derived_from_the_public_key():
    pk = unhexlify(RECORDS["public_key"])
    assert _hex(record.reader_id_from_public_key(pk)) == RECORDS["reader_id"]


def test_split_separates_payload_and_signature():
    for v in RECORDS["valid"]:
        payload, sig = record.split(unhexlify(v["encoded"]))
        assert _hex(payload) == v["payload"] and _hex(sig) == v["signature"]


def test_malformed_records_raise_with_reason():
    for v in RECORDS["malformed"]:
        _raises(lambda: record.decode(unhexlify(v["hex"])), v["reason"])


def test_link_frames_encode_and_decode():
    for v in LINK["valid"]:
        line = v["line"].encode()
        assert link.encode(v["type"], unhexlify(v["body"])) == line
        dec = link.LinkDecoder()
        dec.feed(line)
        frame = dec.next_message()
        assert frame.type == v["type"] and _hex(frame.body) == v["body"]
        assert dec.next_message() is link.NEED_DATA


def test_link_decoder_byte_by_byte_with_noise():
    stream = b""
    for n in LINK["noise"]:
        stream += n.encode()
    for v in LINK["valid"]:
        stream += v["line"].encode().replace(b"\n", b"\r\n")
    dec = link.LinkDecoder()
    frames = []
    for i in range(len(stream)):
        dec.feed(stream[i:i + 1])
        while True:
            m = dec.next_message()
            if m is link.NEED_DATA:
                break
            frames.append(m)
    assert [f.type for f in frames] == [v["type"] for v in LINK["valid"]]
    assert dec.noise_lines == 3


def test_malformed_link_frames_raise_and_decoder_recovers():
    good = LINK["valid"][3]["line"].encode()
    for v in LINK["malformed"]:
        dec = link.LinkDecoder()
        dec.feed(v["line"].encode() + good)
        _raises(dec.next_message, v["reason"])
        assert dec.next_message().type == "Q"


def test_typed_link_bodies():
    rid = unhexlify(RECORDS["reader_id"])
    assert link.decode_ack(unhexlify(LINK["valid"][1]["body"])) == (rid, 41, 40)
    assert link.decode_time(unhexlify(LINK["valid"][2]["body"])) == 1790000000123
    assert link.decode_inject(unhexlify("01deadbeef")) == (1, unhexlify("deadbeef"))
    _raises(lambda: link.decode_ack(b"short"), "bad_length")
    line = link.encode_rewind(rid, 17)
    dec = link.LinkDecoder()
    dec.feed(line)
    assert link.decode_rewind(dec.next_message().body) == (rid, 17)
    _raises(lambda: link.decode_rewind(rid + b"\x00\x00\x00\x00"), "bad_seq")
    _raises(lambda: link.decode_json(b"[1]"), "bad_json")
    _raises(lambda: link.decode_json(b"{"), "bad_json")


def test_batches():
    for v in BATCH["valid_batches"]:
        recs = [unhexlify(r) for r in v["records"]]
        enc = batch.encode_batch(v["batch_id"], recs, v["flags"], v["agent_times"])
        assert _hex(enc) == v["hex"]
        b = batch.decode_batch(unhexlify(v["hex"]))
        assert b.batch_id == v["batch_id"] and b.flags == v["flags"] and b.records == recs
        assert b.agent_times == v["agent_times"]
        assert batch.peek_batch_id(unhexlify(v["hex"])) == v["batch_id"]
    for v in BATCH["malformed_batches"]:
        _raises(lambda: batch.decode_batch(unhexlify(v["hex"])), v["reason"])


def test_acks():
    for v in BATCH["valid_acks"]:
        assert _hex(batch.encode_ack(v["batch_id"], unhexlify(v["outcomes"]), v["status"])) == v["hex"]
        a = batch.decode_ack(unhexlify(v["hex"]))
        assert a.batch_id == v["batch_id"] and a.status == v["status"] and _hex(a.outcomes) == v["outcomes"]
    for v in BATCH["malformed_acks"]:
        _raises(lambda: batch.decode_ack(unhexlify(v["hex"])), v["reason"])


def test_oversize_batch_is_refused_both_ways():
    rec = unhexlify(RECORDS["valid"][0]["encoded"])
    try:
        batch.encode_batch(1, [rec] * 1001)
        raise AssertionError("encoded 1001 records")
    except ProtocolError:
        pass
    _raises(lambda: batch.decode_batch(b"TB" + b"\x00" * 131072), "batch_oversize")
