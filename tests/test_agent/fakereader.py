"""A CPython fake reader: speaks the link protocol (SPEC §3) on the master end of a pty.

What the agent sees on the slave end is what the firmware does: records minted and signed at
the tap (hil_tests/simreader.py SimReader), offered in order a window at a time from
agent_wm + 1, re-offered after a timeout or on Q, watermarks from A frames that never go
backwards, T sets the clock (reader_time 0 until then), H health on start, on Q and
periodically. `port` is a stable symlink, so unplug()/plug() behave like a USB reader
coming and going on the same /dev path.

One thread runs a select() loop over the pty and a wake-up pipe; tap() may be called from
any thread.
"""

from __future__ import annotations

import binascii
import json
import os
import select
import threading
import time
import tty
from pathlib import Path

from hil_tests.simreader import SimReader
from protocol import link, linkcredit
from protocol import record as rec

_OUTBUF_MAX = 64 * 1024


class FakeReader:
    def __init__(self, workdir, name="reader0", *, window=16, reoffer_s=1.0, health_s=30.0,
                 label=None, seed=None, capacity=100_000, station=None, report_blocked=True,
                 credits=True):
        self.sim = SimReader(seed)
        self.reader_id = self.sim.reader_id
        self.rid = self.reader_id.hex()
        self.port = str(Path(workdir) / name)
        self.label = label or name
        self.station = station
        self.window = window
        self.reoffer_s = reoffer_s
        self.health_s = health_s
        self.capacity = capacity
        self.journal = []   # encoded records, journal[seq - 1]
        self._frames = []   # the R frame of each, encoded once
        self.agent_wm = 0
        self.hub_wm = 0
        self.clock_offset = None  # set by T: agent time - our time
        self.offer_limit = None   # offer no seq above this (None: all), e.g. to pre-mint a backlog
        self.counts = {"acks": 0, "times": 0, "queries": 0, "bad_from_agent": 0, "offers": 0,
                       "stale_acks": 0, "foreign_acks": 0, "blocked_frames": 0, "health": 0}
        self.blocked = set()         # the blocked-card list as the firmware keeps it (11-B keys)
        self.report_blocked = report_blocked   # health carries blocked/bcrc (firmware >= 0.1.1)
        # line credits (SPEC §3) as firmware/linkport.py gives them once asked; False: firmware
        # from before them (a K is a frame type it does not know, its health has no "fc")
        self.credits = credits
        self.crediting = False
        self._credit_mark = 0
        self._lock = threading.Lock()
        self._master = None
        self._slave = None
        self._out = bytearray()
        self._sent_upto = 0
        self._last_progress = time.monotonic()
        self._next_health = 0.0
        self._decoder = link.LinkDecoder()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._stop = False
        self._thread = None
        self.started = time.monotonic()

    # -- test API ------------------------------------------------------------------------

    def start(self):
        self.plug()
        self._thread = threading.Thread(target=self._loop, name="fake " + self.label, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
        self.unplug()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def plug(self):
        with self._lock:
            if self._master is not None:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            tmp = self.port + ".tmp"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.port)
            self._out.clear()
            self._decoder = link.LinkDecoder()
            self.crediting, self._credit_mark = False, 0  # booted again: not asked yet
            self._sent_upto = self.agent_wm
            self._next_health = 0.0  # announce ourselves, like a reader that just booted
        self._wake()

    def unplug(self):
        with self._lock:
            if os.path.lexists(self.port):
                os.unlink(self.port)
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None
            self._out.clear()
        self._wake()

    def now(self):
        return time.time() + (self.clock_offset or 0.0)

    def tap(self, uid=None, kind=rec.KIND_TAP):
        """Mint, journal and offer one record; returns its seq."""
        with self._lock:
            seq = self._mint(uid, kind)
        self._wake()
        return seq

    def tap_many(self, n, kind=rec.KIND_TAP):
        with self._lock:
            for _ in range(n):
                self._mint(None, kind)
        self._wake()
        return self.sim.seq

    def _mint(self, uid, kind):
        seq = self.sim.seq + 1
        if uid is None:
            uid = (0x04000000 + seq).to_bytes(4, "big")
        at = int(self.now()) if self.clock_offset is not None else 0
        data = self.sim.tap(uid, kind, at=at)
        self.journal.append(data)
        self._frames.append(link.encode(link.RECORD, data))
        return seq

    def release(self):
        """Lift offer_limit: everything journaled may be offered."""
        with self._lock:
            self.offer_limit = None
        self._wake()

    def send_raw(self, data):
        """Put bytes on the line as they are (garbage, damaged frames, a REPL banner...)."""
        with self._lock:
            self._out.extend(data)
        self._wake()

    def records(self):
        with self._lock:
            return list(self.journal)

    @property
    def last_seq(self):
        return self.sim.seq

    def blocked_uids(self):
        with self._lock:
            return sorted(bytes(k[1:1 + k[0]]) for k in self.blocked)

    def reboot(self, keep_blocked=True):
        """A power cycle: a new boot, health at once (the list survives on flash unless not)."""
        with self._lock:
            self.sim.boot += 1
            if not keep_blocked:
                self.blocked.clear()
            self._next_health = 0.0
        self._wake()

    def health_now(self):
        with self._lock:
            self._next_health = 0.0
        self._wake()

    # -- the loop ------------------------------------------------------------------------

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _loop(self):
        while not self._stop:
            with self._lock:
                master = self._master
                timeout = self._schedule(time.monotonic())
                want_write = master is not None and bool(self._out)
            rlist = [self._wake_r] + ([master] if master is not None else [])
            try:
                readable, writable, _ = select.select(rlist, [master] if want_write else [], [],
                                                      timeout)
            except (OSError, ValueError):
                time.sleep(0.01)
                continue
            if self._wake_r in readable:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    pass
            with self._lock:
                if master is None or master != self._master:
                    continue
                if master in readable:
                    try:
                        data = os.read(master, 65536)
                    except (BlockingIOError, InterruptedError):
                        data = b""
                    except OSError:
                        data = b""
                    if data:
                        self._incoming(data)
                if master in writable and self._out:
                    try:
                        n = os.write(master, self._out)
                        del self._out[:n]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        pass

    def _schedule(self, now):
        """Queue what is due; return seconds until something else will be (or None)."""
        if self._master is None:
            return None
        if now >= self._next_health:
            self._queue_health()
            self._next_health = now + self.health_s
        if self.agent_wm < self._sent_upto and now - self._last_progress >= self.reoffer_s:
            self._sent_upto = self.agent_wm  # no progress: offer the window again
            self._last_progress = now
        top = min(len(self.journal), self.agent_wm + self.window)
        if self.offer_limit is not None:
            top = min(top, self.offer_limit)
        while self._sent_upto < top and len(self._out) < _OUTBUF_MAX:
            self._out.extend(self._frames[self._sent_upto])
            self._sent_upto += 1
            self.counts["offers"] += 1
        due = self._next_health
        if self.agent_wm < self._sent_upto:
            due = min(due, self._last_progress + self.reoffer_s)
        return max(0.0, due - now)

    def _queue_health(self):
        if len(self._out) >= _OUTBUF_MAX:
            return
        n = len(self.journal)
        self.counts["health"] += 1
        body = {"rid": self.rid, "fw": "fake-1", "label": self.label, "boot": self.sim.boot,
                "up": int((time.monotonic() - self.started) * 1000),
                "time": int(self.now()) if self.clock_offset is not None else 0,
                "seq": n, "signed": n, "unsigned": 0, "unsynced": n - self.hub_wm,
                "agent_wm": self.agent_wm, "hub_wm": self.hub_wm,
                "jfill": (100 * (n - self.hub_wm)) // self.capacity, "test": True}
        if self.station:
            body["station"] = self.station
        if self.credits:
            body["fc"] = 1 if self.crediting else 0
        if self.report_blocked:
            body["blocked"] = len(self.blocked)
            body["bcrc"] = binascii.crc32(b"".join(sorted(self.blocked))) & 0xFFFFFFFF
        self._out.extend(link.encode(link.HEALTH, json.dumps(body).encode()))

    def _incoming(self, data):
        self._decoder.feed(data)
        while True:
            try:
                frame = self._decoder.next_message()
            except Exception:
                self.counts["bad_from_agent"] += 1
                continue
            if frame is link.NEED_DATA:
                taken = self._decoder.lines - self._credit_mark
                if self.crediting and taken > 0:
                    self._credit_mark = self._decoder.lines
                    while taken:
                        self._out.extend(linkcredit.encode_credit(min(taken, 255)))
                        taken -= min(taken, 255)
                return
            if frame.type == link.CREDIT and self.credits and not frame.body:
                if not self.crediting:
                    self.crediting = True
                    self._credit_mark = self._decoder.lines - 1
                self.counts["credit_requests"] = self.counts.get("credit_requests", 0) + 1
            elif frame.type == link.ACK:
                rid, agent_wm, hub_wm = link.decode_ack(frame.body)
                if rid != self.reader_id:
                    self.counts["foreign_acks"] += 1
                    continue
                self.counts["acks"] += 1
                if agent_wm > len(self.journal) or hub_wm > agent_wm:
                    self.counts["bad_from_agent"] += 1  # acks for records we never offered
                if agent_wm > self.agent_wm:
                    self.agent_wm = agent_wm
                    self._last_progress = time.monotonic()
                    self._sent_upto = max(self._sent_upto, agent_wm)
                elif agent_wm < self.agent_wm:
                    self.counts["stale_acks"] += 1
                self.hub_wm = max(self.hub_wm, hub_wm)
            elif frame.type == link.TIME:
                self.clock_offset = link.decode_time(frame.body) / 1000.0 - time.time()
                self.counts["times"] += 1
            elif frame.type == link.QUERY:
                self.counts["queries"] += 1
                self._queue_health()
                self._sent_upto = self.agent_wm
                self._last_progress = time.monotonic()
            elif frame.type == link.INJECT:
                kind, uid = link.decode_inject(frame.body)
                self._mint(uid, kind)
            elif frame.type == link.BLOCKED:
                self._apply_blocked(frame.body)
            else:
                self.counts["bad_from_agent"] += 1

    def _apply_blocked(self, body):
        # as firmware/blocked.py: op 0 replace, 1 add, 2 remove; entries uid_len + uid
        self.counts["blocked_frames"] += 1
        op, keys, i = body[0], [], 1
        while i < len(body):
            n = body[i]
            keys.append(bytes((n,)) + body[i + 1:i + 1 + n] + b"\x00" * (10 - n))
            i += 1 + n
        if op == 0:
            self.blocked = set(keys)
        elif op == 1:
            self.blocked.update(keys)
        else:
            self.blocked.difference_update(keys)
