"""fleet: firmware updates for the stations — signed bundles, rollouts (canary + waves), the
MQTT offers and chunks, and the agents' reports.

    rollout.py    the planner (sans-I/O): targets, canary + waves, pause, cancel
    store.py      FleetStore: bundles, rollouts, reports in the hub database
    server.py     FleetServer: offers, chunks, cancels, reports over MQTT
    __main__.py   `python -m server_hub.fleet ARGS` = `tapcert-hub fleet ARGS`

May import: store/, server_hub.errors/config, creditbank/audit.py (a downgrade override is
audited, and read back from the audit log). Station health is dashboard/, not here.
"""
