"""Organisation accounts (SQLAlchemy Core), created by schema migration 15.

    organisations          a unit that enrols its members: a school, a company, a community…
                           (creditbank/organisations.py KINDS); its home station is the station
                           whose administrators may edit it and enrol its members (NULL: the
                           district's staff only)
    organisation_members   learner ↔ organisation (a learner may belong to several); who
                           enrolled them and when

Migration 15 also adds a covering index for district statistics by period
(creditbank/districtstats.py reads the ledger by local day, as the crediting wrote it):
ledger (day, learner_id, activity_id, amount_milli).
They live on their own MetaData so migration 1 never depends on this module.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

organisations = sa.Table(
    "organisations", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("contact", sa.String(200), nullable=False, default=""),
    sa.Column("home_station", sa.String(32), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_organisations_home_station", "home_station"),
)

organisation_members = sa.Table(
    "organisation_members", metadata,
    sa.Column("organisation_id", sa.String(32), primary_key=True),
    sa.Column("learner_id", sa.String(64), primary_key=True),
    sa.Column("added_by", sa.String(100), nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
    sa.Index("ix_organisation_members_learner", "learner_id"),
)


def create(conn) -> None:
    metadata.create_all(conn, checkfirst=True)
    # district statistics read the ledger by day from this index alone (covering;
    # bench/stats_bench.py)
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_ledger_day "
                         "ON ledger (day, learner_id, activity_id, amount_milli)"))
