"""server_hub: the hub — the authority that verifies taps, credits learners and keeps the
ledger. One folder per room (each `__init__.py` says what it owns and may import):

    core/        pure decisions (no I/O)          ingest/      stations → ledger
    store/       database, tables, migrations     registry/    stations, readers, learners …
    identity/    fleet CA, ACL, CRL, enrollment   fleet/       firmware updates
    creditbank/  exchange, transcripts, reviews   api/         HTTP API
    dashboard/   fleet health, alerts, metrics    cli/         tapcert-hub

service.py wires a running hub; config.py and errors.py are shared by every room. The hub
imports protocol/ and never agent/, provisioning/ or firmware/.
"""
