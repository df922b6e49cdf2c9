"""Regenerate protocol/vectors/*.json from the protocol code (CPython).

    python tools/gen_vectors.py          # write the files
    python tools/gen_vectors.py --check  # exit 1 if the files are stale
    python tools/gen_vectors.py --spec   # print SPEC.md §7 (worked examples) from the vectors

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

import binascii  # noqa: E402

from protocol import batch, blocklist, link, record  # noqa: E402

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
    rec2 = bytes.fromhex(records["valid"][1]["encoded"])
    valid.append({"name": "record 2 (auth tag absent, 4-byte UID)", "type": "R", "body": rec2.hex(),
                  "line": link.encode("R", rec2).decode()})
    valid.append({"name": "rewind from seq 5", "type": "W",
                  "body": (rid + (5).to_bytes(4, "little")).hex(),
                  "line": link.encode_rewind(rid, 5).decode()})
    for name, body in (("blocked list: replace with two cards",
                        bytes([blocklist.OP_REPLACE, 4]) + bytes.fromhex("deadbeef") + bytes([7]) + bytes.fromhex("04a1b2c3d4e5f6")),
                       ("blocked list: add one card", bytes([blocklist.OP_ADD, 10]) + bytes.fromhex("0102030405060708090a")),
                       ("blocked list: remove one card", bytes([blocklist.OP_REMOVE, 4]) + bytes.fromhex("deadbeef")),
                       ("blocked list: replace with the empty list", bytes([blocklist.OP_REPLACE]))):
        valid.append({"name": name, "type": "B", "body": body.hex(), "line": link.encode("B", body).decode()})
    q = link.encode("Q").decode()
    malformed = [
        {"name": "bad crc", "line": q[:-2] + ("0" if q[-2] != "0" else "1") + "\n", "reason": "bad_crc"},
        {"name": "no crc", "line": "~Q:\n", "reason": "bad_frame"},
        {"name": "crc not hex", "line": "~Q:*zzzzzzzz\n", "reason": "bad_frame"},
        {"name": "crc with a 0x prefix", "line": "~Q:*0x75a758\n", "reason": "bad_frame"},
        {"name": "unknown type", "line": "~Z:*" + format(__import__("binascii").crc32(b"Z:"), "08x") + "\n", "reason": "bad_type"},
        {"name": "oversize line", "line": "~R:" + "A" * 700 + "*00000000\n", "reason": "oversize"},
        {"name": "body not base64", "line": "~Q:!!!!*" + format(binascii.crc32(b"Q:!!!!"), "08x") + "\n",
         "reason": "bad_base64"},
        {"name": "base64 without its padding", "line": "~T:QUI*" + format(binascii.crc32(b"T:QUI"), "08x") + "\n",
         "reason": "bad_base64"},
        {"name": "base64 with non-zero trailing bits", "line": "~T:QUJ=*" + format(binascii.crc32(b"T:QUJ="), "08x") + "\n",
         "reason": "bad_base64"},
    ]
    typed_malformed = [
        {"name": "ack body of 15 bytes", "type": "A", "body": (rid + bytes(7)).hex(), "reason": "bad_length"},
        {"name": "time body of 7 bytes", "type": "T", "body": bytes(7).hex(), "reason": "bad_length"},
        {"name": "inject with a 5-byte UID", "type": "I", "body": "010102030405", "reason": "bad_length"},
        {"name": "rewind body of 11 bytes", "type": "W", "body": (rid + bytes(3)).hex(), "reason": "bad_length"},
        {"name": "rewind from seq 0", "type": "W", "body": (rid + bytes(4)).hex(), "reason": "bad_seq"},
    ]
    tolerated = [{"name": "CR before LF", "line": link.encode("Q").decode()[:-1] + "\r\n", "type": "Q", "body": ""},
                 {"name": "frame after noise on the same line", "line": ">>> " + link.encode("Q").decode(),
                  "type": "Q", "body": ""},
                 {"name": "line of exactly 600 bytes before its LF (noise, then a frame)",
                  "line": ">>> " + link.encode("R", bytes(438)).decode(), "type": "R", "body": bytes(438).hex()}]
    assert len(tolerated[-1]["line"]) == 601
    malformed.append({"name": "line of 601 bytes before its LF", "line": ">>>> " + link.encode("R", bytes(438)).decode(),
                      "reason": "oversize"})
    noise = ["MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32\n",
             "Traceback (most recent call last):\n", ">>> \n", "\n"]
    return {"valid": valid, "malformed": malformed, "typed_malformed": typed_malformed,
            "tolerated": tolerated, "noise": noise}


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


def blocklist_vectors():
    uids = [bytes.fromhex("04a1b2c3d4e5f6"), bytes.fromhex("deadbeef"), bytes.fromhex("0102030405060708090a")]
    msg = blocklist.encode_list(7, uids)
    version, in_order = blocklist.decode_list(msg)
    empty = blocklist.encode_list(8, [])
    frames = [{"body": b.hex(), "line": link.encode("B", b).decode()} for b in blocklist.frame_bodies(in_order)]
    big = [bytes([0x10, i // 256, i % 256, 0]) for i in range(20)]
    big_frames = [{"body": b.hex(), "line": link.encode("B", b).decode()} for b in blocklist.frame_bodies(big)]

    def bad(name, data, reason):
        return {"name": name, "hex": data.hex(), "reason": reason}

    malformed = [
        bad("truncated header", msg[:9], "bad_length"),
        bad("wrong magic", b"TX" + msg[2:], "bad_magic"),
        bad("version 2", msg[:2] + b"\x02" + msg[3:], "bad_version"),
        bad("count larger than entries", msg[:8] + b"\x04\x00" + msg[10:], "bad_length"),
        bad("one byte extra", msg + b"\x00", "bad_length"),
        bad("uid_len 5", msg[:10] + b"\x05" + msg[11:], "bad_entry"),
        bad("non-zero padding", msg[:20] + b"\x01" + msg[21:], "bad_entry"),
    ]
    return {"list": {"name": "three cards, list_version 7", "list_version": version,
                     "uids_in_order": [u.hex() for u in in_order], "hex": msg.hex(),
                     "bcrc": binascii.crc32(msg[10:]) & 0xFFFFFFFF, "frames": frames},
            "empty": {"name": "empty list, list_version 8", "list_version": 8, "hex": empty.hex(),
                      "bcrc": 0, "frames": [{"body": b.hex(), "line": link.encode("B", b).decode()}
                                            for b in blocklist.frame_bodies([])]},
            "twenty_cards_frames": {"uids": [u.hex() for u in big], "frames": big_frames},
            "malformed": malformed}


def _wrap(hexstr: str, width: int = 64) -> str:
    return "\n".join(hexstr[i:i + width] for i in range(0, len(hexstr), width)) or "(empty)"


def _fields(enc: str) -> str:
    b = bytes.fromhex(enc)
    auth_len = b[51]
    rows = [("version", b[0:1]), ("kind", b[1:2]), ("reader_id", b[2:10]), ("seq", b[10:14]),
            ("prev_hash", b[14:30]), ("reader_time", b[30:34]), ("boot", b[34:36]),
            ("uptime_ms", b[36:40]), ("uid_len", b[40:41]), ("uid", b[41:51]),
            ("auth_len", b[51:52]), ("auth", b[52:52 + auth_len]), ("signature", b[52 + auth_len:])]
    return "\n".join(f"{n:<12} {v.hex() or '(none)'}" for n, v in rows)


def spec_examples() -> str:
    """SPEC.md §7, printed from the vectors (python tools/gen_vectors.py --spec)."""
    r = record_vectors()
    lk = link_vectors(r)
    bt = batch_vectors(r)
    bl = blocklist_vectors()
    out = []
    for i, v in enumerate(r["valid"], start=1):
        out.append(f"### 7.1.{i} Record {v['name']}\n\nreader_time {v['reader_time']}, boot {v['boot']}, "
                   f"uptime_ms {v['uptime_ms']}, UID `{v['uid']}`, kind {v['kind']}\n")
        out.append("```\n" + _fields(v["encoded"]) + "\n```\n")
        out.append(f"The whole record ({len(v['encoded']) // 2} bytes):\n\n```\n" + _wrap(v["encoded"]) + "\n```\n")
        out.append(f"chain_hash(payload) = `{v['chain_hash']}`.\n")
    out.append("### 7.2 Link frames\n\n| frame | body (hex) | line |\n|---|---|---|")
    for f in lk["valid"]:
        body = f["body"] if len(f["body"]) <= 40 else f["body"][:32] + "… (" + str(len(f["body"]) // 2) + " B)"
        out.append(f"| {f['name']} | `{body or '(empty)'}` | `{f['line'].strip()}` |")
    out.append("\nRefused lines (reason):\n\n| line | reason |\n|---|---|")
    for f in lk["malformed"]:
        line = f["line"].strip()
        line = line if len(line) <= 60 else line[:40] + "…(" + str(len(f["line"]) - 1) + " bytes)"
        out.append(f"| {f['name']}: `{line}` | `{f['reason']}` |")
    for f in lk["typed_malformed"]:
        out.append(f"| {f['name']}: `{f['type']}` body `{f['body']}` | `{f['reason']}` |")
    out.append("")
    for i, v in enumerate(bt["valid_batches"], start=1):
        out.append(f"### 7.3.{i} Batch: {v['name']} (batch_id {v['batch_id']:#x}, flags {v['flags']})\n")
        b = bytes.fromhex(v["hex"])
        parts = [f"header      {b[:14].hex()}   (magic, version, flags, batch_id, count {len(v['records'])})"]
        at = 14
        for k, r in enumerate(v["records"], start=1):
            n = len(r) // 2
            parts.append(f"record {k}    length {b[at]:02x}, then the {n} bytes of record {k} (§7.1.{k})")
            at += 1 + n
            if v["agent_times"] is not None:
                parts.append(f"agent time  {b[at:at + 4].hex()}   ({v['agent_times'][k - 1]})")
                at += 4
        out.append("```\n" + "\n".join(parts) + "\n```\n")
        out.append(f"The whole batch ({len(b)} bytes):\n\n```\n" + _wrap(v["hex"]) + "\n```\n")
    out.append("### 7.4 Acks\n\n| ack | hex |\n|---|---|")
    for v in bt["valid_acks"]:
        out.append(f"| {v['name']} (batch_id {v['batch_id']:#x}) | `{v['hex']}` |")
    out.append("\nRefused acks (reason):\n\n| ack | hex | reason |\n|---|---|---|")
    for v in bt["malformed_acks"]:
        out.append(f"| {v['name']} | `{v['hex']}` | `{v['reason']}` |")
    lst = bl["list"]
    out.append(f"\n### 7.5 Blocked-card list (list_version {lst['list_version']}, UIDs "
               + ", ".join(f"`{u}`" for u in lst["uids_in_order"]) + ")\n")
    out.append("```\n" + _wrap(lst["hex"]) + "\n```\n")
    out.append(f"`bcrc` of this list: {lst['bcrc']} (`{lst['bcrc']:08x}`). Its B frame: "
               f"`{lst['frames'][0]['line'].strip()}`. The empty list (list_version 8): "
               f"`{bl['empty']['hex']}`, bcrc 0, B frame `{bl['empty']['frames'][0]['line'].strip()}`.\n")
    out.append("Refused lists (reason):\n\n| list | reason |\n|---|---|")
    for v in bl["malformed"]:
        out.append(f"| {v['name']} | `{v['reason']}` |")
    return "\n".join(out) + "\n"


def build() -> dict[str, str]:
    records = record_vectors()
    return {
        "blocklist.json": json.dumps(blocklist_vectors(), indent=1) + "\n",
        "records.json": json.dumps(records, indent=1) + "\n",
        "link.json": json.dumps(link_vectors(records), indent=1) + "\n",
        "batch.json": json.dumps(batch_vectors(records), indent=1) + "\n",
    }


def main(argv: list[str]) -> int:
    if "--spec" in argv:
        sys.stdout.write(spec_examples())
        return 0
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
