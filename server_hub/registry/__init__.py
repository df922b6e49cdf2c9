"""registry: stations, readers, learners, cards, activities and operators (tokens) — the
records an administrator keeps, and authentication of API tokens.

    registry.py    Registry: add/show/update/revoke each kind of record; the learner, card,
                   station and activity reads and writes take a station administrator's
                   `scope` (station ids, None = district-wide) into their WHERE clause
    operators.py   operators, roles, a station_admin's stations, token authentication

May import: core/, store/, ingest/ (re-crediting after a change), creditbank/ categories.
"""
