"""The learner portal's tables (SQLAlchemy Core), created by schema migration 10.

    learner_credentials   one row per learner with a PIN: its scrypt hash (never the PIN),
                          who set it and when, and the per-account lockout counter
                          (server_hub/core/signin.py ACCOUNT)
    learner_sessions      signed-in portal sessions: the SHA-256 of the session token (the
                          token itself is only in the learner's cookie), learner, expiry
    learner_signin_guard  the per-client-address lockout counter (signin.py ADDRESS); rows
                          whose lock and window ran out a day ago are pruned at sign-in
    learner_applications  self-applications for a learning account (name, phone, type,
                          station): pending until staff approve (which opens the account) or
                          reject; kept, never deleted

Sign-in figures are named counters in `counters` (schema.py): learner_signin_ok,
learner_signin_wrong, learner_signin_locked (lockouts started), learner_signin_refused
(tries refused while locked).

They live on their own MetaData so migration 1 never depends on this module.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

COUNTERS = ("learner_signin_ok", "learner_signin_wrong", "learner_signin_locked",
            "learner_signin_refused")

learner_credentials = sa.Table(
    "learner_credentials", metadata,
    sa.Column("learner_id", sa.String(64), primary_key=True),
    sa.Column("pin_hash", sa.String(300), nullable=False),   # scrypt$n$r$p$salt$hash (hex)
    sa.Column("set_by", sa.String(100), nullable=False),
    sa.Column("set_at", sa.Float, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.Float, nullable=False, default=0.0),
    sa.Column("lockouts", sa.Integer, nullable=False, default=0),
    sa.Column("last_signin_at", sa.Float, nullable=True),
)

learner_sessions = sa.Table(
    "learner_sessions", metadata,
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("learner_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_learner_sessions_learner", "learner_id"),
    sa.Index("ix_learner_sessions_expires", "expires_at"),
)

learner_signin_guard = sa.Table(
    "learner_signin_guard", metadata,
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("window_start", sa.Float, nullable=False, default=0.0),
    sa.Column("locked_until", sa.Float, nullable=False, default=0.0),
    sa.Column("lockouts", sa.Integer, nullable=False, default=0),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def create(conn) -> None:
    metadata.create_all(conn, checkfirst=True)


learner_applications = sa.Table(   # self-applications for an account, decided by staff
    "learner_applications", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("learner_type", sa.String(32), nullable=False),
    sa.Column("station_id", sa.String(32), nullable=False, default=""),  # where they will go
    sa.Column("address", sa.String(64), nullable=False),     # signin.address_key of the sender
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("decided_by", sa.String(100), nullable=True),
    sa.Column("decided_at", sa.Float, nullable=True),
    sa.Column("comment", sa.String(2000), nullable=False, default=""),
    sa.Column("learner_id", sa.String(64), nullable=True),   # the account an approval opened
    sa.Index("ix_learner_applications_status", "status", "id"),
    sa.Index("ix_learner_applications_address", "address", "created_at"),
)
