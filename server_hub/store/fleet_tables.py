"""The fleet-update tables (SQLAlchemy Core), created by schema migration 7.

    fleet_bundles   signed firmware bundles as uploaded (verified against the release keys
                    first), keyed by the SHA-256 of their bytes
    fleet_rollouts  one row per rollout: its bundle, the ordered target stations (JSON), the
                    wave plan, pause / cancel / expiry state, and `finished_at` once every
                    target is final (the offer loop reads only rollouts without it)
    fleet_reports   the agents' reports: one row per (rollout, station, reader), replaced by
                    each newer report (reader "" is the station itself, protocol/SPEC.md §4.7)

They live on their own MetaData so migration 1 never depends on this module.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

fleet_bundles = sa.Table(
    "fleet_bundles", metadata,
    sa.Column("sha", sa.String(64), primary_key=True),
    sa.Column("fw", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("sig", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False, default=""),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

fleet_rollouts = sa.Table(
    "fleet_rollouts", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("bundle", sa.String(64), sa.ForeignKey("fleet_bundles.sha"), nullable=False),
    sa.Column("fw", sa.String(64), nullable=False),
    sa.Column("target", sa.String(16), nullable=False),          # all, list, percent
    sa.Column("percent", sa.Float, nullable=True),
    sa.Column("targets", sa.Text, nullable=False),               # JSON list, canaries first
    sa.Column("canary_count", sa.Integer, nullable=False),
    sa.Column("wave_size", sa.Integer, nullable=False),
    sa.Column("max_failures", sa.Integer, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("paused_reason", sa.String(500), nullable=True),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("cancelled_at", sa.Float, nullable=True),
    sa.Column("cancel_reason", sa.String(200), nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False, default=""),
    sa.Index("ix_fleet_rollouts_open", "finished_at", "created_at"),
)

fleet_reports = sa.Table(
    "fleet_reports", metadata,
    sa.Column("rollout", sa.String(64), nullable=False),
    sa.Column("station", sa.String(32), nullable=False),
    sa.Column("reader", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("rollout", "station", "reader"),
)


def create(conn) -> None:
    metadata.create_all(conn, checkfirst=True)
