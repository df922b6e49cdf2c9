"""The dashboard's own tables (SQLAlchemy Core), created by schema migration 2.

    station_samples  one row per station per sample: connection state, backlog, age of the
                     oldest unsynced record and the tap-to-hub lag histogram of the records
                     stored since the previous sample (the station page's 24 h chart).
                     Derived monitoring data: pruned after dashboard.history_days.
    alert_state      one row per alert key (rule, station, subject): firing or resolved, and
                     which of the two the webhook has been told (de-duplication).

They live on their own MetaData so migration 1 (which creates schema.metadata) never depends
on whether this module was imported.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

station_samples = sa.Table(
    "station_samples", metadata,
    sa.Column("station_id", sa.String(64), primary_key=True),
    sa.Column("at", sa.BigInteger, primary_key=True, autoincrement=False),  # Unix s
    sa.Column("state", sa.String(16), nullable=False),      # online offline silent unknown
    sa.Column("backlog", sa.BigInteger, nullable=False),    # agent queue: pending + inflight
    sa.Column("oldest_unsynced_s", sa.BigInteger, nullable=True),
    sa.Column("lag_n", sa.BigInteger, nullable=False),      # records stored in the interval
    sa.Column("lag_hist", sa.String(200), nullable=False),  # counts per lag bucket, "n,n,…"
    sa.Index("ix_station_samples_at", "at"),
)

alert_state = sa.Table(
    "alert_state", metadata,
    sa.Column("key", sa.String(200), primary_key=True),     # rule/station/subject
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("station_id", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False, default=""),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),      # firing, resolved
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("fired_at", sa.Float, nullable=False),
    sa.Column("resolved_at", sa.Float, nullable=True),
    sa.Column("notified", sa.String(16), nullable=False, default=""),  # state last delivered
    sa.Column("notified_at", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_alert_state_state", "state", "station_id"),
)


_INDEXES = [
    ("ix_records_stored_at", "records", "stored_at"),          # the lag feed (stored since …)
    ("ix_ledger_created_at", "ledger", "created_at"),          # credits today
    ("ix_quarantine_received", "quarantine", "received_at"),   # recent rejections, spikes
    ("ix_quarantine_station", "quarantine", "station_id, id"), # a station's rejections
]


def create(conn) -> None:
    """Migration 2: the tables above and indexes for the dashboard's incremental reads
    (plain DDL, so schema.py's Table objects are left untouched)."""
    metadata.create_all(conn, checkfirst=True)
    for name, table, columns in _INDEXES:
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
