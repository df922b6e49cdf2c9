"""tapcache: the learners' recent taps, kept by the single SQLite writer between batches.

Crediting re-reads every changed learner's taps from the start of the scope (rules.scope) on,
once per batch (issue 23: that SELECT and its rows were ~6 % of the hub's CPU per record).
On SQLite one ingest thread writes, so the rows it read or inserted stay what the database
holds until some other write changes them. The cache keeps, per learner, the rows of
`credits.learner_taps` (same tuples) from a time on, and it is trusted only while nothing else
can have written:

  * begin(conn), first thing in an ingest transaction: the DBAPI connection, its
    `PRAGMA data_version` (changes when ANY other connection, in any process, commits) and
    its `total_changes` (every row this connection changed, in any transaction) must be those
    recorded when the previous ingest transaction committed; otherwise the cache is emptied.
  * inside the transaction the pipeline appends the records it inserts (add) and empties the
    cache when it updates stored records (burst flags, re-timed boots: clear).
  * committed() records the token only after the commit succeeded; a transaction that failed
    leaves no token, so the next begin() empties the cache. A batch rolled back to its
    savepoint inside a group clears it at once.

PostgreSQL (several workers) never uses it. Bounded: MAX_LEARNERS learners, then emptied; a
learner's rows are cut to the scope asked for at each hit.
"""

from __future__ import annotations

from server_hub.store import credits as cq


class TapCache:
    MAX_LEARNERS = 50_000

    def __init__(self):
        self._rows: dict[str, tuple[int, list]] = {}   # learner -> (complete from, rows)
        self._token = None        # (dbapi connection, data_version, total_changes) at commit
        self._conn = None         # the Connection of the open ingest transaction
        self._pending = None      # its token, taken before its commit
        self.hits = 0             # learners served from the cache (tests, benches)
        self.loads = 0            # learners read from the database

    @staticmethod
    def _token_of(conn):
        dbapi = conn.connection.driver_connection
        version = dbapi.execute("PRAGMA data_version").fetchone()[0]
        return (dbapi, version, dbapi.total_changes)

    def begin(self, conn) -> None:
        self._conn = None
        if conn.dialect.name != "sqlite":
            self._rows.clear()
            return
        token = self._token_of(conn)
        if self._token is None or token[0] is not self._token[0] or token[1:] != self._token[1:]:
            self._rows.clear()
        self._token = None        # until this transaction commits
        self._conn = conn

    def before_commit(self, conn) -> None:
        """The last statement of the transaction ran: its token, kept if the commit succeeds."""
        self._pending = self._token_of(conn) if conn is self._conn else None

    def committed(self) -> None:
        self._token, self._pending, self._conn = self._pending, None, None

    def clear(self) -> None:
        self._rows.clear()

    def active(self, conn) -> bool:
        return conn is self._conn

    def learner_taps(self, conn, learner_ids, since: int) -> list:
        """credits.learner_taps(conn, learner_ids, since), from the cache where it holds them."""
        if conn is not self._conn:          # not inside an ingest transaction begun here
            return cq.learner_taps(conn, learner_ids, since)
        out, missing = [], []
        for learner in learner_ids:
            got = self._rows.get(learner)
            if got is not None and got[0] <= since:
                kept = [r for r in got[1] if r[5] >= since]
                self._rows[learner] = (since, kept)    # a learner's rows stay in the scope
                out.extend(kept)
            else:
                missing.append(learner)
        self.hits += len(learner_ids) - len(missing)
        if missing:
            self.loads += len(missing)
            if len(self._rows) + len(missing) > self.MAX_LEARNERS:
                self._rows.clear()
            rows = cq.learner_taps(conn, missing, since)
            fresh: dict = {learner: (since, []) for learner in missing}
            for r in rows:
                fresh[r[0]][1].append(r)
            self._rows.update(fresh)
            out.extend(rows)
        return out

    def add(self, conn, rows) -> None:
        """Records just inserted, as (learner_id, reader_id, seq, station_id, kind, best_time,
        uptime_ms, boot, flags, uid); those without a learner or a time are never loaded."""
        if conn is not self._conn:
            return
        for r in rows:
            got = self._rows.get(r[0])
            if got is not None and r[5] is not None and r[5] >= got[0]:
                got[1].append(r)
