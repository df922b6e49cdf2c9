"""The agent's core: one thread that owns the SQLite queue and the outbox.

Every other thread (one per reader port, paho's network thread, the service's main thread)
only posts events to Core.post(); the core handles them in order, so the queue, the outbox
and the watermarks never need a lock. Between events it sleeps on the event queue until the
next deadline (a linger, a resend, a health report): an idle station costs no CPU.

Custody, in the order the code does it:
  records from a reader  -> committed in SQLite -> only then A(agent_wm) to the reader
  a batch to the hub     -> state in flight, committed -> only then published
  the hub's ack          -> synced/quarantined, committed -> only then A(hub_wm) to the reader
A full disk or a damaged database stops the acks (the readers keep their taps), never the
process.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import time
from collections import Counter

from agent import room
from agent.blocked import BlockedSender
from agent.errors import AckMismatch, StoreCorrupt, StoreError, StoreFull
from agent.logs import note
from agent.outbox import Outbox, Resend, Send, Settings
from agent.queuereport import QueueReport
from agent.problems import Problems
from agent.readers import HealthReport, ReaderState
from agent.recovery import open_store
from agent.status import StatusWriter
from agent.telemetry import health_message
from protocol import batch as batchproto
from protocol import link as linkproto
from protocol import record
from protocol.errors import LocalProtocolError, RemoteProtocolError

log = logging.getLogger("agent.core")

_EVENT_BURST = 2000  # events handled per wake-up before timers get a look in
_PRUNE_EVERY_S = 3600.0
_CLAIM_RETRY_S = 1.0
_DISK_CHECK_S = 10.0


class Core:
    def __init__(self, cfg, link=None, *, clock=time.time, mono=time.monotonic, rng=random.random):
        self.cfg = cfg
        self.link = link
        self.clock = clock
        self.mono = mono
        self.events = queue.Queue()
        self.outbox = Outbox(Settings.from_config(cfg.sync), rng)
        self.store = None
        self.readers = {}      # reader_id -> ReaderState
        self.ports = {}        # path -> ReaderPort (those currently up)
        self._port_errors = {}  # path -> last reason it went down or could not open
        self._payloads = {}    # batch_id -> encoded batch, for resends
        self.stats = Counter()
        self.problems = Problems(mono, self._status_changed)
        self.blocked = BlockedSender()   # the hub's blocked-card list, forwarded to readers
        self.mqtt_up = False
        self.mqtt_since = clock()
        self.mqtt_reason = "not connected yet"
        self.last_hub_ack = None
        self.recovery = None
        self.started_at = clock()
        self.fatal = None
        self.stopped = False
        self._next_health = mono() + cfg.status.health_interval_s
        self._next_prune = mono()
        self._next_disk_check = mono()
        self.queue_report = QueueReport()   # drain rate/ETA in the log, retained status figures
        self.status = StatusWriter(cfg.status_path(), self)

    def _status_changed(self):
        self.status.dirty = True

    def post(self, event):
        self.events.put(event)

    def stop(self):
        self.events.put(("stop",))

    # -- startup --------------------------------------------------------------------------

    def open(self):
        """Open (or recover) the queue; put in-flight batches back to pending."""
        max_bytes = self.cfg.queue.max_size_mb * 1024 * 1024
        self.store, self.recovery = open_store(self.cfg.queue.path, max_size_bytes=max_bytes)
        if self.recovery:
            self.problems.set("damaged_queue", "the queue database was damaged and has been replaced; "
                          "{salvaged} unsynced records were rescued, the old file is kept as "
                          "{moved_to}".format(**self.recovery), level=logging.ERROR)
        reset = self.store.reset_inflight()
        live, backlog = self.store.pending_counts()
        self.outbox.set_pending(live, backlog, self.mono())
        for row in self.store.readers():
            state = self._reader(row["reader_id"])
            state.agent_wm, state.hub_wm, state.label = row["agent_wm"], row["hub_wm"], row["label"]
        kept = self.store.blocked_list()
        if kept is not None:
            self.blocked.load(kept)
        note(log, logging.INFO, "queue open", path=self.cfg.queue.path, pending=live + backlog,
             requeued_inflight=reset)

    # -- the loop -------------------------------------------------------------------------

    def run(self):
        try:
            if self.store is None:
                self.open()
        except (StoreError, OSError) as exc:
            self.fatal = "cannot open the queue {}: {}".format(self.cfg.queue.path, exc)
            self.stopped = True
            return
        try:
            self._loop()
        except Exception as exc:  # a bug: say so, exit non-zero, systemd restarts us
            log.exception("agent core failed")
            self.fatal = self.fatal or "internal error: {}: {} (see the log)".format(
                type(exc).__name__, exc)
        finally:
            self.stopped = True
            self.status.write(self.mono(), force=True, state="stopped")
            if self.store is not None:
                self.store.close()

    def _loop(self):
        while True:
            now = self.mono()
            wake = self._next_wake(now)
            try:
                first = self.events.get(timeout=None if wake is None else max(0.0, wake - now))
            except queue.Empty:
                first = None
            batch = [first] if first is not None else []
            while len(batch) < _EVENT_BURST:
                try:
                    batch.append(self.events.get_nowait())
                except queue.Empty:
                    break
            if self._handle(batch):
                return
            self._timers(self.mono())
            self._pump(self.mono())
            self.status.write(self.mono())

    def _next_wake(self, now):
        times = [self._next_health, self._next_prune, self.status.next_due(now)]
        for due in (self.outbox.next_deadline(now), self.queue_report.due(now)):
            if due is not None:
                times.append(due)
        return min(times)

    def _handle(self, events):
        """Handle a burst of events; records from the whole burst share one commit."""
        records = []
        stop = False
        for event in events:
            kind = event[0]
            if kind == "records":
                records.append(event)
            elif kind == "stop":
                stop = True
            else:
                if records:
                    self._commit_records(records)
                    records = []
                getattr(self, "_on_" + kind)(*event[1:])
        if records:
            self._commit_records(records)
        return stop

    # -- readers --------------------------------------------------------------------------

    def _reader(self, rid):
        state = self.readers.get(rid)
        if state is None:
            state = self.readers[rid] = ReaderState(rid)
        return state

    def _on_port_up(self, port):
        self.ports[port.path] = port
        self._port_errors.pop(port.path, None)
        note(log, logging.INFO, "reader port open", port=port.path)
        self.status.dirty = True

    def _on_port_down(self, port, reason):
        if self.ports.get(port.path) is port:
            del self.ports[port.path]
            note(log, logging.INFO, "reader port closed", port=port.path, reason=reason)
        elif self._port_errors.get(port.path) != reason:  # could not open: say so once
            note(log, logging.WARNING, "reader port unusable", port=port.path, reason=reason)
        self._port_errors[port.path] = reason
        for state in self.readers.values():
            if state.port is port:
                state.online = False
        self.status.dirty = True

    def _attach(self, port, rid):
        state = self._reader(rid)
        if state.port is not port or not state.online:
            state.port = port
            state.online = True
            self.status.dirty = True
        return state

    def _commit_records(self, events):
        now = self.clock()
        window = self.cfg.sync.live_window_s
        rows, seen = [], {}
        for _kind, port, items in events:
            for rid, seq, data, reader_time in items:
                live = reader_time != 0 and abs(now - reader_time) <= window
                tap_time = None
                if reader_time == 0 and len(data) >= record.PEEK_CLOCK_LEN:
                    boot, uptime_ms = record.peek_boot_uptime(data)
                    tap_time = self._reader(rid).estimate_tap_time(boot, uptime_ms, now)
                rows.append((rid, seq, data, reader_time, live, tap_time))
                seen[rid] = port
        try:
            result, freed = self.store.add_records_making_room(rows, now)
        except StoreFull:   # no ack: the readers keep the records
            self._queue_full()
            return
        except StoreCorrupt as exc:
            self._recover(exc)
            return
        except StoreError as exc:
            self.problems.set("queue_error", str(exc), level=logging.ERROR)
            return
        if freed:
            note(log, logging.WARNING, "queue full: pruned synced records early", freed=freed)
        self.problems.clear("disk_full")
        self.problems.clear("queue_error")
        self.stats["records_in"] += result.inserted
        self.stats["records_repeated"] += result.repeats
        for rid, seq in result.equivocations:
            self.stats["equivocations"] += 1
            note(log, logging.ERROR, "reader sent two different records with one sequence number: "
                 "possible cloned or rolled-back reader; both are kept", reader=rid.hex(), seq=seq)
        self.outbox.add_pending(result.inserted_live, result.inserted - result.inserted_live,
                                self.mono())
        for rid, port in seen.items():
            state = self._attach(port, rid)
            state.last_record_at = now
            state.agent_wm, state.hub_wm = result.watermarks[rid]
            port.send_ack(rid, state.agent_wm, state.hub_wm)

    def _queue_full(self):
        ob = self.outbox
        waiting = ob.pending_live + ob.pending_backlog + sum(b.count for b in ob.inflight.values())
        self.problems.set("disk_full", room.queue_full(waiting, self.cfg.queue.path),
                          level=logging.ERROR)
        self.stats["store_full"] += 1

    def _on_health(self, port, obj):
        report = HealthReport(obj)
        if report.rid is None:
            self.stats["bad_health"] += 1
            note(log, logging.WARNING, "reader health without a valid reader id", port=port.path)
            return
        rid, rid_hex = report.rid, report.rid.hex()
        now = self.clock()
        state = self._attach(port, rid)
        report.apply(state, now, self.mono())
        key = "station_" + rid_hex
        if report.station and report.station != self.cfg.station:
            self.problems.set(key, "reader {} ({}) is set up for station {} but plugged into {}: "
                              "the hub will refuse its taps; re-provision it or move it".format(
                                  state.label or "-", rid_hex, report.station, self.cfg.station))
        else:
            self.problems.clear(key)
        try:
            ours = self.store.watermarks(rid)
            if report.agent_wm is not None and report.agent_wm > ours[0]:
                note(log, logging.WARNING, "reader says records were acked by a previous queue that "
                     "this one does not hold; asking the reader to offer them again (rewind)",
                     reader=rid_hex, reader_agent_wm=report.agent_wm, our_agent_wm=ours[0])
                port.send(linkproto.encode_rewind(rid, ours[0] + 1))
            state.agent_wm, state.hub_wm = self.store.note_reader(
                rid, now, label=state.label, agent_wm=report.agent_wm, hub_wm=report.hub_wm,
                health_json=json.dumps(obj, separators=(",", ":"))[:2000])
        except StoreCorrupt as exc:
            self._recover(exc)
            return
        except StoreError as exc:
            self.problems.set("queue_error", str(exc), level=logging.ERROR)
            return
        port.send_ack(rid, state.agent_wm, state.hub_wm)
        if self.blocked.due(rid, (port.path, port.opened_at), report.boot, report.blocked,
                            report.bcrc, self.mono()):
            self._send_blocked(state, report.boot)
        self.status.dirty = True

    # -- the blocked-card list (SPEC 4.6) -------------------------------------------------

    def _on_blocked_list(self, payload):
        try:
            new = self.blocked.accept(payload)
        except RemoteProtocolError as exc:
            self.stats["blocked_lists_rejected"] += 1
            note(log, logging.WARNING, "hub's blocked-card list rejected: {}".format(exc),
                 reason=exc.reason)
            return
        if new is None:
            return  # the one we have (every reconnect brings the retained message again)
        note(log, logging.INFO, "blocked-card list received", version=new.version,
             cards=len(new.uids))
        try:
            self.store.save_blocked_list(new.version, payload, self.clock())
        except StoreError as exc:  # the readers still get it; kept again on the next one
            note(log, logging.WARNING, "blocked-card list not kept: {}".format(exc))
        for state in self.readers.values():
            if state.online and state.port is not None:
                self._send_blocked(state, state.health.get("boot"))
        self.status.dirty = True

    def _send_blocked(self, state, boot):
        # the B frames, then a Q: the reader's answering health says whether the list arrived
        port = state.port
        for line in self.blocked.current.lines + [linkproto.encode(linkproto.QUERY)]:
            if not port.send(line):
                return
        self.blocked.sent(state.rid, (port.path, port.opened_at), boot, self.mono())
        self.stats["blocked_lists_sent"] += 1

    # -- hub ------------------------------------------------------------------------------

    def _on_mqtt_up(self, session_present):
        self.mqtt_up = True
        self.mqtt_since = self.clock()
        self.mqtt_reason = None
        self.outbox.link_up(self.mono())
        self.queue_report.link_up()
        self.status.dirty = True

    def _on_mqtt_down(self, reason):
        if self.mqtt_up:
            self.mqtt_since = self.clock()
        self.mqtt_up = False
        self.mqtt_reason = reason
        self.outbox.link_down(self.mono())
        self.status.dirty = True

    def _on_hub_ack(self, payload, size):
        self.stats["acks_received"] += 1
        try:
            if size > len(payload) or size > 14 + batchproto.MAX_RECORDS:
                raise RemoteProtocolError("ack of {} bytes is larger than any ack".format(size),
                                          "oversize")
            ack = batchproto.decode_ack(payload)
        except RemoteProtocolError as exc:
            self.stats["acks_rejected"] += 1
            note(log, logging.WARNING, "hub ack rejected: {}".format(exc), reason=exc.reason,
                 size=size)
            return
        verdict = self.outbox.check_ack(ack.batch_id, ack.status, len(ack.outcomes))
        if verdict != "matched":
            note(log, logging.WARNING if verdict == "count_mismatch" else logging.INFO,
                 "hub ack ignored: {}".format(verdict.replace("_", " ")), batch=ack.batch_id,
                 outcomes=len(ack.outcomes))
            return
        now = self.clock()
        try:
            result = self.store.apply_ack(ack.batch_id, ack.status, ack.outcomes, now)
        except AckMismatch as exc:
            self.stats["ack_count_mismatch"] += 1
            note(log, logging.ERROR, "hub ack does not fit the queue: {}".format(exc))
            return
        except StoreCorrupt as exc:
            self._recover(exc)
            return
        except StoreError as exc:  # not marked: the batch is resent and acked again later
            self.problems.set("queue_error", str(exc), level=logging.ERROR)
            return
        self.outbox.complete(ack.batch_id)
        self._payloads.pop(ack.batch_id, None)
        self.last_hub_ack = now
        self.stats["records_synced"] += result.synced
        if result.quarantined:
            self.stats["records_quarantined"] += sum(result.quarantined.values())
            note(log, logging.WARNING, "hub quarantined records", batch=ack.batch_id,
                 reasons=dict(result.quarantined))
        for rid, (agent_wm, hub_wm) in result.watermarks.items():
            state = self._reader(rid)
            changed = hub_wm != state.hub_wm
            state.agent_wm, state.hub_wm = agent_wm, hub_wm
            if changed and state.online and state.port is not None:
                state.port.send_ack(rid, agent_wm, hub_wm)
        self.status.dirty = True

    def _pump(self, now):
        if self.store is None or self.link is None:
            return
        for _ in range(64):
            actions = self.outbox.poll(now)
            if not actions:
                return
            for action in actions:
                if isinstance(action, Resend):
                    payload = self._payloads.get(action.batch_id)
                    if payload is None:
                        self.outbox.forget(action.batch_id)
                    else:
                        self.link.publish_batch(payload)
                elif isinstance(action, Send):
                    self._send_new(action, now)
                    now = self.mono()

    def _send_new(self, action, now):
        try:
            if action.live:
                stale = self.store.demote_stale_live(self.clock() - self.cfg.sync.live_window_s)
                if stale:
                    self.outbox.demoted(stale)
            batch_id, records, times = self.store.claim_batch_timed(action.limit, action.live,
                                                                    batchproto.MAX_PAYLOAD)
        except StoreCorrupt as exc:
            self._recover(exc)
            return
        except StoreError as exc:  # e.g. full: try again in a while, the records are still there
            self.problems.set("queue_error", str(exc), level=logging.ERROR)
            self.outbox.hold(now + _CLAIM_RETRY_S)
            return
        if batch_id is None:
            self.outbox.claim_came_up_empty(action.live)
            return
        self.problems.clear("queue_error")
        try:
            payload = batchproto.encode_batch(batch_id, records,
                                              batchproto.FLAG_LIVE if action.live else 0, times)
        except LocalProtocolError as exc:  # cannot happen with records the port accepted
            note(log, logging.ERROR, "batch cannot be encoded: {}".format(exc), batch=batch_id)
            return
        self._payloads[batch_id] = payload
        self.link.publish_batch(payload)
        self.outbox.claimed(batch_id, len(records), action.live, now)

    # -- timers ---------------------------------------------------------------------------

    def _timers(self, now):
        if now >= self._next_health:
            self._next_health = now + self.cfg.status.health_interval_s
            if self.mqtt_up and self.link is not None:
                self.link.publish_health(health_message(self))
        if now >= self._next_prune:
            self._next_prune = now + _PRUNE_EVERY_S
            self._prune()
        if now >= self._next_disk_check:
            self._next_disk_check = now + _DISK_CHECK_S
            self._check_disk()
        ob = self.outbox
        waiting = ob.pending_live + ob.pending_backlog + sum(b.count for b in ob.inflight.values())
        self.queue_report.tick(now, self.stats["records_synced"] + self.stats["records_quarantined"],
                               waiting, self.link if self.mqtt_up else None, self.store.counts,
                               self.clock())

    def _prune(self):
        cutoff = self.clock() - self.cfg.queue.retention_days * 86400
        try:
            n = self.store.prune(cutoff)
        except StoreCorrupt as exc:
            self._recover(exc)
            return
        except StoreError as exc:
            self.problems.set("queue_error", str(exc), level=logging.ERROR)
            return
        if n:
            note(log, logging.INFO, "pruned synced records", count=n)

    def _check_disk(self):
        low = room.low_disk(self.cfg.queue.path, self.cfg.queue.warn_free_mb, self.disk_free())
        if low:
            self.problems.set("disk_low", low)
        else:
            self.problems.clear("disk_low")

    def disk_free(self):
        return room.disk_free(self.cfg.queue.path)

    def _recover(self, exc):
        """The database went bad under us: reopen (moving it aside and salvaging)."""
        note(log, logging.ERROR, "queue database damaged; replacing it", error=str(exc))
        try:
            self.store.close()
        except Exception:  # a damaged connection may refuse even to close
            pass
        self.store = None
        self._payloads.clear()
        self.outbox.reset_inflight()
        try:
            self.open()
        except (StoreError, OSError) as again:
            self.fatal = "cannot reopen the queue {}: {}".format(self.cfg.queue.path, again)
            raise
