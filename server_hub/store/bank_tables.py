"""The credit bank's tables (SQLAlchemy Core), created by schema migration 4.

    exchange_services   the catalogue: services priced in points; never deleted (inactive)
    exchange_rates      the credit -> point rule, one row per change (the newest applies)
    exchange_entries    append-only points ledger: `redeem` (negative points) and `reversal`
                        (positive, naming the redemption it reverses); each redemption keeps
                        the credits it consumed at the rate of its day, so a later change of
                        rate never rewrites it
    external_credits    credits earned elsewhere, entered by one admin with a proof reference
                        and approved by another (four-eyes) before they reach the ledger
                        (migration 5)
    bank_settings       named JSON settings (station grade thresholds, reward rule) (migration 6)
    activity_admins     which certification administrator runs and certifies an activity
                        (the reward rule credits them) (migration 6)
    course_categories   the course categories an activity may belong to (stable code, zh and
                        en names; retired, never deleted) (migration 8)
    reward_entries      administrator reward points as an account: `earned` per settled
                        period (one per administrator and period), `spent`, `adjust`
                        (migration 14; creditbank/rewards.py)
    provider_services   the catalogue services each service_provider operator may redeem at
                        its counter (migration 14)
    bank_audit          every decision by a person: service and rate changes, redemptions,
                        reversals, review decisions (actor, action, subject, JSON detail)

They live on their own MetaData so migration 1 never depends on this module.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

exchange_services = sa.Table(
    "exchange_services", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("category", sa.String(64), nullable=False, default=""),
    sa.Column("price_points", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

exchange_rates = sa.Table(
    "exchange_rates", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("points_per_credit", sa.BigInteger, nullable=False),
    sa.Column("set_by", sa.String(100), nullable=False),
    sa.Column("set_at", sa.Float, nullable=False),
)

exchange_entries = sa.Table(
    "exchange_entries", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("learner_id", sa.String(64), nullable=False),
    sa.Column("entry", sa.String(16), nullable=False),            # redeem, reversal
    sa.Column("service_id", sa.String(64), nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),           # redeem < 0, reversal > 0
    sa.Column("credits_milli", sa.BigInteger, nullable=False),    # consumed (<0) / returned
    sa.Column("idem_key", sa.String(100), nullable=False, unique=True),
    sa.Column("reverses", sa.BigInteger, nullable=True, unique=True),  # id of the redemption
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_exchange_entries_learner", "learner_id", "id"),
)

bank_audit = sa.Table(
    "bank_audit", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Index("ix_bank_audit_subject", "subject", "id"),
)


external_credits = sa.Table(
    "external_credits", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("learner_id", sa.String(64), nullable=False),
    sa.Column("amount_milli", sa.BigInteger, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("institution", sa.String(200), nullable=False),
    sa.Column("proof_ref", sa.String(200), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),               # when it was earned
    sa.Column("status", sa.String(16), nullable=False),            # pending approved rejected
    sa.Column("entered_by", sa.String(100), nullable=False),
    sa.Column("entered_at", sa.Float, nullable=False),
    sa.Column("decided_by", sa.String(100), nullable=True),
    sa.Column("decided_at", sa.Float, nullable=True),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("ledger_id", sa.BigInteger, nullable=True),          # the credit entry
    sa.Index("ix_external_credits_learner", "learner_id", "id"),
    sa.Index("ix_external_credits_status", "status", "id"),
)


bank_settings = sa.Table(
    "bank_settings", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),                  # JSON
    sa.Column("updated_by", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

activity_admins = sa.Table(
    "activity_admins", metadata,
    sa.Column("activity_id", sa.String(64), primary_key=True),
    sa.Column("admin", sa.String(100), nullable=False),
    sa.Column("since", sa.Float, nullable=False),
)

course_categories = sa.Table(
    "course_categories", metadata,
    sa.Column("code", sa.String(64), primary_key=True),    # = activities.category
    sa.Column("name_zh", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def create(conn) -> None:
    metadata.create_all(conn, checkfirst=True)


# --- migration 14: administrator reward points as an account; service providers' services --

reward_entries = sa.Table(      # append-only; a balance is a sum and never goes below zero
    "reward_entries", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("admin", sa.String(100), nullable=False),          # activity_admins.admin
    sa.Column("entry", sa.String(16), nullable=False),           # earned, spent, adjust
    sa.Column("points", sa.BigInteger, nullable=False),          # earned > 0, spent < 0
    sa.Column("period", sa.String(16), nullable=False, default=""),   # earned: "2026-11"
    sa.Column("idem_key", sa.String(140), nullable=False, unique=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_reward_entries_admin", "admin", "id"),
)

provider_services = sa.Table(   # which catalogue services a service_provider may redeem
    "provider_services", metadata,
    sa.Column("operator_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("service_id", sa.String(64), primary_key=True),
    sa.Index("ix_provider_services_service", "service_id"),
)
