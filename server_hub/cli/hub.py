"""`tapcert-hub init | migrate | run | broker-config | show-config`: set the hub up and run it.

Installed into the parser by server_hub/cli/dispatch.py.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from server_hub.cli.common import write_secret
from server_hub.errors import HubError


def do_init(ctx):
    store = ctx.store(migrate=True)
    print(f"database ready: {store}")
    _init_ca(ctx)
    from server_hub.cli.bank import init_issuer
    init_issuer(ctx)
    if ctx.registry.has_admin():
        print("an admin exists already; create more tokens with `tapcert-hub token create`")
        return
    _, token = ctx.registry.create_operator(ctx.args.admin, "admin")
    if ctx.args.token_file:
        write_secret(ctx.args.token_file, token)
        print(f"admin {ctx.args.admin}: API token written to {ctx.args.token_file} (mode 0600)")
    else:
        print(f"admin {ctx.args.admin}: API token (shown once, store it now):\n{token}")


def _init_ca(ctx):
    from server_hub.config import ca_dir
    from server_hub.identity.pki import FleetCA
    directory = ca_dir(ctx.cfg)
    if directory is None:
        print("fleet CA: none (set hub.ca_dir to give this hub one; needed with PostgreSQL)")
        return
    existed = (directory / "ca.key").exists()
    FleetCA.open_or_create(directory)
    print(f"fleet CA: {directory} ({'exists' if existed else 'created'})")
    from server_hub.identity import apicert, bundlekeys
    bundlekeys.ensure(directory)          # offline bundles' MAC keys, outside the database
    if not ctx.cfg.api.tls_cert:          # HTTPS for the API (docs/hub.md "HTTPS")
        cert, _ = apicert.ensure(ctx.cfg)
        print(f"API certificate: {cert} (clients verify with {directory / 'ca.crt'})")


def do_migrate(ctx):
    applied = ctx.store(migrate=True)
    print(f"database {applied} is at the latest schema")


def do_run(ctx):
    from server_hub import service
    from server_hub.cli import runlock
    # before MQTT: a second hub must not push the first off (the --workers supervisor holds
    # the database's lock for its workers, and checks the API port worker 1 will take)
    runlock.hold(ctx.cfg, api=ctx.cfg.api.enabled and not ctx.args.no_api,
                 ingest=ctx.args.workers is None)
    worker = f" [{ctx.cfg.hub.worker_id}]" if ctx.cfg.hub.worker_id else ""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s{worker} %(levelname)s %(name)s: %(message)s")
    api = False if ctx.args.no_api else None
    if ctx.args.workers is not None:   # a supervisor of N `run` processes (workers.py)
        from server_hub.ingest import workers
        return workers.run(ctx.cfg, ctx.args.workers, config=ctx.args.config, db=ctx.args.db,
                           api=api)
    return service.run(ctx.cfg, api=api)


_SECRET_KEYS = ("password", "token", "secret")


def effective_config(cfg) -> dict:
    """Every section and key as the hub uses them, secrets masked (show-config)."""
    import dataclasses

    from sqlalchemy.engine import make_url
    out = {}
    for section in dataclasses.fields(cfg):
        values = dataclasses.asdict(getattr(cfg, section.name))
        for key, value in values.items():
            if any(word in key for word in _SECRET_KEYS) and value:
                values[key] = "********"
            elif key == "db" and value:
                values[key] = make_url(value).render_as_string(hide_password=True)
            elif isinstance(value, list):
                values[key] = list(value)
        out[section.name] = values
    return out


def do_show_config(ctx):
    from protocol.host import clihabits as habits
    config = effective_config(ctx.cfg)
    if ctx.args.json:
        habits.print_json(config)
        return
    source = ctx.args.config or os.environ.get("TAPCERT_HUB_CONFIG")
    print(f"# effective configuration ({'from ' + source if source else 'defaults'}, then "
          "TAPCERT_HUB_* environment, then --db); every key: docs/hub.md")
    for section, values in config.items():
        print(f"\n[{section}]")
        for key, value in values.items():
            print(f"{key} = {_toml(value)}")


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def do_broker_config(ctx):
    from server_hub.identity import enrollment as identity
    a = ctx.args
    if not a.host and not a.ip:
        raise HubError("the broker needs a name the stations dial: pass --host NAME and/or "
                       "--ip ADDRESS")
    r = identity.broker_config(ctx.cfg, a.out, a.host or (), a.ip or (), a.port, a.bind or "")
    print(r["listener"], end="")
    print(f"# written to {r['broker_dir']}: ca.crt broker.crt broker.key crl.pem acl "
          f"tapcert.conf; the hub's client certificate is {r['hub_cert']} (set mqtt.ca_file, "
          f"mqtt.cert_file, mqtt.key_file); add `include_dir` or copy tapcert.conf into "
          "/etc/mosquitto/conf.d/ and restart Mosquitto")


def install(sub, cmd, group) -> None:
    sp = cmd(sub, "init", do_init, "create or upgrade the database and the first admin token",
             "tapcert-hub init --token-file ./admin.token")
    sp.add_argument("--admin", default="admin", help="name of the first admin")
    sp.add_argument("--token-file", help="write the token here (mode 0600) instead of stdout")
    cmd(sub, "migrate", do_migrate, "apply pending schema migrations")
    sp = cmd(sub, "run", do_run, "run ingest (MQTT) and the HTTP API",
             "tapcert-hub run --config hub.toml")
    sp.add_argument("--no-api", action="store_true", help="ingest only (e.g. extra workers)")
    sp.add_argument("--workers", type=int, default=None, metavar="N",
                    help="N supervised worker processes sharing the ingest load (PostgreSQL; "
                         "MQTT shared subscriptions or the NATS JetStream consumer; a dead "
                         "worker is restarted; docs/scale.md)")
    sp = cmd(sub, "show-config", do_show_config, "print the effective configuration (file, "
             "environment, flags), secrets masked", "tapcert-hub --config hub.toml show-config")
    sp.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    sp = cmd(sub, "broker-config", do_broker_config, "write Mosquitto's mTLS listener, ACL and "
             "CRL files for the stations (and the hub's own client certificate)",
             "broker-config --out /etc/mosquitto/tapcert --host mqtt.example.org")
    sp.add_argument("--out", required=True, help="directory for Mosquitto's files")
    sp.add_argument("--host", action="append", help="broker host name (repeatable)")
    sp.add_argument("--ip", action="append", help="broker IP address (repeatable)")
    sp.add_argument("--port", type=int, default=8883)
    sp.add_argument("--bind", help="listen address (default all)")
