"""store: the database — engine, schema and every table definition, migrations, queries.

    db.py            open_store (SQLite / PostgreSQL through SQLAlchemy Core), locks
    schema.py        the ledger, registry and evidence tables
    bank_tables.py   the credit bank's tables;  fleet_tables.py  firmware-update tables;
    health_tables.py station health samples and alert state;
    learner_tables.py the learner portal: PIN hashes, sessions, sign-in lockouts
    migrations.py    ordered, named schema migrations
    credits.py, evidence.py, bulk.py   write paths used by ingest/
    reports.py       read models: statement, holds, alarms, quarantine, sync

May import: core/, server_hub.errors. Not ingest/, api/, cli/, dashboard/, fleet/, creditbank/.
"""
