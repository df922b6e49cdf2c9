"""Who may see what, as WHERE terms: a station administrator's stations, an account of one
person, a service provider's services — for every store query that takes one.

`scope` is None for the district-wide roles (admin, operator, technician) and a tuple of
station ids for a station_admin (server_hub/api/auth.py `scope()`): the query itself then
returns nothing of another station, whatever the route above it does.
"""

from __future__ import annotations

import sqlalchemy as sa


def in_scope(column, scope):
    """`column IN scope`, or TRUE when scope is None; an empty scope matches nothing."""
    return sa.true() if scope is None else column.in_(list(scope))


def only_name(column, name):
    """`column = name` (an account that belongs to one person: a station administrator's
    reward account, a service provider's redemptions), or TRUE when name is None (district)."""
    return sa.true() if name is None else column == name


def provider_services(provider: str):
    """The ids of the catalogue services the service_provider operator `provider` may redeem
    (provider_services, migration 14), as a subquery for `service_id IN (…)`."""
    from server_hub.store.bank_tables import provider_services as link
    from server_hub.store.schema import operators
    return sa.select(link.c.service_id).select_from(
        link.join(operators, operators.c.id == link.c.operator_id)).where(
        operators.c.name == provider, operators.c.revoked_at.is_(None))
