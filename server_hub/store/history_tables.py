"""The fleet's trend history (SQLAlchemy Core), created by schema migration 11.

    fleet_history  one row per (resolution, time bucket): stations, offline stations, records
                   waiting (and whether that is a lower bound), records accepted so far (a
                   running total: the rate is the difference between two rows) and the
                   tap-to-hub lag histogram of the records stored in the bucket. Two
                   resolutions (core/trend.py TIERS): 1 min kept 26 h, 15 min kept 8 days —
                   at most ~2,300 rows whatever the fleet's size or age. Derived monitoring
                   data: it survives hub restarts, and losing it loses only the charts.

On its own MetaData, like health_tables, so migration 1 never depends on this import.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

fleet_history = sa.Table(
    "fleet_history", metadata,
    sa.Column("res_s", sa.Integer, primary_key=True, autoincrement=False),   # 60 or 900
    sa.Column("at", sa.BigInteger, primary_key=True, autoincrement=False),   # bucket start, Unix s
    sa.Column("stations", sa.Integer, nullable=False),
    sa.Column("offline", sa.Integer, nullable=False),      # offline or silent, the worst seen
    sa.Column("waiting", sa.BigInteger, nullable=False),   # records waiting, the most seen
    sa.Column("waiting_at_least", sa.Boolean, nullable=False),
    sa.Column("accepted", sa.BigInteger, nullable=False),  # running total at the bucket's end
    sa.Column("lag_n", sa.BigInteger, nullable=False),
    sa.Column("lag_hist", sa.String(200), nullable=False),  # counts per lag bucket, "n,n,…"
    sa.Column("updated_at", sa.Float, nullable=False),
)


def create(conn) -> None:
    metadata.create_all(conn, checkfirst=True)
