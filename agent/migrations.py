"""Ordered, named schema migrations of the agent's SQLite queue.

Each migration runs once, in order, inside a transaction together with the row that records
it in `_migrations`. Add new ones at the end; never edit or reorder an applied one.
"""

from __future__ import annotations

import time

# Record states in records.state
PENDING = 0
INFLIGHT = 1
SYNCED = 2
QUARANTINED = 3
STATE_NAMES = {PENDING: "pending", INFLIGHT: "in flight", SYNCED: "synced", QUARANTINED: "quarantined"}


def _initial(db):
    db["records"].create({
        "qid": int,            # arrival order
        "reader_id": bytes,
        "seq": int,
        "data": bytes,         # the signed record, exactly as the reader sent it
        "reader_time": int,    # the reader's clock at the tap (0 = unknown)
        "received_at": float,  # the agent's clock when committed here
        "live": int,           # 1 = a tap that happened just now (sent before backlog)
        "state": int,
        "batch_id": int,       # set while in flight
        "outcome": int,        # the hub's outcome code once acked
        "done_at": float,      # when the hub acked it
    }, pk="qid", not_null=["reader_id", "seq", "data", "reader_time", "received_at", "live", "state"],
        defaults={"live": 0, "state": PENDING})
    db.execute("CREATE UNIQUE INDEX records_key ON records(reader_id, seq)")
    db.execute("CREATE INDEX records_pending ON records(live, qid) WHERE state = 0")
    db.execute("CREATE INDEX records_inflight ON records(batch_id) WHERE state = 1")
    db.execute("CREATE INDEX records_synced ON records(done_at) WHERE state = 2")

    # Records the hub refused: kept with the hub's reason, never deleted automatically.
    db["quarantine"].create({
        "reader_id": bytes, "seq": int, "batch_id": int, "outcome": int, "reason": str, "at": float,
    }, pk=("reader_id", "seq"))

    # Per reader: agent_wm = every seq <= it is in this queue; hub_wm = the hub holds every
    # seq <= it. Both only grow. Kept apart from records so pruning never moves them.
    db["readers"].create({
        "reader_id": bytes, "agent_wm": int, "hub_wm": int, "label": str,
        "first_seen": float, "last_seen": float, "health": str,
    }, pk="reader_id", not_null=["agent_wm", "hub_wm"], defaults={"agent_wm": 0, "hub_wm": 0})

    # A second, different record for a (reader, seq) already queued: evidence of a cloned or
    # rolled-back reader. Kept and reported, never sent in place of the first.
    db["equivocations"].create({
        "id": int, "reader_id": bytes, "seq": int, "data": bytes, "at": float,
    }, pk="id")

    db["meta"].create({"key": str, "value": int}, pk="key")
    # Batch ids must never repeat for a station, even if this database is ever recreated:
    # start from the clock (ms << 12) so a new database continues above the old one.
    db.execute("INSERT INTO meta(key, value) VALUES ('next_batch_id', ?)",
               [int(time.time() * 1000) << 12])


def _tap_time(db):
    # The agent's estimate of when an untimed tap happened (reader_time 0): rebuilt from the
    # reader's health of the same boot, else the receive time. Sent as the batch's agent time.
    db.execute("ALTER TABLE records ADD COLUMN tap_time INTEGER")


def _blocked_list(db):
    # The hub's latest blocked-card list message (SPEC 4.6), kept so readers that come up
    # while the network is down still get it. One row.
    db.execute("CREATE TABLE blocked_list (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "version INTEGER NOT NULL, payload BLOB NOT NULL, received_at REAL NOT NULL)")


MIGRATIONS = [
    ("0001_initial", _initial),
    ("0002_tap_time", _tap_time),
    ("0003_blocked_list", _blocked_list),
]


def apply(db):
    """Apply every migration not yet recorded. Returns the names applied."""
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": float}, pk="name")
    done = {row["name"] for row in db.query("SELECT name FROM _migrations")}
    applied = []
    for name, migrate in MIGRATIONS:
        if name in done:
            continue
        with db.atomic():
            migrate(db)
            db.execute("INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", [name, time.time()])
        applied.append(name)
    return applied
