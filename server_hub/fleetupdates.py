"""Fleet firmware updates at the hub — where the parts are (this module only re-exports them):

    server_hub/fleettables.py   the tables (schema migration 7, in the hub database)
    server_hub/fleetstore.py    FleetStore: bundles, rollouts, reports; targets from the registry
    server_hub/rollout.py       the planner (sans-I/O): targets, canary + waves, pause, cancel
    server_hub/fleetserver.py   FleetServer: offers, chunks, cancels, reports over MQTT
                                (started by `tapcert-hub run` in the main hub process)
    server_hub/fleetcli.py      `tapcert-hub fleet bundle|rollout …`
    server_hub/api/rollout_routes.py   /api/v1/fleet/…

`python -m server_hub.fleetupdates ARGS` is an alias of `tapcert-hub fleet ARGS` (the separate
--db file of earlier versions is gone: pass the hub's `--config` or `--db URL` first).
"""

from __future__ import annotations

import sys

from server_hub.fleetserver import CHUNK, FleetServer  # noqa: F401
from server_hub.fleetstore import BundleRejected, FleetError, FleetStore  # noqa: F401


def main(argv=None) -> int:
    from server_hub import cli
    args = list(sys.argv[1:] if argv is None else argv)
    globals_ = []
    while args and args[0] in ("--config", "--db") and len(args) > 1:
        globals_ += args[:2]
        args = args[2:]
    return cli.main(globals_ + ["fleet"] + args)


if __name__ == "__main__":
    sys.exit(main())
