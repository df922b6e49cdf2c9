"""auditor: the background check of every stored record's own signature (core/audit.py).

`RecordAuditor.step()` reads the next records after the watermark (one read transaction),
verifies them outside any transaction, then in one write transaction records an alarm per
failure and advances the watermark -- so a crash repeats at most one step, and a repeated
alarm is absorbed by the alarms table's (kind, evidence) key. The thread runs steps with a
duty cycle (`share` of one core) and rests `idle_s` when it has caught up.

Figures (dashboard/auditmetrics.py puts them in /metrics): kept in `counters` so they survive
restarts and any hub process can read them -- `audit_verified` and `audit_failed` (totals,
advanced in the step's own transaction), `audit_backlog` (records not yet audited) and
`audit_oldest_ms` (stored_at of the oldest of them, 0 = none), written at each measure
(every `idle_s`). The attributes `verified`/`failed` count this process's work only.
"""

from __future__ import annotations

import logging
import threading
import time

import sqlalchemy as sa

from server_hub.core import audit
from server_hub.core.ingest import Verifier
from server_hub.store import evidence as eq
from server_hub.store.schema import counters, readers, records

log = logging.getLogger("tapcert.hub.audit")
_R = records.c
FIGURE_NAMES = ("audit_verified", "audit_failed", "audit_backlog", "audit_oldest_ms")


def _after(wm):
    at, reader_id, seq = wm
    return sa.and_(_R.stored_at >= at, sa.or_(
        _R.stored_at > at,
        sa.and_(_R.stored_at == at, sa.or_(
            _R.reader_id > reader_id, sa.and_(_R.reader_id == reader_id, _R.seq > seq)))))


class RecordAuditor:
    def __init__(self, store, *, share: float = 0.1, batch: int = 500, settle_s: float = 30.0,
                 idle_s: float = 5.0, clock=time.time):
        self.store = store
        self.share = share
        self.batch = batch
        self.settle_s = settle_s
        self.idle_s = idle_s
        self.clock = clock
        self.verify = Verifier()
        self.verified = 0
        self.failed = 0
        self.backlog = 0
        self.lag_s = 0.0
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._measured_at = 0.0

    @classmethod
    def from_config(cls, store, section) -> "RecordAuditor":
        """section: config.AuditSection (validated by config.check_audit)."""
        return cls(store, share=section.share, batch=section.batch, settle_s=section.settle_s,
                   idle_s=section.idle_s)

    # --- storage (the cursor's index ix_records_audit_cursor: store/migrations.py, 12) --

    def watermark(self, conn=None):
        if conn is None:
            with self.store.read() as conn:
                return self.watermark(conn)
        got = dict(conn.execute(sa.select(counters.c.name, counters.c.value)
                                .where(counters.c.name.in_(audit.WM_NAMES))).fetchall())
        if len(got) != len(audit.WM_NAMES):
            return audit.START
        return audit.watermark_from_ints([got[n] for n in audit.WM_NAMES])

    def _save(self, conn, wm, now) -> None:
        for name, value in zip(audit.WM_NAMES, audit.watermark_to_ints(wm)):
            _set(conn, name, value, now)

    def measure(self, now: float | None = None) -> tuple[int, float]:
        """(backlog, lag_s): records after the watermark and the age of the oldest."""
        now = self.clock() if now is None else now
        with self.store.read() as conn:
            wm = self.watermark(conn)
            n, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(_R.stored_at))
                                     .where(_after(wm))).one()
        self.backlog = int(n)
        self.lag_s = 0.0 if oldest is None else max(0.0, now - oldest)
        self._measured_at = now
        with self.store.write() as conn:
            _set(conn, "audit_backlog", self.backlog, now)
            _set(conn, "audit_oldest_ms", 0 if oldest is None else round(oldest * 1000), now)
        return self.backlog, self.lag_s

    # --- one step ------------------------------------------------------------------------

    def step(self, now: float | None = None) -> int:
        """Audit the next batch of settled records; returns how many were visited."""
        now = self.clock() if now is None else now
        with self.store.read() as conn:
            rows = self.next_rows(conn, self.watermark(conn), now)
        if not rows:
            return 0
        ok, alarms = audit.check_rows(rows, self.verify)
        last = rows[-1]
        with self.store.write() as conn:
            if alarms:
                eq.INSERT_ALARMS.run(conn, sorted(
                    ((a.kind, station, a.reader_id, a.seq, a.detail, a.evidence_hash, now)
                     for station, a in alarms), key=lambda row: row[5]))
            self._save(conn, (last[0], bytes(last[1]), last[2]), now)
            _add(conn, "audit_verified", ok, now)
            _add(conn, "audit_failed", len(alarms), now)
        for station, a in alarms:
            log.error("reader %s seq %d at station %s: %s", a.reader_id.hex(), a.seq, station,
                      a.detail)
        self.verified += ok
        self.failed += len(alarms)
        return len(rows)

    def next_rows(self, conn, wm, now: float) -> list:
        """The next `batch` settled records after the watermark, in cursor order."""
        return conn.execute(
            sa.select(_R.stored_at, _R.reader_id, _R.seq, _R.raw, readers.c.public_key,
                      _R.station_id)
            .select_from(records.outerjoin(readers, readers.c.reader_id == _R.reader_id))
            .where(_after(wm), _R.stored_at < now - self.settle_s)
            .order_by(_R.stored_at, _R.reader_id, _R.seq).limit(self.batch)).fetchall()

    def run_until_idle(self, now: float | None = None) -> int:
        total = 0
        while True:
            n = self.step(now)
            total += n
            if n < self.batch:
                return total

    # --- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                n = self.step()
                if self.clock() - self._measured_at >= self.idle_s:
                    self.measure()
            except Exception:       # the database may be away for a while: try again later
                log.exception("record audit step failed; retrying in %.0f s", self.idle_s)
                n = 0
            busy = time.monotonic() - started
            rest = audit.pause_after(busy, self.share) if n >= self.batch else self.idle_s
            self.stopped.wait(rest)

    def start(self) -> "RecordAuditor":
        self._thread = threading.Thread(target=self._loop, name="hub-audit", daemon=True)
        self._thread.start()
        return self

    @property
    def thread(self):
        return self._thread

    def stop(self) -> None:
        self.stopped.set()
        if self._thread is not None:
            self._thread.join(10)


def _set(conn, name: str, value: int, now: float) -> None:
    done = conn.execute(counters.update().where(counters.c.name == name)
                        .values(value=value, updated_at=now)).rowcount
    if not done:
        conn.execute(counters.insert().values(name=name, value=value, updated_at=now))


def _add(conn, name: str, n: int, now: float) -> None:
    done = conn.execute(counters.update().where(counters.c.name == name)
                        .values(value=counters.c.value + n, updated_at=now)).rowcount
    if not done:
        conn.execute(counters.insert().values(name=name, value=n, updated_at=now))


def read_figures(conn, now: float) -> dict:
    """The auditor's figures from `counters` (any process): verified and failed (totals),
    backlog, lag_s (age of the oldest unaudited record), measured_at (0 = never measured:
    the auditor has not run on this database)."""
    rows = {name: (value, at) for name, value, at in conn.execute(
        sa.select(counters.c.name, counters.c.value, counters.c.updated_at)
        .where(counters.c.name.in_(FIGURE_NAMES)))}
    oldest_ms, measured_at = rows.get("audit_oldest_ms", (0, 0.0))
    return {"verified": int(rows.get("audit_verified", (0, 0))[0]),
            "failed": int(rows.get("audit_failed", (0, 0))[0]),
            "backlog": int(rows.get("audit_backlog", (0, 0))[0]),
            "lag_s": max(0.0, now - oldest_ms / 1000) if oldest_ms else 0.0,
            "measured_at": float(measured_at)}
