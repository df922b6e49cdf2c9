"""Ordered, named schema migrations, recorded in `schema_migrations` (sqlite-utils style).

Each migration is a function of a connection inside the migration transaction. Migration 1
creates the version-1 tables from schema.py. Rules for later ones: append a new function to
MIGRATIONS (never edit an applied one), use Core DDL that works on SQLite and PostgreSQL, and
make it safe on a database created by the newest migration 1 (check with the inspector before
adding a column that a fresh schema.py already has).

Several hub workers may start at once: on PostgreSQL the runner holds an advisory lock for
the whole migration; on SQLite the write transaction is taken with BEGIN IMMEDIATE.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from server_hub.errors import SchemaError
from server_hub.store import schema

_LOCK_KEY = 0x74617063  # "tapc"


def _initial(conn) -> None:
    schema.metadata.create_all(conn, tables=[t for t in schema.metadata.sorted_tables
                                             if t.name != "schema_migrations"])


def _dashboard(conn) -> None:
    from server_hub.store import health_tables as tables
    tables.create(conn)


def _counters(conn) -> None:
    # The blocked-card list version (SPEC §4.6) starts at the clock, so a hub database made
    # afresh continues above the versions its stations already hold.
    schema.counters.create(conn, checkfirst=True)
    now = time.time()
    if conn.execute(sa.select(schema.counters.c.name)
                    .where(schema.counters.c.name == "blocked_list")).first() is None:
        conn.execute(schema.counters.insert().values(name="blocked_list", value=int(now),
                                                     updated_at=now))


def _creditbank(conn) -> None:
    from server_hub.store import bank_tables as tables
    tables.create(conn)


def _fleet_history(conn) -> None:
    from server_hub.store import history_tables
    history_tables.create(conn)


def _fleet(conn) -> None:
    from server_hub.store import fleet_tables as fleettables
    fleettables.create(conn)


def _standards_admin(conn) -> None:
    # terms and running totals (schema.py: a fresh migration 1 has made them already, empty)
    from server_hub.store import bank_tables as tables
    schema.credit_terms.create(conn, checkfirst=True)
    schema.credit_totals.create(conn, checkfirst=True)
    s, t = schema.credit_state.c, schema.credit_totals
    conn.execute(t.delete())
    conn.execute(t.insert().from_select(
        ["learner_id", "activity_id", "applied_milli"],
        sa.select(s.learner_id, s.activity_id, sa.func.sum(s.applied_milli))
        .group_by(s.learner_id, s.activity_id)))
    # course categories: the five standard ones and every free-text one activities carry
    tables.create(conn)
    _seed_categories(conn, tables.course_categories)


# Migration 8's data, frozen here (a migration never changes with the application's code)
_CATEGORY_SEED = [
    ("cultural-life", "文化生活课程", "Cultural-life courses"),
    ("social-practice", "社会实践课程", "Social-practice courses"),
    ("online", "线上课程", "Online courses"),
    ("station-session", "站点面授", "Face-to-face sessions at stations"),
    ("community-event", "社区活动", "Community events"),
]


def _seed_categories(conn, categories) -> list[str]:
    """The five standard course categories, and one for every free-text category the
    activities already carry (code and names = that text), so nothing is lost."""
    now = time.time()
    have = {r[0] for r in conn.execute(sa.select(categories.c.code))}
    rows = list(_CATEGORY_SEED)
    rows += [(text, text, text) for (text,) in conn.execute(
        sa.select(schema.activities.c.category).where(schema.activities.c.category != "")
        .distinct().order_by(schema.activities.c.category))]
    added = []
    for code, zh, en in rows:
        if code not in have:
            conn.execute(categories.insert().values(
                code=code, name_zh=zh, name_en=en, active=True, created_at=now, updated_at=now))
            have.add(code)
            added.append(code)
    return added


def _station_scope(conn) -> None:
    # station administrators: each one's stations, and each learner's home station (the
    # station that opened the account; existing learners keep none = district staff only)
    schema.operator_stations.create(conn, checkfirst=True)
    if "home_station" not in {c["name"] for c in sa.inspect(conn).get_columns("learners")}:
        conn.execute(sa.text("ALTER TABLE learners ADD COLUMN home_station VARCHAR(32)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_learners_home_station "
                         "ON learners (home_station)"))


def _learner_portal(conn) -> None:
    from server_hub.store import learner_tables as tables
    tables.create(conn)
    now = time.time()
    have = {r[0] for r in conn.execute(sa.select(schema.counters.c.name))}
    for name in tables.COUNTERS:       # rows made here, so sign-in only ever UPDATEs them
        if name not in have:
            conn.execute(schema.counters.insert().values(name=name, value=0, updated_at=now))


def _audit_cursor_index(conn) -> None:
    # The record auditor's keyset cursor (ingest/auditor.py) reads records in (stored_at,
    # reader_id, seq) order. Migration 2's ix_records_stored_at (stored_at alone) made the
    # auditor's own CREATE INDEX IF NOT EXISTS of that name a no-op, so each step sorted the
    # whole backlog; this index serves the cursor and, by its prefix, the lag feed's
    # "stored since" reads, so the one-column index goes (one index less per stored record).
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_records_audit_cursor "
                         "ON records (stored_at, reader_id, seq)"))
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_records_stored_at"))


def _learner_type(conn) -> None:
    # the learner's type (creditbank/learnertype.py); accounts opened before keep NULL
    if "learner_type" not in {c["name"] for c in sa.inspect(conn).get_columns("learners")}:
        conn.execute(sa.text("ALTER TABLE learners ADD COLUMN learner_type VARCHAR(16)"))


def _organisations(conn) -> None:
    from server_hub.store import org_tables
    org_tables.create(conn)


MIGRATIONS = [
    (1, "initial: registry, evidence, quarantine, alarms, credit state, ledger, sync", _initial),
    (2, "dashboard: station samples, alert state, indexes for incremental reads", _dashboard),
    (3, "counters: the blocked-card list version", _counters),
    (4, "credit bank: exchange catalogue, rates, points ledger, audit log", _creditbank),
    (5, "credit bank: external credits with four-eyes approval", _creditbank),
    (6, "credit bank: settings (grade thresholds, reward rule), activity administrators",
     _creditbank),
    (7, "fleet updates: firmware bundles, rollouts, station reports", _fleet),
    (8, "credit bank: terms, course categories, running credit totals", _standards_admin),
    (9, "station administrators: operator_stations, learners.home_station", _station_scope),
    (10, "learner portal: PINs, sessions, sign-in lockouts", _learner_portal),
    (12, "record auditor: cursor index records (stored_at, reader_id, seq)", _audit_cursor_index),
    (11, "dashboard: fleet trend history (two resolutions, bounded)", _fleet_history),
    (13, "accounts: learners.learner_type", _learner_type),
    (14, "credit bank: administrator reward ledger, service providers' services", _creditbank),
    (15, "accounts: organisations and their members; statistics index on ledger (day)",
     _organisations),
]
MIGRATIONS.sort(key=lambda m: m[0])     # numbers are reserved per change; they apply in order
LATEST = MIGRATIONS[-1][0]


def applied_versions(conn) -> list[int]:
    if not sa.inspect(conn).has_table("schema_migrations"):
        return []
    return [row[0] for row in conn.execute(sa.select(schema.schema_migrations.c.version))]


def migrate(conn) -> list[str]:
    """Apply every missing migration; returns the names applied. Call inside a transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    schema.schema_migrations.create(conn, checkfirst=True)
    done = set(applied_versions(conn))
    newer = [v for v in done if v > LATEST]
    if newer:
        raise SchemaError(f"the database has schema version {max(newer)} but this hub knows only "
                          f"up to {LATEST}: upgrade tapcert-hub before running it on this database")
    names = []
    for version, name, apply in MIGRATIONS:
        if version in done:
            continue
        apply(conn)
        conn.execute(schema.schema_migrations.insert().values(
            version=version, name=name, applied_at=time.time()))
        names.append(f"{version:04d} {name}")
    return names


def check_current(conn) -> None:
    done = set(applied_versions(conn))
    if not done:
        raise SchemaError("the database is not initialised: run `tapcert-hub init` first")
    missing = [v for v, _, _ in MIGRATIONS if v not in done]
    if missing:
        raise SchemaError(f"the database lacks schema migrations {missing}: run "
                          "`tapcert-hub migrate` (or `tapcert-hub init`)")
    if max(done) > LATEST:
        raise SchemaError(f"the database has schema version {max(done)} but this hub knows only "
                          f"up to {LATEST}: upgrade tapcert-hub")
