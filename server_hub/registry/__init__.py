"""registry: the records an administrator keeps, one module per aggregate, and authentication
of API tokens.

    registry.py        Registry: the facade the API, CLI and credit bank hold (same methods)
    stations.py        stations
    readers.py         readers: enrol (re-key), show with chain gaps, revoke, move
    learners.py        learners and their cards (status, blocked-card list)
    activities.py      activities: schedule, standard, category; re-decides what a change touches
    operators.py       operators, roles, a station_admin's stations, token authentication
    identitychange.py  who may revoke or replace a reader or re-issue a certificate; audit, alarm
    alarmack.py        acknowledging an alarm
    common.py          hex input, row dicts, the scoped not-found words, re-crediting

The learner, card, station and activity reads and writes take a station administrator's
`scope` (station ids, None = district-wide) into their WHERE clause (store/scope.py).

May import: core/, store/, ingest/ (re-crediting after a change), creditbank/ categories.
"""
