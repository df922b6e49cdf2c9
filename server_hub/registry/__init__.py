"""registry: stations, readers, learners, cards, activities and operators (tokens) — the
records an administrator keeps, and authentication of API tokens.

    registry.py   Registry: add/show/update/revoke each kind of record

May import: core/, store/, ingest/ (re-crediting after a change), creditbank/ categories.
"""
