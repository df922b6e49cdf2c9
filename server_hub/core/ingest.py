"""ingest: one batch from a station's topic -> a per-record outcome and the effects to store.

Pure: no database, clock or network. The adapter asks `BatchIngest.needs()` which readers and
stored neighbours it must load, then calls `decide()` with them.

Theory of operation (protocol/SPEC.md §2, §4.3), for each record in batch order:

  1. decode                      -> MALFORMED / BAD_VERSION
  2. identical record stored     -> DUPLICATE (whatever the reader's status now: nothing changes)
  3. reader unknown / revoked    -> UNKNOWN_READER / REVOKED_READER
     reader enrolled elsewhere   -> WRONG_STATION
  4. another record stored with this (reader, seq): its own signature valid -> EQUIVOCATION
     (alarm: a cloned or rolled-back reader), invalid -> BAD_SIGNATURE (a forgery in transit)
  5. the rest, per reader, sorted by seq, are cut into runs of consecutive seqs whose
     prev_hash links hold. A run a..b is authenticated by verifying b's signature (one verify
     per run); if it fails, b is BAD_SIGNATURE and a..b-1 is tried with b-1's signature.
  6. authentic runs are checked against stored neighbours: prev_hash(a) must equal the stored
     chain_hash(a-1) (for seq 1: 16 zero bytes, the genesis link), the stored prev_hash(b+1)
     must equal chain_hash(b); a mismatch, or a link broken between two authentic runs in the
     batch, is BROKEN_CHAIN (alarm).
  7. everything left is ACCEPTED. Gaps (missing seqs) are not rejections: the record is stored
     and the crediting that depends on it is held until the gap fills (integrity.py).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import batch as wire
from protocol import record as rec
from protocol.errors import RemoteProtocolError

ACTIVE = "active"


class ReaderInfo:
    __slots__ = ("reader_id", "public_key", "station_id", "status", "label")

    def __init__(self, reader_id, public_key, station_id, status=ACTIVE, label=""):
        self.reader_id = reader_id
        self.public_key = public_key
        self.station_id = station_id
        self.status = status
        self.label = label


class StoredRecord:
    """What ingest needs of a stored record: its identity, chain hashes and exact bytes."""
    __slots__ = ("seq", "payload_hash", "prev_hash", "raw")

    def __init__(self, seq, payload_hash, prev_hash, raw):
        self.seq = seq
        self.payload_hash = bytes(payload_hash)
        self.prev_hash = bytes(prev_hash)
        self.raw = bytes(raw)


class Entry:
    """One decoded record of the batch."""
    __slots__ = ("index", "raw", "record", "payload", "payload_hash", "auth_seq")

    def __init__(self, index, raw, record, payload):
        self.index = index
        self.raw = raw
        self.record = record
        self.payload = payload
        self.payload_hash = rec.chain_hash(payload)
        self.auth_seq = None

    @property
    def signature(self):
        return self.record.signature


class Rejection:
    """A quarantine row: what was rejected, why, and the exact bytes."""
    __slots__ = ("index", "code", "detail", "raw", "reader_id", "seq")

    def __init__(self, index, code, detail, raw, reader_id=None, seq=None):
        self.index = index
        self.code = code
        self.detail = detail
        self.raw = raw
        self.reader_id = reader_id
        self.seq = seq

    @property
    def reason(self):
        return wire.OUTCOME_NAMES[self.code]

    @property
    def raw_hash(self):
        return hashlib.sha256(self.raw).digest()


class Alarm:
    __slots__ = ("kind", "reader_id", "seq", "detail", "raw")

    def __init__(self, kind, reader_id, seq, detail, raw):
        self.kind = kind
        self.reader_id = reader_id
        self.seq = seq
        self.detail = detail
        self.raw = raw

    @property
    def evidence_hash(self):
        return hashlib.sha256(self.raw).digest()


class BatchRejected(Exception):
    """The whole batch is rejected (SPEC §4.3 status codes); batch_id is None if unreadable."""

    def __init__(self, status, batch_id, detail):
        super().__init__(detail)
        self.status = status
        self.batch_id = batch_id
        self.detail = detail

    @property
    def reason(self):
        return wire.OUTCOME_NAMES[self.status]


_STATUS_BY_REASON = {"batch_oversize": wire.BATCH_OVERSIZE,
                     "batch_bad_version": wire.BATCH_BAD_VERSION}


class Verifier:
    """Ed25519 verification with a cache of parsed public keys; counts verifications."""

    def __init__(self, max_keys: int = 100_000):
        self._keys: dict[bytes, Ed25519PublicKey] = {}
        self._max = max_keys
        self.count = 0

    def __call__(self, public_key: bytes, signature: bytes, payload: bytes) -> bool:
        key = self._keys.get(public_key)
        if key is None:
            if len(self._keys) >= self._max:
                self._keys.clear()
            key = self._keys[public_key] = Ed25519PublicKey.from_public_bytes(public_key)
        self.count += 1
        try:
            key.verify(signature, payload)
        except InvalidSignature:
            return False
        return True


def _own_signatures(reader, good, verify, reject) -> list:
    """integrity.verify_every_signature: the run `good` (its newest already verified) split
    around the records whose own signature fails; each kept record authenticates itself."""
    parts, part = [], []
    for e in good[:-1]:
        if verify(reader.public_key, e.signature, e.payload):
            e.auth_seq = e.record.seq
            part.append(e)
            continue
        reject(e, wire.BAD_SIGNATURE, "signature does not verify (every signature is "
                                      "verified: integrity.verify_every_signature)")
        if part:
            parts.append(part)
        part = []
    last = good[-1]
    last.auth_seq = last.record.seq
    part.append(last)
    parts.append(part)
    return parts


class Plan:
    """The result of `decide`: outcomes in batch order and the effects to commit."""
    __slots__ = ("batch_id", "flags", "outcomes", "accepted", "rejections", "alarms")

    def __init__(self, batch_id, flags, count):
        self.batch_id = batch_id
        self.flags = flags
        self.outcomes = bytearray(count)
        self.accepted: list[Entry] = []
        self.rejections: list[Rejection] = []
        self.alarms: list[Alarm] = []

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for code in self.outcomes:
            name = wire.OUTCOME_NAMES[code]
            out[name] = out.get(name, 0) + 1
        return out


class BatchIngest:
    def __init__(self, station_id: str, payload: bytes, max_payload: int = wire.MAX_PAYLOAD):
        self.station_id = station_id
        if len(payload) > max_payload:
            raise BatchRejected(wire.BATCH_OVERSIZE, wire.peek_batch_id(payload[:wire.HEADER_LEN]),
                                f"batch of {len(payload)} bytes over the {max_payload}-byte limit")
        try:
            self.batch = wire.decode_batch(payload)
        except RemoteProtocolError as exc:
            status = _STATUS_BY_REASON.get(exc.reason, wire.BATCH_MALFORMED)
            raise BatchRejected(status, wire.peek_batch_id(payload), str(exc)) from exc
        self.entries: list[Entry | None] = []
        self.decode_errors: dict[int, Rejection] = {}
        self._needs: dict | None = None
        for index, raw in enumerate(self.batch.records):
            try:
                record = rec.decode(raw)
            except RemoteProtocolError as exc:
                code = wire.BAD_VERSION if exc.reason == "bad_version" else wire.MALFORMED
                self.decode_errors[index] = Rejection(index, code, f"{exc.reason}: {exc}", raw)
                self.entries.append(None)
                continue
            self.entries.append(Entry(index, raw, record, raw[:len(raw) - rec.SIG_LEN]))

    @property
    def batch_id(self) -> int:
        return self.batch.batch_id

    def needs(self) -> dict[bytes, tuple[int, int]]:
        """Reader id -> (lowest, highest) seq of stored records that decide() must be given."""
        if self._needs is not None:     # asked for by the lock, the loads and the group
            return self._needs
        spans: dict[bytes, list[int]] = {}
        for e in self.entries:
            if e is None:
                continue
            r = e.record
            seq = r.seq
            span = spans.get(r.reader_id)
            if span is None:
                spans[r.reader_id] = [seq, seq]
            elif seq < span[0]:
                span[0] = seq
            elif seq > span[1]:
                span[1] = seq
        self._needs = {rid: (max(1, lo - 1), hi + 1) for rid, (lo, hi) in spans.items()}
        return self._needs

    def decide(self, readers: dict, stored: dict, verify, every_signature: bool = False) -> Plan:
        """readers: reader_id -> ReaderInfo; stored: (reader_id, seq) -> StoredRecord for the
        spans of needs(); verify(public_key, signature, payload) -> bool.
        every_signature (integrity.verify_every_signature): also verify the signature of every
        record of a chain run, not only its newest; one that fails is BAD_SIGNATURE and the
        run goes on around it (each record then authenticated by its own signature)."""
        plan = Plan(self.batch.batch_id, self.batch.flags, len(self.entries))
        outcomes = plan.outcomes

        def reject(entry, code, detail, alarm=None):
            r = entry.record
            outcomes[entry.index] = code
            plan.rejections.append(Rejection(entry.index, code, detail, entry.raw, r.reader_id,
                                             r.seq))
            if alarm:
                plan.alarms.append(Alarm(alarm, r.reader_id, r.seq, detail, entry.raw))

        for index, rej in self.decode_errors.items():
            outcomes[index] = rej.code
            plan.rejections.append(rej)

        first_seen: dict[tuple, Entry] = {}
        repeats: list[tuple[Entry, Entry]] = []
        candidates: dict[bytes, list[Entry]] = {}
        for e in self.entries:
            if e is None:
                continue
            r = e.record
            key = (r.reader_id, r.seq)
            if key in first_seen:
                repeats.append((e, first_seen[key]))
                continue
            first_seen[key] = e
            old = stored.get(key)
            reader = readers.get(r.reader_id)
            if old is not None:
                if old.raw == e.raw:
                    outcomes[e.index] = wire.DUPLICATE
                    continue
                if old.payload_hash == e.payload_hash and reader is not None:
                    if verify(reader.public_key, e.signature, e.payload):
                        outcomes[e.index] = wire.DUPLICATE
                    else:
                        reject(e, wire.BAD_SIGNATURE, "signature does not verify "
                                                      "(payload identical to the stored record)")
                    continue
            if reader is None:
                reject(e, wire.UNKNOWN_READER, f"reader {r.reader_id.hex()} is not enrolled")
                continue
            if reader.status != ACTIVE:
                reject(e, wire.REVOKED_READER, f"reader {reader.label or r.reader_id.hex()} "
                                               f"is {reader.status}")
                continue
            if reader.station_id != self.station_id:
                reject(e, wire.WRONG_STATION, f"reader {reader.label or r.reader_id.hex()} is "
                       f"enrolled at station {reader.station_id}, not {self.station_id}")
                continue
            if old is not None:
                if verify(reader.public_key, e.signature, e.payload):
                    reject(e, wire.EQUIVOCATION, f"reader {reader.label or r.reader_id.hex()} "
                           f"signed two different records with seq {r.seq}", alarm="equivocation")
                else:
                    reject(e, wire.BAD_SIGNATURE, "signature does not verify")
                continue
            candidates.setdefault(r.reader_id, []).append(e)

        for rid, entries in candidates.items():
            self._authenticate_reader(readers[rid], entries, stored, verify, plan, reject,
                                      every_signature)

        for e, first in repeats:
            if e.raw == first.raw:
                code = outcomes[first.index]
                outcomes[e.index] = wire.DUPLICATE if code in (wire.ACCEPTED, wire.DUPLICATE) \
                    else code
                continue
            reader = readers.get(e.record.reader_id)
            if reader is None or reader.status != ACTIVE or reader.station_id != self.station_id:
                outcomes[e.index] = outcomes[first.index]
                if wire.is_rejection(outcomes[e.index]):
                    reject(e, outcomes[e.index], "repeated in the batch")
                else:  # pragma: no cover - a first occurrence of an unusable reader is rejected
                    reject(e, wire.UNKNOWN_READER, "reader not usable")
            elif verify(reader.public_key, e.signature, e.payload):
                reject(e, wire.EQUIVOCATION, f"two different records with seq {e.record.seq} "
                       "in one batch, both signed by the reader", alarm="equivocation")
            else:
                reject(e, wire.BAD_SIGNATURE, "signature does not verify")
        return plan

    @staticmethod
    def _authenticate_reader(reader, entries, stored, verify, plan, reject, every=False):
        entries.sort(key=lambda e: e.record.seq)
        runs: list[list[Entry]] = []
        broken_link: set[int] = set()       # ids of entries whose link to seq-1 fails
        run: list[Entry] = []
        for e in entries:
            if run:
                last = run[-1]
                if e.record.seq == last.record.seq + 1:
                    if e.record.prev_hash == last.payload_hash:
                        run.append(e)
                        continue
                    broken_link.add(id(e))
                runs.append(run)
            run = [e]
        if run:
            runs.append(run)

        name = reader.label or reader.reader_id.hex()
        authentic: list[list[Entry]] = []
        for run in runs:
            end = len(run)
            while end:
                newest = run[end - 1]
                if verify(reader.public_key, newest.signature, newest.payload):
                    good = run[:end]
                    if every:
                        authentic.extend(_own_signatures(reader, good, verify, reject))
                        break
                    for e in good:
                        e.auth_seq = newest.record.seq
                    authentic.append(good)
                    break
                reject(newest, wire.BAD_SIGNATURE, "signature does not verify")
                end -= 1

        accepted_seqs = set()
        for good in authentic:
            first, last = good[0], good[-1]
            r = first.record
            before = stored.get((r.reader_id, r.seq - 1))
            if r.seq == 1 and r.prev_hash != rec.GENESIS_HASH:
                reject(first, wire.BROKEN_CHAIN, f"reader {name} seq 1: prev_hash is not 16 zero "
                       "bytes (the genesis link)", alarm="broken_chain")
                good = good[1:]
            elif id(first) in broken_link and (r.seq - 1) in accepted_seqs:
                reject(first, wire.BROKEN_CHAIN, f"reader {name} seq {r.seq}: prev_hash does not "
                       f"match record {r.seq - 1} in the same batch", alarm="broken_chain")
                good = good[1:]
            elif before is not None and before.payload_hash != r.prev_hash:
                reject(first, wire.BROKEN_CHAIN, f"reader {name} seq {r.seq}: prev_hash does not "
                       f"match stored record {r.seq - 1}", alarm="broken_chain")
                good = good[1:]
            if good and good[-1] is last:
                after = stored.get((last.record.reader_id, last.record.seq + 1))
                if after is not None and after.prev_hash != last.payload_hash:
                    reject(last, wire.BROKEN_CHAIN, f"reader {name} seq {last.record.seq}: the "
                           f"stored record {last.record.seq + 1} links to a different record",
                           alarm="broken_chain")
                    good = good[:-1]
            for e in good:
                plan.outcomes[e.index] = wire.ACCEPTED
                plan.accepted.append(e)
                accepted_seqs.add(e.record.seq)


def advance_chain(contiguous: int, stored_above, new_seqs) -> int:
    """The new contiguous watermark (every seq 1..n stored) after adding new_seqs.
    stored_above: seqs > contiguous already stored."""
    have = set(stored_above)
    have.update(new_seqs)
    n = contiguous
    while n + 1 in have:
        n += 1
    return n


def missing_ranges(contiguous: int, stored_above, limit: int = 100) -> list[tuple[int, int]]:
    """Missing seqs above the watermark as inclusive ranges, lowest first."""
    out = []
    expect = contiguous + 1
    for seq in sorted(stored_above):
        if seq > expect:
            out.append((expect, seq - 1))
            if len(out) >= limit:
                break
        expect = max(expect, seq + 1)
    return out
