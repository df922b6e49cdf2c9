"""pipeline: one batch through the hub in one database transaction, then its ack.

    decode ─▶ lock readers ─▶ load readers + stored neighbours ─▶ ingest.decide (pure)
      ─▶ times (clock anchors, skew) ─▶ cards ─▶ burst flags ─▶ insert records (executemany)
      ─▶ chain watermark (gap fill?) ─▶ lock learners ─▶ crediting.evaluate (pure)
      ─▶ ledger.diff (pure) ─▶ upsert states, append ledger ─▶ quarantine, alarms, counters
      ─▶ COMMIT ─▶ ack bytes (the caller publishes them only now)

Exactly once rests on the database, not on the caller: records are keyed by (reader_id, seq)
and decided under the reader's lock (row lock on PostgreSQL, the write lock on SQLite), and
crediting writes deltas under the learner's lock, so a batch handled twice, or by two
workers at once, changes nothing the second time. Errors in wire data never raise: they
become outcomes. A database error raises StoreError and nothing is acked.

Quarantine rows go through store/quarantine.py under the station's `hub.quarantine_quota`:
a batch whose rejections would pass it stores none of them and gets no ack (counts
{"over_quota": n}); its agent keeps the records and resends them (custody), its accepted
records are committed and come back as duplicates. Batch ids are u64 (SPEC §4.1), stored as
two's complement in the signed BIGINT columns (store/u64.py).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from protocol import batch as wire
from server_hub.core import clock, crediting, integrity, ledger
from server_hub.core.ingest import BatchIngest, BatchRejected, Verifier
from server_hub.ingest.tapcache import TapCache
from server_hub.store import credits as cq
from server_hub.store import evidence as eq
from server_hub.store import quarantine as qstore
from server_hub.store import schema
from server_hub.store.u64 import to_db
from server_hub.store.db import Store, lock_learners, lock_readers


@dataclass
class BatchResult:
    station_id: str
    batch_id: int | None
    ack: bytes | None             # None: the batch id is unreadable, nothing can be acked
    status: int = wire.BATCH_OK
    counts: dict = field(default_factory=dict)
    credited: int = 0             # ledger entries written
    alarms: int = 0
    error: Exception | None = None  # handle_batches: the batch failed even alone; not acked


class Pipeline:
    def __init__(self, store: Store, config):
        self.store = store
        self.config = config
        self.rules = crediting.Rules.from_config(config)
        self.verifier = Verifier()
        self.every_signature = bool(getattr(getattr(config, "integrity", None),
                                            "verify_every_signature", False))
        self.max_payload = config.mqtt.max_payload
        self._activities: dict = {}   # (id, updated_at) -> crediting.Activity
        self.taps = TapCache()        # learners' recent taps between batches (SQLite)

    # --- batches -------------------------------------------------------------------------

    def handle_batch(self, station_id: str, payload: bytes, now: float | None = None
                     ) -> BatchResult:
        now = time.time() if now is None else now
        try:
            ingest = BatchIngest(station_id, payload, self.max_payload)
        except BatchRejected as rej:
            return self._reject_batch(station_id, payload, rej, now)
        with self.store.write() as conn:
            self.taps.begin(conn)
            lock_readers(conn, ingest.needs().keys())
            result = self._ingest_in(conn, station_id, ingest, now)
            self.taps.before_commit(conn)
        self.taps.committed()
        return result

    def handle_batches(self, items, now: float | None = None) -> list:
        """Group commit: several (station_id, payload) batches in ONE write transaction, each
        in its own savepoint; the results (acks) exist only after that one commit. A batch
        that fails inside the group is rolled back alone and retried alone (handle_batch);
        see groupcommit.py. -> [BatchResult] in the order of `items`."""
        from server_hub.ingest import groupcommit
        return groupcommit.handle_group(self, items, time.time() if now is None else now)

    def _ingest_in(self, conn, station_id, ingest: BatchIngest, now) -> BatchResult:
        """One decoded batch inside the caller's write transaction (its readers locked)."""
        needs = ingest.needs()
        margin = max(2, 2 * self.rules.integrity.burst_cards)
        readers = eq.load_readers(conn, needs.keys())
        windows, stored = {}, {}
        for rid in needs:
            seqs = [e.record.seq for e in ingest.entries
                    if e is not None and e.record.reader_id == rid]
            rows = eq.load_window(conn, rid, seqs, margin if rid in readers else 1)
            windows[rid] = rows
            stored.update(eq.stored_records(rows, rid))
        plan = ingest.decide(readers, stored, self.verifier, self.every_signature)
        credited = 0
        if plan.accepted:
            credited = self._store_accepted(conn, station_id, plan, windows, now,
                                            ingest.batch.agent_times)
        kept = True
        if plan.rejections:
            kept = qstore.put(conn, station_id, sorted(
                ((station_id, to_db(plan.batch_id), r.code, r.reason, r.detail[:500],
                  r.reader_id, r.seq, r.raw, r.raw_hash, now) for r in plan.rejections),
                key=lambda row: (row[8], row[2])), now, self.quota)
        if plan.alarms:
            eq.INSERT_ALARMS.run(conn, sorted(
                ((a.kind, station_id, a.reader_id, a.seq, a.detail, a.evidence_hash, now)
                 for a in plan.alarms), key=lambda row: (row[0], row[5])))
        counts = plan.counts()
        if not kept:            # over the quarantine quota: no ack, the agent resends later
            counts = {name: n for name, n in counts.items() if name in ("accepted", "duplicate")}
            counts["over_quota"] = len(plan.rejections)
        eq.count_sync(conn, station_id, to_db(plan.batch_id), counts, now)
        ack = wire.encode_ack(plan.batch_id, plan.outcomes) if kept else None
        return BatchResult(station_id, plan.batch_id, ack, counts=counts, credited=credited,
                           alarms=len(plan.alarms))

    @property
    def quota(self) -> int:
        """hub.quarantine_quota: unreleased quarantine rows a station may hold (0: no quota)."""
        return int(getattr(getattr(self.config, "hub", None), "quarantine_quota", 0) or 0)

    def _reject_batch(self, station_id, payload, rej: BatchRejected, now) -> BatchResult:
        with self.store.write() as conn:
            return self._reject_in(conn, station_id, payload, rej, now)

    def _reject_in(self, conn, station_id, payload, rej: BatchRejected, now) -> BatchResult:
        raw = bytes(payload)
        detail = rej.detail
        if len(raw) > self.max_payload:   # keep the evidence bounded; its hash names it all
            detail += f"; stored the first {self.max_payload} bytes"
            kept = raw[:self.max_payload]
        else:
            kept = raw
        if not qstore.put(conn, station_id, [(station_id, to_db(rej.batch_id), rej.status,
                                               rej.reason, detail[:500], None, None, kept,
                                               hashlib.sha256(raw).digest(), now)],
                          now, self.quota):
            eq.count_sync(conn, station_id, to_db(rej.batch_id), {"over_quota": 1}, now)
            return BatchResult(station_id, rej.batch_id, None, status=rej.status,
                               counts={"over_quota": 1})
        eq.count_sync(conn, station_id, to_db(rej.batch_id), {rej.reason: 1}, now)
        ack = wire.encode_ack(rej.batch_id, b"", rej.status) if rej.batch_id is not None else None
        return BatchResult(station_id, rej.batch_id, ack, status=rej.status,
                           counts={rej.reason: 1})

    # --- storing accepted records ----------------------------------------------------------

    def _store_accepted(self, conn, station_id, plan, windows, now, agent_times=None) -> int:
        by_reader: dict[bytes, list] = {}
        for e in plan.accepted:
            by_reader.setdefault(e.record.reader_id, []).append(e)
        changed: dict[str, int] = {}   # learner -> earliest tap time whose crediting changed

        def touch(learner, t):
            if learner is not None and t is not None:
                old = changed.get(learner)
                if old is None or t < old:
                    changed[learner] = t

        # 1. times: clock anchors per boot, rebuilt times, agent times, future clocks, skew
        timed = self._date_records(conn, plan, now, agent_times, touch)
        if plan.flags & wire.FLAG_LIVE:
            self._measure_skew(conn, by_reader, now, touch)
        # 2. learners from cards
        cards = cq.card_status(conn, {e.record.uid for e in plan.accepted})
        # 3. burst flags over each reader's window of neighbours
        new_flags = self._flag_bursts(conn, by_reader, windows, touch)
        # 4. insert the records
        self._insert_records(conn, station_id, plan, now, timed, cards, new_flags, touch)
        # 5. chain watermarks; a filled gap releases the holds of the records above it
        self._advance_chains(conn, by_reader, now, touch)
        # 6. credit every learner whose taps changed
        return self.credit_learners(conn, changed, now) if changed else 0

    def _date_records(self, conn, plan, now, agent_times, touch) -> dict:
        """{index: (best time, its source, agent time, FLAG_FUTURE or 0)} of the accepted
        records, after storing each boot's clock anchor (an earlier one rebuilds its times)."""
        irules = self.rules.integrity
        boot_keys = {(e.record.reader_id, e.record.boot) for e in plan.accepted}
        anchors = eq.load_boots(conn, boot_keys)
        new_anchors = {}
        for e in plan.accepted:
            r = e.record
            if not clock.is_valid(r.reader_time):
                continue
            key = (r.reader_id, r.boot)
            cur = new_anchors.get(key) or anchors.get(key)
            if cur is None or cur[0] is None or r.seq < cur[0]:
                new_anchors[key] = (r.seq, r.reader_time, r.uptime_ms)
        missing_boots = [k for k in boot_keys if k not in anchors and k not in new_anchors]
        boot_rows = [(k[0], k[1], a[0], a[1], a[2], now) for k, a in new_anchors.items()]
        boot_rows += [(k[0], k[1], None, None, None, now) for k in missing_boots]
        eq.UPSERT_BOOTS.run(conn, sorted(boot_rows, key=lambda row: (row[0], row[1])))
        for key, anchor in new_anchors.items():
            if key in anchors:  # an earlier anchor than before: rebuild the boot's times
                self._retime(conn, key, anchor, touch)
            anchors[key] = anchor
        flags_future = now + irules.skew_s
        timed = {}
        for e in plan.accepted:
            r = e.record
            a = anchors.get((r.reader_id, r.boot))
            agent_time = (agent_times[e.index] or None) if agent_times else None
            best, source = clock.best_time(r.reader_time, r.uptime_ms,
                                           None if a is None or a[0] is None else (a[1], a[2]),
                                           agent_time)
            # a clock ahead of the hub (the reader's, or the agent's when it dates the tap)
            future = r.reader_time > flags_future or (source == clock.AGENT
                                                      and best > flags_future)
            timed[e.index] = (best, source, agent_time, integrity.FLAG_FUTURE if future else 0)
        return timed

    def _flag_bursts(self, conn, by_reader, windows, touch) -> dict:
        """{index: FLAG_BURST or 0} of the new records; stored neighbours gain the flag too."""
        irules = self.rules.integrity
        flag_updates = []
        new_flags = {}
        for rid, entries in by_reader.items():
            stored_rows = windows.get(rid, ())
            items = [(row[0], row[4], row[5], bytes(row[6])) for row in stored_rows]
            items += [(e.record.seq, e.record.boot, e.record.uptime_ms, e.record.uid)
                      for e in entries]
            items.sort()
            burst = integrity.burst_seqs(items, irules.burst_cards, irules.burst_window_s) \
                if len(items) >= irules.burst_cards else set()
            for row in stored_rows:     # more records can only make bursts, never undo one
                flags = row[7]
                want = (flags | integrity.FLAG_BURST) if row[0] in burst else flags
                if want != flags:
                    flag_updates.append((want, rid, row[0]))
                    touch(row[8], row[9])
            for e in entries:
                new_flags[e.index] = integrity.FLAG_BURST if e.record.seq in burst else 0
        if flag_updates:
            self.taps.clear()           # stored taps changed: the cache no longer holds them
        eq.UPDATE_FLAGS.run(conn, flag_updates)
        return new_flags

    def _insert_records(self, conn, station_id, plan, now, timed, cards, new_flags, touch):
        """One row per accepted record, with its time, learner and integrity flags."""
        rows = []
        batch_id = to_db(plan.batch_id)
        for e in plan.accepted:
            r = e.record
            best, source, agent_time, future = timed[e.index]
            card = cards.get(r.uid)
            learner = card[0] if card else None
            rows.append((r.reader_id, r.seq, station_id, r.kind, r.uid, r.reader_time, r.boot,
                         r.uptime_ms, best, source, learner, future | new_flags[e.index],
                         e.payload_hash, r.prev_hash, e.raw, e.auth_seq, batch_id, agent_time,
                         now))
            touch(learner, best)
        eq.INSERT_RECORDS.run(conn, rows)
        if self.taps.active(conn):      # as credits.learner_taps would read them back
            self.taps.add(conn, [(row[10], row[0], row[1], row[2], row[3], row[8], row[7],
                                  row[6], row[11], row[4]) for row in rows
                                 if row[10] is not None])

    def _advance_chains(self, conn, by_reader, now, touch):
        """Each reader's contiguous and highest seq; a filled gap touches the learners above."""
        chains = eq.load_chains(conn, by_reader.keys())
        chain_rows = []
        for rid, entries in by_reader.items():
            contiguous, max_seq, count = chains.get(rid, (0, 0, 0))
            seqs = [e.record.seq for e in entries]
            new_max = max(max_seq, max(seqs))
            new_contiguous = contiguous
            if contiguous + 1 in seqs:
                have = set(seqs)
                n = contiguous
                while True:
                    while n + 1 in have:
                        n += 1
                    if n >= max_seq:
                        break
                    more = eq.stored_seqs_after(conn, rid, n)
                    if not more or more[0] != n + 1:
                        break
                    have.update(more)
                new_contiguous = n
                if new_contiguous > contiguous and max_seq > contiguous:
                    for learner, t in eq.learners_between(conn, rid, contiguous,
                                                          min(new_contiguous, max_seq)).items():
                        touch(learner, t)
            chain_rows.append((new_contiguous, new_max, count + len(entries), now, rid))
        eq.UPDATE_CHAIN.run(conn, chain_rows)

    def _retime(self, conn, key, anchor, touch):
        """A (new, lower) anchor for a boot: rebuild the times of its untimed records, those
        dated by the agent included (an agent time that was ahead loses its flag)."""
        rid, boot = key
        updates, flag_updates = [], []
        for seq, uptime_ms, best, source, learner, flags in eq.untimed_records(conn, rid, boot):
            new = clock.rebuild(anchor[1], anchor[2], uptime_ms)
            if new != best or source != clock.REBUILT:
                updates.append((new, clock.REBUILT, rid, seq))
                touch(learner, new if best is None else min(best, new))
                if source == clock.AGENT and flags & integrity.FLAG_FUTURE:
                    flag_updates.append((flags & ~integrity.FLAG_FUTURE, rid, seq))
        if updates or flag_updates:
            self.taps.clear()
        eq.UPDATE_TIMES.run(conn, updates)
        eq.UPDATE_FLAGS.run(conn, flag_updates)

    def _measure_skew(self, conn, by_reader, now, touch):
        limit = self.rules.integrity.skew_s
        measured = []
        for rid, entries in by_reader.items():
            newest = max(entries, key=lambda e: e.record.seq)
            r = newest.record
            if not clock.is_valid(r.reader_time):
                continue
            skew = int(r.reader_time - now)
            if abs(skew) <= limit:
                continue
            epoch = clock.epoch(r.reader_time, r.uptime_ms)
            measured.append((rid, r.boot, epoch, skew, r.seq, now))
            for seq, best, uptime_ms, learner in eq.boot_records(conn, rid, r.boot, r.seq):
                if clock.same_epoch(best, uptime_ms, epoch):
                    touch(learner, best)
        eq.UPSERT_SKEWS.run(conn, measured)

    # --- crediting -------------------------------------------------------------------------

    def _activity_map(self, conn, station_ids) -> dict:
        by_station: dict = {}
        for row in cq.activity_rows(conn, station_ids):
            key = (row[0], row[5])
            act = self._activities.get(key)
            if act is None:
                if len(self._activities) > 20000:
                    self._activities.clear()
                act = self._activities[key] = crediting.Activity(
                    row[0], row[1], row[2], row[3], row[4], self.rules.tz)
            by_station.setdefault(row[1], []).append(act)
        return by_station

    def credit_learners(self, conn, changed: dict, now: float) -> int:
        """Re-decide the sessions of these learners from their earliest changed tap time on;
        writes state changes and ledger entries. Returns the number of ledger entries."""
        lock_learners(conn, changed.keys())
        rules = self.rules
        _, states_start, load_from = rules.scope(min(changed.values()),
                                                 cq.longest_session(conn))
        learner_ids = sorted(changed)
        rows = self.taps.learner_taps(conn, learner_ids, load_from)
        if not rows:
            return 0
        reader_ids = {bytes(r[1]) for r in rows}
        contiguous = {rid: chain[0] for rid, chain in eq.load_chains(conn, reader_ids).items()}
        skews = eq.load_skews(conn, reader_ids)
        held_cards = cq.inactive_cards(conn, {bytes(r[9]) for r in rows})
        station_ids = {r[3] for r in rows}
        by_station = self._activity_map(conn, station_ids)
        coords = cq.station_coords(conn, station_ids) if len(station_ids) > 1 else {}

        taps: dict[str, list] = {}
        Tap, holds_of = crediting.Tap, self._holds
        check_all = bool(skews or held_cards)
        top = contiguous.get
        for (learner, rid, seq, station, kind, best, uptime_ms, boot, flags, uid) in rows:
            if type(rid) is not bytes:
                rid = bytes(rid)
            holds = ()
            if flags or check_all or seq > top(rid, seq):
                holds = holds_of(rid, seq, best, uptime_ms, boot, flags, bytes(uid),
                                 contiguous, skews, held_cards)
            mine = taps.get(learner)
            if mine is None:
                mine = taps[learner] = []
            mine.append(Tap(rid, seq, station, kind, best, holds))

        existing = cq.states_from(conn, learner_ids, states_start)
        prior_act, prior_day, terms, prior_term = cq.cap_priors(
            conn, learner_ids, [a for acts in by_station.values() for a in acts], states_start,
            existing, rules.tz, bool(rules.max_per_day))
        reviews = cq.reviews_from(conn, learner_ids, states_start)

        state_rows, ledger_rows = [], []
        matcher = crediting.Matcher(by_station, rules)
        for learner in learner_ids:
            mine = taps.get(learner)
            if not mine:
                continue
            old = existing.get(learner, {})
            decisions = crediting.evaluate(
                learner, mine, by_station, rules, now=now, changed_from=changed[learner],
                coords=coords, existing=old, prior_activity=prior_act.get(learner),
                prior_day=prior_day.get(learner), reviews=reviews.get(learner),
                matcher=matcher, terms=terms, prior_term=prior_term.get(learner))
            s, e = ledger.diff(decisions, old, now)
            state_rows.extend(s)
            ledger_rows.extend(e)
        cq.UPSERT_STATES.run(conn, state_rows)
        cq.INSERT_LEDGER.run(conn, ledger_rows)
        cq.add_totals(conn, ledger_rows)
        return len(ledger_rows)

    @staticmethod
    def _holds(rid, seq, best, uptime_ms, boot, flags, uid, contiguous, skews, held_cards):
        holds = []
        if seq > contiguous.get(rid, seq):
            holds.append(integrity.CHAIN_GAP)
        if flags & integrity.FLAG_BURST:
            holds.append(integrity.TAP_BURST)
        if flags & integrity.FLAG_FUTURE:
            holds.append(integrity.CLOCK_SKEW)
        else:
            for epoch in skews.get((rid, boot), ()):
                if clock.same_epoch(best, uptime_ms, epoch):
                    holds.append(integrity.CLOCK_SKEW)
                    break
        card = held_cards.get(uid)
        if card is not None:
            reason = integrity.card_hold(card[1], card[2], best)
            if reason:
                holds.append(reason)
        return tuple(holds)

    def recompute(self, learner_times: dict, now: float | None = None) -> int:
        """Re-credit learners from the given times on (after a registry change or a review)."""
        now = time.time() if now is None else now
        total = 0
        items = sorted(learner_times.items())
        for i in range(0, len(items), 500):
            with self.store.write() as conn:
                total += self.credit_learners(conn, dict(items[i:i + 500]), now)
        return total

    def replay_quarantine(self, reader_id: bytes | None = None, now: float | None = None
                          ) -> dict:
        """Run quarantined records rejected as unknown_reader or wrong_station through ingest
        again (after the reader was enrolled or moved); those now accepted (or already stored)
        are marked released. Returns outcome counts."""
        now = time.time() if now is None else now
        q = schema.quarantine.c
        query = sa.select(q.id, q.station_id, q.raw).where(
            q.released_at.is_(None), q.reason.in_(("unknown_reader", "wrong_station")))
        if reader_id is not None:
            query = query.where(q.reader_id == reader_id)
        with self.store.read() as conn:
            rows = conn.execute(query.order_by(q.station_id, q.reader_id, q.seq)).fetchall()
        counts: dict = {}
        by_station: dict = {}
        for row in rows:
            by_station.setdefault(row[1], []).append((row[0], bytes(row[2])))
        for station, items in by_station.items():
            for i in range(0, len(items), wire.MAX_RECORDS):
                part = items[i:i + wire.MAX_RECORDS]
                result = self.handle_batch(station, wire.encode_batch(0, [r for _, r in part]),
                                           now=now)
                if result.ack is None:      # over the quarantine quota: stays as it is
                    continue
                outcomes = wire.decode_ack(result.ack).outcomes
                released = [qid for (qid, _), code in zip(part, outcomes)
                            if not wire.is_rejection(code)]
                with self.store.write() as conn:
                    for j in range(0, len(released), 900):
                        conn.execute(schema.quarantine.update()
                                     .where(q.id.in_(released[j:j + 900]))
                                     .values(released_at=now))
                for name, n in result.counts.items():
                    counts[name] = counts.get(name, 0) + n
        return counts

    def settle(self, now: float | None = None) -> int:
        """Re-decide sessions whose credit can change now that they have closed (end + late_s
        passed): those still 'open', and those of per-hour standards counting an open
        check-in to the session end (each once, tracked by a mark). Idempotent: the ledger
        gets only differences. Returns the ledger entries written."""
        now = time.time() if now is None else now
        closed_before = int(now) - self.rules.late_s
        with self.store.read() as conn:
            due = cq.open_sessions(conn, closed_before)
            closing, mark = cq.closing_sessions(conn, self._close_sensitive(conn),
                                                closed_before)
        for lid, start in closing.items():
            due[lid] = min(start, due.get(lid, start))
        written = 0
        if due:
            written = self.recompute({lid: start - self.rules.early_s
                                      for lid, start in due.items()}, now)
        with self.store.write() as conn:
            cq.advance_settle_mark(conn, mark)
        return written

    def _close_sensitive(self, conn) -> list:
        """Ids of the active activities whose standard can change a credit at the close."""
        rows = conn.execute(sa.select(schema.activities.c.id, schema.activities.c.station_id,
                                      schema.activities.c.name, schema.activities.c.schedule,
                                      schema.activities.c.standard,
                                      schema.activities.c.updated_at)
                            .where(schema.activities.c.active.is_(True))).fetchall()
        out = []
        for row in rows:
            key = (row[0], row[5])
            act = self._activities.get(key)
            if act is None:
                act = self._activities[key] = crediting.Activity(
                    row[0], row[1], row[2], row[3], row[4], self.rules.tz)
            if act.standard.changes_at_close():
                out.append(row[0])
        return out
