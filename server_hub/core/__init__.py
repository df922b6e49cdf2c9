"""core: the hub's pure decisions (sans-I/O) — what a batch of taps means, never how it arrives
or where it is stored.

    ingest.py        decode a batch, authenticate chain runs, dedupe, classify records
    audit.py         every stored record's own signature: the auditor's cursor and checks
    clock.py         the best time of a tap: reader → rebuilt → agent
    integrity.py     holds (why a record cannot be credited yet)
    schedule.py      activity schedules (weekly, dates) as data
    standards.py     credit standards (types, versions, per-hour arithmetic)
    terms.py         term caps
    crediting.py     session decisions and caps
    ledger.py        ledger rows and credit state
    health_model.py  station health states and the alert rules
    alerts.py        alert evaluation over health samples
    signin.py        learner sign-in: PIN rules, lockout per account and per client address

May import: the standard library, protocol/, server_hub.errors and other core modules. No I/O
(no sqlalchemy, paho, nats, fastapi, files, sockets).
"""
