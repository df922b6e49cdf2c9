"""A station administrator's scope as a WHERE term, for every store query that takes one.

`scope` is None for the district-wide roles (admin, operator, technician) and a tuple of
station ids for a station_admin (server_hub/api/auth.py `scope()`): the query itself then
returns nothing of another station, whatever the route above it does.
"""

from __future__ import annotations

import sqlalchemy as sa


def in_scope(column, scope):
    """`column IN scope`, or TRUE when scope is None; an empty scope matches nothing."""
    return sa.true() if scope is None else column.in_(list(scope))
