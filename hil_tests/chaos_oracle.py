"""The chaos run's oracle: what the hub must hold, from the taps alone. Pure (no I/O).

Evidence it uses, and nothing else:
* the tap log: every card line sent to a reader, in order per reader, with the feedback
  the reader gave ("recorded"/"warning" with its seq, another event, or none because the
  power was cut mid-tap: *unconfirmed*);
* the reader-signed bytes of the records the hub stored, each verified here with the
  reader's public key (the hub cannot make one up), for their seq, card and reader clock.

Records. Every tap with "recorded" feedback must be stored exactly once with its seq, card
and kind (else *lost* or *altered*). Every other stored record must be explained by an
unconfirmed tap of the same reader, sent between the recorded taps around its seq, with the
same card, in order (else *duplicated* — the card of a tap already explained — or
*phantom*). An unconfirmed tap may or may not have reached the journal; either is right.

Credits. Each station has one fixed-credit activity: one credit (1000 milli) per learner per
session holding at least one of the learner's stored taps there. A tap's time is the
reader's signed clock; a record made before the reader's clock was set (0) is dated by the
host's clock around the tap, which the tap generator keeps clear of session boundaries. The
hub's ledger, summed per (learner, activity, session), must equal that exactly: no missing,
no duplicated (2000), no phantom credit, and no credit held.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import record as rec
from protocol.errors import ProtocolError

RECORDED = ("recorded", "warning")
UNCONFIRMED = "unconfirmed"
CREDIT_MILLI = 1000
_SHOW = 12


@dataclass
class Tap:
    station: str
    reader: int                # index within the station
    learner: str
    uid: bytes
    kind: int
    t_sent: float              # host clock just before the line was sent
    t_done: float              # host clock when feedback came (or the cut happened)
    outcome: str               # the feedback event, or UNCONFIRMED
    seq: int | None = None     # with recorded feedback


@dataclass
class Verdict:
    counts: dict = field(default_factory=dict)
    problems: dict = field(default_factory=dict)   # category -> list of descriptions

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def add(self, category: str, text: str) -> None:
        self.problems.setdefault(category, []).append(text)

    def summary_lines(self) -> list[str]:
        lines = []
        for category, items in sorted(self.problems.items()):
            if items:
                lines.append(f"  {category}: {len(items)}")
                lines += [f"    {t}" for t in items[:_SHOW]]
        return lines


def _verify(public_key: bytes, raw: bytes) -> rec.Record:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    r = rec.decode(raw)
    payload, sig = rec.split(raw)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, payload)
    except InvalidSignature:
        raise ValueError("signature does not verify") from None
    return r


def judge(plan, t0: int, taps_by_reader: dict, reader_keys: dict, stored: list,
          ledger: dict, held: list, quarantined: int, alarms: int) -> Verdict:
    """taps_by_reader: {reader_id hex: [Tap, ...] in the order sent};
    reader_keys: {reader_id hex: (public key bytes, station)};
    stored: [(reader_id hex, seq, raw bytes)] the hub's records;
    ledger: {(learner, activity, session_start): milli} summed ledger entries;
    held: [(learner, activity, session_start, status, holds)] credit states not settled."""
    v = Verdict()
    c = v.counts
    learners_by_uid = {p.uid: p.id for p in plan.learners}
    by_reader: dict[str, dict[int, rec.Record]] = {}
    for rid, seq, raw in stored:
        key = reader_keys.get(rid)
        if key is None:
            v.add("phantom", f"record {rid}#{seq} from a reader of no station")
            continue
        try:
            r = _verify(key[0], raw)
        except (ValueError, ProtocolError) as exc:
            v.add("altered", f"record {rid}#{seq} stored by the hub: {exc}")
            continue
        if r.seq != seq or r.reader_id.hex() != rid:
            v.add("altered", f"record stored as {rid}#{seq} is {r.reader_id.hex()}#{r.seq}")
            continue
        by_reader.setdefault(rid, {})[seq] = r
    c["hub_records"] = len(stored)

    dated: list[tuple[str, str, rec.Record | None, Tap]] = []  # (station, learner, record, tap)
    c.update(taps=0, recorded=0, refused=0, unconfirmed=0, unconfirmed_stored=0, lost=0,
             duplicated=0, phantom=0)
    for rid, taps in taps_by_reader.items():
        records = by_reader.get(rid, {})
        explained: set[int] = set()
        recorded = [t for t in taps if t.outcome in RECORDED]
        c["taps"] += len(taps)
        c["recorded"] += len(recorded)
        c["unconfirmed"] += sum(1 for t in taps if t.outcome == UNCONFIRMED)
        for t in taps:
            if t.outcome not in RECORDED and t.outcome != UNCONFIRMED:
                c["refused"] += 1
                c["refused_" + t.outcome] = c.get("refused_" + t.outcome, 0) + 1
        for t in recorded:
            r = records.get(t.seq)
            if r is None:
                c["lost"] += 1
                v.add("lost", f"{rid}#{t.seq} ({t.learner} at {t.t_sent:.2f}) recorded, not at the hub")
                dated.append((t.station, t.learner, None, t))  # its credit is still owed
                continue
            explained.add(t.seq)
            if bytes(r.uid) != t.uid or r.kind != t.kind:
                v.add("altered", f"{rid}#{t.seq}: stored card {bytes(r.uid).hex()} kind {r.kind}, "
                                 f"tapped {t.uid.hex()} kind {t.kind}")
                continue
            dated.append((t.station, t.learner, r, t))
        # unexplained records, by the unconfirmed taps between their recorded neighbours
        marks = [(i, t.seq) for i, t in enumerate(taps) if t.outcome in RECORDED]
        extra = sorted(s for s in records if s not in explained)
        used: set[int] = set()
        for s in extra:
            r = records[s]
            lo = max((i for i, q in marks if q < s), default=-1)
            hi = min((i for i, q in marks if q > s), default=len(taps))
            match = next((i for i in range(lo + 1, hi) if i not in used
                          and taps[i].outcome == UNCONFIRMED and taps[i].uid == bytes(r.uid)
                          and taps[i].kind == r.kind), None)
            if match is None:
                near = taps[max(lo, 0):min(hi + 1, len(taps))]  # its neighbours included
                dup = any(t.uid == bytes(r.uid) for t in near if t.outcome in RECORDED) \
                    or any(taps[i].uid == bytes(r.uid) for i in used)
                category = "duplicated" if dup else "phantom"
                c[category] += 1
                v.add(category, f"{rid}#{s} card {bytes(r.uid).hex()} stored with no tap to explain it")
                continue
            used.add(match)
            c["unconfirmed_stored"] += 1
            dated.append((taps[match].station, taps[match].learner, r, taps[match]))
        # seqs are never skipped by a reader: the stored ones must run 1..n
        if records:
            top = max(records)
            missing = [s for s in range(1, top + 1) if s not in records]
            if missing:
                v.add("gap", f"{rid}: seqs {missing[:8]} missing below {top}")

    expected: dict[tuple, int] = {}
    uncertain: set[tuple] = set()
    c["dated_by_host"] = 0
    for station, learner, r, tap in dated:
        activity = activity_id(station)
        if r is not None and r.reader_time:
            k = plan.session_index(station, t0, r.reader_time)
            ks = {k}
        else:
            c["dated_by_host"] += 1
            ks = {plan.session_index(station, t0, tap.t_sent - 1.0),
                  plan.session_index(station, t0, tap.t_done + 1.0)}
        if learners_by_uid.get(tap.uid) != learner:
            v.add("altered", f"{learner}'s tap carries card {tap.uid.hex()}")
        keys = {(learner, activity, plan.session_list(station, t0)[k][0]) for k in ks if k is not None}
        if len(ks) == 1 and len(keys) == 1:
            expected[keys.pop()] = CREDIT_MILLI
        else:
            uncertain.update(keys)
    uncertain -= set(expected)
    c["expected_credits"] = len(expected)
    c["uncertain_sessions"] = len(uncertain)
    c["ledger_sessions"] = sum(1 for m in ledger.values() if m)
    c.update(missing_credits=0, duplicated_credits=0, phantom_credits=0)
    for key, want in sorted(expected.items()):
        got = ledger.get(key, 0)
        if got == want:
            continue
        category = "missing_credits" if got < want else "duplicated_credits"
        c[category] += 1
        v.add(category, f"{key}: ledger {got} milli, oracle {want}")
    for key, got in sorted(ledger.items()):
        if key in expected or not got:
            continue
        if key in uncertain and got == CREDIT_MILLI:
            continue
        c["phantom_credits"] += 1
        v.add("phantom_credits", f"{key}: ledger {got} milli, oracle 0")
    c["held"] = len(held)
    for row in held[:_SHOW]:
        v.add("held", f"{row}")
    c["quarantined"] = quarantined
    c["alarms"] = alarms
    if quarantined:
        v.add("quarantined", f"{quarantined} records or batches quarantined by the hub")
    if alarms:
        v.add("alarms", f"{alarms} alarms raised by the hub")
    return v


def activity_id(station: str) -> str:
    return "CHAOS-" + station
