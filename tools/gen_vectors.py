"""Regenerate protocol/vectors/*.json from the protocol code (CPython).

    python tools/gen_vectors.py          # write the files
    python tools/gen_vectors.py --check  # exit 1 if the files are stale

The vectors are the contract both interpreters test against byte for byte; signatures are
deterministic (Ed25519) from fixed seeds, so regeneration is reproducible.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from protocol import batch, link, record  # noqa: E402

OUT = REPO / "protocol" / "vectors"
SEED = bytes(range(32))


def _key():
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    pk = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, pk


def record_vectors():
    key, pk = _key()
    rid = record.reader_id_from_public_key(pk)
    prev = record.GENESIS_HASH
    valid = []
    specs = [
        ("seq 1, 7-byte UID, tap", record.KIND_TAP, bytes.fromhex("04a1b2c3d4e5f6"), 1_790_000_000, 1, 5_000, b""),
        ("seq 2, 4-byte UID, check-in", record.KIND_IN, bytes.fromhex("deadbeef"), 1_790_000_060, 1, 65_000, b""),
        ("seq 3, 10-byte UID, check-out, clock unknown", record.KIND_OUT, bytes.fromhex("0102030405060708090a"), 0, 2, 1_234, b""),
        ("seq 4, 7-byte UID with a 4-byte auth tag", record.KIND_TAP, bytes.fromhex("04a1b2c3d4e5f6"), 1_790_000_200, 2, 9_999, b"\xa5\x5a\x01\x02"),
    ]
    for seq, (name, kind, uid, t, boot, up, auth) in enumerate(specs, start=1):
        payload = record.encode_payload(kind, rid, seq, prev, t, boot, up, uid, auth)
        sig = key.sign(payload)
        valid.append({
            "name": name, "kind": kind, "reader_id": rid.hex(), "seq": seq, "prev_hash": prev.hex(),
            "reader_time": t, "boot": boot, "uptime_ms": up, "uid": uid.hex(), "auth": auth.hex(),
            "payload": payload.hex(), "signature": sig.hex(), "encoded": (payload + sig).hex(),
            "chain_hash": record.chain_hash(payload).hex(),
        })
        prev = record.chain_hash(payload)
    good = bytes.fromhex(valid[0]["encoded"])

    def patched(offset, value):
        b = bytearray(good)
        b[offset] = value
        return bytes(b).hex()

    malformed = [
        {"name": "empty", "hex": "", "reason": "truncated"},
        {"name": "header only", "hex": good[:52].hex(), "reason": "truncated"},
        {"name": "one byte short", "hex": good[:-1].hex(), "reason": "truncated"},
        {"name": "one byte extra", "hex": (good + b"\x00").hex(), "reason": "oversize"},
        {"name": "version 2", "hex": patched(0, 2), "reason": "bad_version"},
        {"name": "kind 9", "hex": patched(1, 9), "reason": "bad_kind"},
        {"name": "uid_len 5", "hex": patched(40, 5), "reason": "bad_uid_len"},
        {"name": "non-zero uid padding", "hex": patched(49, 1), "reason": "bad_padding"},
        {"name": "auth_len 17", "hex": patched(51, 17), "reason": "bad_auth_len"},
        {"name": "seq 0", "hex": (good[:10] + b"\x00\x00\x00\x00" + good[14:]).hex(), "reason": "bad_seq"},
    ]
    return {"seed": SEED.hex(), "public_key": pk.hex(), "reader_id": rid.hex(),
            "valid": valid, "malformed": malformed}


def link_vectors(records):
    rec1 = bytes.fromhex(records["valid"][0]["encoded"])
    rid = bytes.fromhex(records["reader_id"])
    valid = [
        {"name": "record", "type": "R", "body": rec1.hex(), "line": link.encode("R", rec1).decode()},
        {"name": "ack watermarks 41/40", "type": "A", "body": (rid + (41).to_bytes(4, "little") + (40).to_bytes(4, "little")).hex(),
         "line": link.encode_ack(rid, 41, 40).decode()},
        {"name": "set clock", "type": "T", "body": (1_790_000_000_123).to_bytes(8, "little").hex(),
         "line": link.encode_time(1_790_000_000_123).decode()},
        {"name": "query", "type": "Q", "body": "", "line": link.encode("Q").decode()},
        {"name": "inject 4-byte UID", "type": "I", "body": "01deadbeef", "line": link.encode_inject(1, bytes.fromhex("deadbeef")).decode()},
        {"name": "health", "type": "H", "body": b'{"rid":"' + rid.hex().encode() + b'","fw":"0.1.0"}',
         "line": None},
    ]
    valid[-1]["line"] = link.encode("H", valid[-1]["body"]).decode()
    valid[-1]["body"] = valid[-1]["body"].hex()
    q = link.encode("Q").decode()
    malformed = [
        {"name": "bad crc", "line": q[:-2] + ("0" if q[-2] != "0" else "1") + "\n", "reason": "bad_crc"},
        {"name": "no crc", "line": "~Q:\n", "reason": "bad_frame"},
        {"name": "crc not hex", "line": "~Q:*zzzzzzzz\n", "reason": "bad_frame"},
        {"name": "unknown type", "line": "~Z:*" + format(__import__("binascii").crc32(b"Z:"), "08x") + "\n", "reason": "bad_type"},
        {"name": "oversize line", "line": "~R:" + "A" * 700 + "*00000000\n", "reason": "oversize"},
    ]
    noise = ["MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32\n",
             "Traceback (most recent call last):\n", ">>> \n", "\n"]
    return {"valid": valid, "malformed": malformed, "noise": noise}


def batch_vectors(records):
    recs = [bytes.fromhex(v["encoded"]) for v in records["valid"][:2]]
    enc = batch.encode_batch(0x0102030405060708, recs, flags=batch.FLAG_LIVE)
    enc_timed = batch.encode_batch(42, recs, agent_times=[1_790_000_001, 0])
    ack = batch.encode_ack(0x0102030405060708, bytes([batch.ACCEPTED, batch.DUPLICATE]))
    ack_rej = batch.encode_ack(99, b"", status=batch.BATCH_MALFORMED)
    ack_mixed = batch.encode_ack(7, bytes([batch.ACCEPTED, batch.BAD_SIGNATURE, batch.UNKNOWN_READER]))
    malformed_batches = [
        {"name": "empty", "hex": "", "reason": "batch_malformed"},
        {"name": "wrong magic", "hex": ("XX" .encode() + enc[2:]).hex(), "reason": "batch_malformed"},
        {"name": "version 9", "hex": (enc[:2] + b"\x09" + enc[3:]).hex(), "reason": "batch_bad_version"},
        {"name": "count 0", "hex": (enc[:12] + b"\x00\x00").hex(), "reason": "batch_malformed"},
        {"name": "count larger than records", "hex": (enc[:12] + b"\x03\x00" + enc[14:]).hex(), "reason": "batch_malformed"},
        {"name": "trailing byte", "hex": (enc + b"\x00").hex(), "reason": "batch_malformed"},
        {"name": "zero-length record", "hex": (enc[:12] + b"\x01\x00\x00").hex(), "reason": "batch_malformed"},
        {"name": "truncated record", "hex": enc[:-5].hex(), "reason": "batch_malformed"},
        {"name": "agent time cut short", "hex": enc_timed[:-2].hex(), "reason": "batch_malformed"},
    ]
    malformed_acks = [
        {"name": "short", "hex": ack[:10].hex(), "reason": "bad_length"},
        {"name": "wrong magic", "hex": (b"TB" + ack[2:]).hex(), "reason": "bad_magic"},
        {"name": "count mismatch", "hex": ack[:-1].hex(), "reason": "bad_length"},
        {"name": "unknown outcome", "hex": (ack[:-1] + b"\x99").hex(), "reason": "bad_outcome"},
        {"name": "status with outcomes", "hex": (ack[:3] + b"\x20" + ack[4:]).hex(), "reason": "bad_status"},
    ]
    return {
        "valid_batches": [{"name": "two records, live flag", "batch_id": 0x0102030405060708, "flags": 1,
                           "records": [r.hex() for r in recs], "agent_times": None, "hex": enc.hex()},
                          {"name": "two records with agent times", "batch_id": 42, "flags": 2,
                           "records": [r.hex() for r in recs], "agent_times": [1_790_000_001, 0],
                           "hex": enc_timed.hex()}],
        "valid_acks": [
            {"name": "accepted + duplicate", "batch_id": 0x0102030405060708, "status": 0, "outcomes": "0001", "hex": ack.hex()},
            {"name": "whole batch malformed", "batch_id": 99, "status": 0x20, "outcomes": "", "hex": ack_rej.hex()},
            {"name": "mixed rejections", "batch_id": 7, "status": 0, "outcomes": "001412", "hex": ack_mixed.hex()},
        ],
        "malformed_batches": malformed_batches,
        "malformed_acks": malformed_acks,
    }


def build() -> dict[str, str]:
    records = record_vectors()
    return {
        "records.json": json.dumps(records, indent=1) + "\n",
        "link.json": json.dumps(link_vectors(records), indent=1) + "\n",
        "batch.json": json.dumps(batch_vectors(records), indent=1) + "\n",
    }


def main(argv: list[str]) -> int:
    files = build()
    stale = [n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
    if "--check" in argv:
        if stale:
            print("stale vectors:", ", ".join(stale), "— run python tools/gen_vectors.py")
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    print("wrote", ", ".join(files))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
