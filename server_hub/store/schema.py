"""The hub's tables (SQLAlchemy Core), one definition for SQLite and PostgreSQL.

Groups:
  registry   stations, readers, learners (with their home station), cards, activities,
             operators, operator_stations (a station administrator's scope)
  evidence   records (every accepted record, raw bytes + three times), reader_chain (per-reader
             chain state; its row is the per-reader lock), reader_boots (clock anchors),
             clock_skews (live clock measurements beyond the threshold)
  rejects    quarantine (rejected records and undecodable batches, with the reason), alarms
  credit     credit_state (the standards engine's current decision per learner and session),
             ledger (append-only entries; balances are sums), credit_reviews (hold decisions),
             credit_terms (terms for term caps), credit_totals (per learner and activity, the
             sum of credit_state.applied_milli, kept in the crediting transaction)
  sync       station_status, station_health (latest per station), station_sync (counters)
  fleet      counters (named counters, e.g. the blocked-card list version)

Identities: reader ids and card UIDs are raw bytes (8 and 4/7/10 B), shown as hex outside.
Times are Unix seconds (BigInteger) except *_at columns (Float, hub clock with fraction).
Credit amounts are integer thousandths of a credit (``*_milli``) so sums are exact.
"""

from __future__ import annotations

import sqlalchemy as sa

from server_hub.store.u64 import U64

metadata = sa.MetaData()

# --- registry ------------------------------------------------------------------------------

stations = sa.Table(
    "stations", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("created_at", sa.Float, nullable=False),
)

readers = sa.Table(
    "readers", metadata,
    sa.Column("reader_id", sa.LargeBinary(8), primary_key=True),
    sa.Column("public_key", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("station_id", sa.String(32), sa.ForeignKey("stations.id"), nullable=False),
    sa.Column("label", sa.String(64), nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("enrolled_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("revoke_reason", sa.String(200), nullable=True),
    sa.Index("ix_readers_station", "station_id"),
)

learners = sa.Table(
    "learners", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("created_at", sa.Float, nullable=False),
    # migration 9: the station that opened the account; NULL = district staff only
    sa.Column("home_station", sa.String(32), nullable=True),
    # migration 13: student, employee, … (creditbank/learnertype.py); NULL = not recorded
    sa.Column("learner_type", sa.String(16), nullable=True),
    sa.Index("ix_learners_home_station", "home_station"),
)

cards = sa.Table(
    "cards", metadata,
    sa.Column("uid", sa.LargeBinary(10), primary_key=True),
    sa.Column("learner_id", sa.String(64), sa.ForeignKey("learners.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("status_since", sa.BigInteger, nullable=False),
    sa.Column("issued_at", sa.Float, nullable=False),
    sa.Index("ix_cards_learner", "learner_id"),
)

activities = sa.Table(
    "activities", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("station_id", sa.String(32), sa.ForeignKey("stations.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("category", sa.String(64), nullable=False, default=""),
    sa.Column("schedule", sa.Text, nullable=False),   # JSON, see server_hub/core/schedule.py
    sa.Column("standard", sa.Text, nullable=False),   # JSON, see server_hub/core/crediting.py
    sa.Column("longest_session_s", sa.BigInteger, nullable=False),  # bounds crediting scans
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_activities_station", "station_id"),
)

operators = sa.Table(
    "operators", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

operator_stations = sa.Table(  # migration 9: the stations a station_admin token may act for
    "operator_stations", metadata,
    sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), primary_key=True,
              autoincrement=False),
    sa.Column("station_id", sa.String(32), sa.ForeignKey("stations.id"), primary_key=True),
    sa.Index("ix_operator_stations_station", "station_id"),
)

# --- evidence ------------------------------------------------------------------------------

records = sa.Table(
    "records", metadata,
    sa.Column("reader_id", sa.LargeBinary(8), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("station_id", sa.String(32), nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("uid", sa.LargeBinary(10), nullable=False),
    sa.Column("reader_time", sa.BigInteger, nullable=False),   # reader clock; 0 = unknown
    sa.Column("boot", sa.Integer, nullable=False),
    sa.Column("uptime_ms", sa.BigInteger, nullable=False),
    sa.Column("best_time", sa.BigInteger, nullable=True),      # best-known occurrence time
    sa.Column("time_source", sa.SmallInteger, nullable=False), # 0 unknown 1 reader 2 rebuilt
    sa.Column("learner_id", sa.String(64), nullable=True),     # from cards at ingest
    sa.Column("flags", sa.Integer, nullable=False, default=0), # integrity bits (integrity.py)
    sa.Column("payload_hash", sa.LargeBinary(16), nullable=False),  # chain_hash(payload)
    sa.Column("prev_hash", sa.LargeBinary(16), nullable=False),
    sa.Column("raw", sa.LargeBinary(132), nullable=False),     # the record exactly as signed
    sa.Column("auth_seq", sa.BigInteger, nullable=False),      # seq whose signature covers it
    sa.Column("batch_id", U64, nullable=True),  # u64 as two's complement (u64.py)
    sa.Column("agent_time", sa.BigInteger, nullable=True),     # agent receive time, if known
    sa.Column("stored_at", sa.Float, nullable=False),          # hub commit time
    sa.Index("ix_records_learner_time", "learner_id", "best_time"),
    sa.Index("ix_records_station_time", "station_id", "best_time"),
    sa.Index("ix_records_unmatched_uid", "uid",
             sqlite_where=sa.text("learner_id IS NULL"),
             postgresql_where=sa.text("learner_id IS NULL")),
    sa.Index("ix_records_untimed", "reader_id", "boot",
             sqlite_where=sa.text("time_source <> 1"),
             postgresql_where=sa.text("time_source <> 1")),
)

reader_chain = sa.Table(
    "reader_chain", metadata,
    sa.Column("reader_id", sa.LargeBinary(8), primary_key=True),
    sa.Column("contiguous", sa.BigInteger, nullable=False, default=0),  # all seqs 1..n stored
    sa.Column("max_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("stored", sa.BigInteger, nullable=False, default=0),      # records stored
    sa.Column("last_stored_at", sa.Float, nullable=True),
)

reader_boots = sa.Table(
    "reader_boots", metadata,
    sa.Column("reader_id", sa.LargeBinary(8), primary_key=True),
    sa.Column("boot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("anchor_seq", sa.BigInteger, nullable=True),     # first record with a valid clock
    sa.Column("anchor_time", sa.BigInteger, nullable=True),
    sa.Column("anchor_uptime_ms", sa.BigInteger, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)

clock_skews = sa.Table(
    "clock_skews", metadata,   # live measurements beyond integrity.skew_s, per clock epoch
    sa.Column("reader_id", sa.LargeBinary(8), primary_key=True),
    sa.Column("boot", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("epoch", sa.BigInteger, primary_key=True, autoincrement=False),  # time - uptime
    sa.Column("skew_s", sa.BigInteger, nullable=False),        # reader clock - hub clock
    sa.Column("seq", sa.BigInteger, nullable=False),           # the record measured
    sa.Column("measured_at", sa.Float, nullable=False),
)

# --- rejects -------------------------------------------------------------------------------

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("batch_id", U64, nullable=True),  # u64 as two's complement (u64.py)
    sa.Column("code", sa.SmallInteger, nullable=False),        # SPEC §4.3 outcome/status code
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("reader_id", sa.LargeBinary(8), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("raw_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("released_at", sa.Float, nullable=True),
    sa.UniqueConstraint("station_id", "raw_hash", "code", name="uq_quarantine_item"),
    sa.Index("ix_quarantine_reader", "reader_id"),
)

alarms = sa.Table(
    "alarms", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),          # equivocation, broken_chain
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("reader_id", sa.LargeBinary(8), nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=True),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("evidence_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("acknowledged_at", sa.Float, nullable=True),
    sa.UniqueConstraint("kind", "evidence_hash", name="uq_alarm_evidence"),
)

# --- credit --------------------------------------------------------------------------------

credit_state = sa.Table(
    "credit_state", metadata,
    sa.Column("learner_id", sa.String(64), primary_key=True),
    sa.Column("activity_id", sa.String(64), primary_key=True),
    sa.Column("session_start", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("session_end", sa.BigInteger, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),           # local date of session_start
    sa.Column("status", sa.String(16), nullable=False),        # crediting.STATUSES
    sa.Column("desired_milli", sa.BigInteger, nullable=False), # by the standard, before caps
    sa.Column("applied_milli", sa.BigInteger, nullable=False), # = sum of its ledger entries
    sa.Column("holds", sa.String(200), nullable=False, default=""),
    sa.Column("evidence", sa.Text, nullable=False),            # JSON [[reader hex, seq], ...]
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_credit_state_status", "status", "session_end"),
)

ledger = sa.Table(
    "ledger", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("learner_id", sa.String(64), nullable=False),
    sa.Column("amount_milli", sa.BigInteger, nullable=False),
    sa.Column("entry", sa.String(16), nullable=False),         # credit, adjust, reversal
    sa.Column("activity_id", sa.String(64), nullable=False),
    sa.Column("session_start", sa.BigInteger, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),            # JSON [[reader hex, seq], ...]
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_ledger_learner", "learner_id", "id"),
)

credit_reviews = sa.Table(
    "credit_reviews", metadata,
    sa.Column("learner_id", sa.String(64), primary_key=True),
    sa.Column("activity_id", sa.String(64), primary_key=True),
    sa.Column("session_start", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("decision", sa.String(16), nullable=False),      # approve, reject
    sa.Column("operator", sa.String(100), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("decided_at", sa.Float, nullable=False),
)

credit_terms = sa.Table(   # migration 8: named date ranges for max_per_term (terms.py)
    "credit_terms", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("first_day", sa.String(10), nullable=False),     # local dates, both included
    sa.Column("last_day", sa.String(10), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

credit_totals = sa.Table(  # migration 8: running sum of credit_state.applied_milli
    "credit_totals", metadata,
    sa.Column("learner_id", sa.String(64), primary_key=True),
    sa.Column("activity_id", sa.String(64), primary_key=True),
    sa.Column("applied_milli", sa.BigInteger, nullable=False),
)

# --- sync health ---------------------------------------------------------------------------

station_status = sa.Table(
    "station_status", metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("since", sa.Float, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)

station_health = sa.Table(
    "station_health", metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
)

station_sync = sa.Table(
    "station_sync", metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("last_batch_id", U64, nullable=True),
    sa.Column("last_batch_at", sa.Float, nullable=True),
    sa.Column("batches", sa.BigInteger, nullable=False, default=0),
    sa.Column("accepted", sa.BigInteger, nullable=False, default=0),
    sa.Column("duplicates", sa.BigInteger, nullable=False, default=0),
    sa.Column("rejected", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_rejection_at", sa.Float, nullable=True),
)

# --- fleet ---------------------------------------------------------------------------------

counters = sa.Table(
    "counters", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

schema_migrations = sa.Table(
    "schema_migrations", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)
