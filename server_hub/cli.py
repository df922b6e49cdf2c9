"""tapcert-hub: the hub's command line (mpremote style: a dispatch table of do_<verb> handlers,
one error type caught in main(), printed as `tapcert-hub: message`, exit status 1).

Examples:
    tapcert-hub init --token-file /etc/tapcert/admin.token
    tapcert-hub run --config /etc/tapcert/hub.toml
    tapcert-hub station add S-0001 --name "Xicheng library"
    tapcert-hub reader enroll --station S-0001 --public-key 3d40...a1 --label R-0007
    tapcert-hub learner add L-000123 --name "Wang Fang"
    tapcert-hub card add 04a1b2c3 --learner L-000123
    tapcert-hub activity add calligraphy-1 --station S-0001 --name Calligraphy \\
        --schedule '{"type":"weekly","days":["mon"],"start":"18:30","end":"20:00"}' \\
        --standard '{"type":"attendance","credits":2,"share":0.8}'
    tapcert-hub learner show L-000123

The CLI works on the database directly (whoever can read the config and the database is the
hub's administrator); the HTTP API is for everyone else and needs a token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys

from server_hub import config as hubconfig
from server_hub.errors import HubError

PROG = "tapcert-hub"


class Context:
    def __init__(self, args):
        self.args = args
        self.cfg = hubconfig.load(args.config or os.environ.get("TAPCERT_HUB_CONFIG"),
                                  db=args.db)
        self._store = None
        self._registry = None
        self._pipeline = None

    def store(self, migrate=False):
        if self._store is None:
            from server_hub.store.db import open_store
            self._store = open_store(self.cfg.hub.db, migrate=migrate)
        return self._store

    @property
    def pipeline(self):
        if self._pipeline is None:
            from server_hub.pipeline import Pipeline
            self._pipeline = Pipeline(self.store(), self.cfg)
        return self._pipeline

    @property
    def registry(self):
        if self._registry is None:
            from server_hub.registry import Registry
            self._registry = Registry(self.store(), self.pipeline)
        return self._registry

    def close(self):
        if self._store is not None:
            self._store.close()

    def when(self, t) -> str:
        if t is None:
            return "-"
        return dt.datetime.fromtimestamp(float(t), self.cfg.tz).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows, columns) -> str:
    if not rows:
        return "(none)"
    cells = [[str(c) for c in columns]] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v > 1e9:
        return dt.datetime.fromtimestamp(v).strftime("%Y-%m-%d %H:%M")
    return str(v)


def _write_secret(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text + "\n")


def _json_arg(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise HubError(f"--{what} is not valid JSON ({exc}); example: "
                       "'{\"type\": \"fixed\", \"credits\": 1}'") from None


def _time_arg(text: str, tz) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HubError(f"{text!r} is not a time: use Unix seconds or YYYY-MM-DD[THH:MM]") \
            from None
    return int((when if when.tzinfo else when.replace(tzinfo=tz)).timestamp())


# --- handlers --------------------------------------------------------------------------------

def do_init(ctx):
    store = ctx.store(migrate=True)
    print(f"database ready: {store}")
    _init_ca(ctx)
    from server_hub.creditbank.cli import init_issuer
    init_issuer(ctx)
    if ctx.registry.has_admin():
        print("an admin exists already; create more tokens with `tapcert-hub token create`")
        return
    _, token = ctx.registry.create_operator(ctx.args.admin, "admin")
    if ctx.args.token_file:
        _write_secret(ctx.args.token_file, token)
        print(f"admin {ctx.args.admin}: API token written to {ctx.args.token_file} (mode 0600)")
    else:
        print(f"admin {ctx.args.admin}: API token (shown once, store it now):\n{token}")


def _init_ca(ctx):
    from server_hub.config import ca_dir
    from server_hub.pki import FleetCA
    directory = ca_dir(ctx.cfg)
    if directory is None:
        print("fleet CA: none (set hub.ca_dir to give this hub one; needed with PostgreSQL)")
        return
    existed = (directory / "ca.key").exists()
    FleetCA.open_or_create(directory)
    print(f"fleet CA: {directory} ({'exists' if existed else 'created'})")


def do_migrate(ctx):
    applied = ctx.store(migrate=True)
    print(f"database {applied} is at the latest schema")


def do_run(ctx):
    from server_hub import service
    worker = f" [{ctx.cfg.hub.worker_id}]" if ctx.cfg.hub.worker_id else ""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s{worker} %(levelname)s %(name)s: %(message)s")
    api = False if ctx.args.no_api else None
    if ctx.args.workers is not None:   # a supervisor of N `run` processes (workers.py)
        from server_hub import workers
        return workers.run(ctx.cfg, ctx.args.workers, config=ctx.args.config, db=ctx.args.db,
                           api=api)
    return service.run(ctx.cfg, api=api)


def do_station_add(ctx):
    a = ctx.args
    s = ctx.registry.add_station(a.id, a.name, a.lat, a.lon)
    print(f"station {s['id']} added")


def do_station_list(ctx):
    print(_table(ctx.registry.stations(), ["id", "name", "status", "lat", "lon"]))


def do_station_revoke(ctx):
    from server_hub import identity
    done = identity.revoke_station(ctx.cfg, ctx.args.id, ctx.args.reason)
    n = len(done["serials"])
    print(f"station {ctx.args.id}: {n} certificate{'' if n == 1 else 's'} revoked; CRL written "
          f"to {done['crl']}; reload Mosquitto so new connections are refused "
          "(systemctl reload mosquitto, or kill -HUP its pid; restart it to cut a connected "
          "station off at once)")


def do_broker_config(ctx):
    from server_hub import identity
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


def do_reader_import(ctx):
    from server_hub import identity
    doc = identity.read_bundle(ctx.args.file)
    hashes = () if ctx.args.trust_unsigned else identity.token_hashes(ctx.store())
    if not ctx.args.trust_unsigned and not hashes:
        raise HubError("no admin or technician token exists to check the bundle's MAC against: "
                       "create one (`tapcert-hub token create`) or pass --trust-unsigned")
    r = identity.import_bundle(ctx.registry, ctx.pipeline, doc, hashes)
    what = "enrolled" if r["enrolled"] else "was enrolled already"
    extra = f"; old reader {r['replaced']} revoked" if r["replaced"] else ""
    replayed = sum(r["replayed"].values())
    if replayed:
        extra += f"; {replayed} quarantined records ingested again"
    print(f"reader {r['reader_id']} ({r['label'] or 'no label'}) {what} at station "
          f"{r['station']}{extra}")


def do_reader_enroll(ctx):
    a = ctx.args
    r = ctx.registry.enroll_reader(a.public_key, a.station, a.label)
    print(f"reader {r['reader_id']} ({r['label'] or 'no label'}) enrolled at station "
          f"{r['station_id']}")


def do_reader_revoke(ctx):
    r = ctx.registry.revoke_reader(ctx.args.reader_id, ctx.args.reason)
    print(f"reader {r['reader_id']} is {r['status']}")


def do_reader_list(ctx):
    print(_table(ctx.registry.readers(ctx.args.station),
                 ["reader_id", "label", "station_id", "status", "enrolled_at"]))


def do_reader_show(ctx):
    r = ctx.registry.reader(ctx.args.reader_id, gaps=True)
    for key in ("reader_id", "label", "station_id", "status", "enrolled_at", "revoked_at",
                "contiguous", "max_seq", "stored", "missing", "last_stored_at"):
        value = r.get(key)
        if key.endswith("_at"):
            value = ctx.when(value) if value else "-"
        print(f"{key:15} {value}")
    gaps = r.get("gaps") or []
    print("gaps            " + (", ".join(f"{lo}-{hi}" if lo != hi else str(lo)
                                          for lo, hi in gaps) or "none"))


def do_token_create(ctx):
    _, token = ctx.registry.create_operator(ctx.args.name, ctx.args.role)
    if ctx.args.token_file:
        _write_secret(ctx.args.token_file, token)
        print(f"{ctx.args.role} {ctx.args.name}: token written to {ctx.args.token_file} (0600)")
    else:
        print(f"{ctx.args.role} {ctx.args.name}: API token (shown once):\n{token}")


def do_token_list(ctx):
    print(_table(ctx.registry.operators(), ["name", "role", "created_at", "revoked_at"]))


def do_token_revoke(ctx):
    ctx.registry.revoke_operator(ctx.args.name)
    print(f"token of {ctx.args.name} revoked")


# --- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="tapcert hub: verify, credit, "
                                "acknowledge; registry and accounts.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: tapcert-hub learner show L-000123")
    p.add_argument("--config", help="TOML config file (default $TAPCERT_HUB_CONFIG)")
    p.add_argument("--db", help="database URL, e.g. sqlite:////var/lib/tapcert/hub.db or "
                                "postgresql+psycopg://tapcert@db/tapcert")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(parent, name, handler, help_text, example=None):
        sp = parent.add_parser(name, help=help_text, description=help_text,
                               epilog=f"example: {example}" if example else None)
        sp.set_defaults(handler=handler)
        return sp

    def group(name, help_text):
        g = sub.add_parser(name, help=help_text)
        gs = g.add_subparsers(dest="verb", metavar="VERB")
        g.set_defaults(handler=None, group=g)
        return gs

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

    g = group("station", "stations")
    sp = cmd(g, "add", do_station_add, "register a station", "station add S-0001 --name Library")
    sp.add_argument("id")
    sp.add_argument("--name", default="")
    sp.add_argument("--lat", type=float)
    sp.add_argument("--lon", type=float)
    cmd(g, "list", do_station_list, "list stations")
    from server_hub.opscli import do_station_show
    sp = cmd(g, "show", do_station_show, "one station's sync health in detail (also: "
             "`tapcert-hub station S-0001`)", "station show S-0001")
    sp.add_argument("id")
    sp.add_argument("--json", action="store_true")
    sp = cmd(g, "revoke", do_station_revoke, "revoke a station's MQTT certificates and rewrite "
             "the CRL (stolen Pi, retired station)", "station revoke S-0001 --reason stolen")
    sp.add_argument("id")
    sp.add_argument("--reason", default="revoked")
    sp = cmd(sub, "broker-config", do_broker_config, "write Mosquitto's mTLS listener, ACL and "
             "CRL files for the stations (and the hub's own client certificate)",
             "broker-config --out /etc/mosquitto/tapcert --host mqtt.example.org")
    sp.add_argument("--out", required=True, help="directory for Mosquitto's files")
    sp.add_argument("--host", action="append", help="broker host name (repeatable)")
    sp.add_argument("--ip", action="append", help="broker IP address (repeatable)")
    sp.add_argument("--port", type=int, default=8883)
    sp.add_argument("--bind", help="listen address (default all)")

    g = group("reader", "readers")
    sp = cmd(g, "enroll", do_reader_enroll, "enrol a reader by its public key",
             "reader enroll --station S-0001 --public-key 3d40…a1 --label R-0007")
    sp.add_argument("--station", required=True)
    sp.add_argument("--public-key", required=True, help="64 hex digits")
    sp.add_argument("--label", default="")
    sp = cmd(g, "import", do_reader_import, "enrol a reader from an offline enrollment bundle "
             "(tapcert-provision enroll --offline-bundle)", "reader import R-0009.enroll.json")
    sp.add_argument("file")
    sp.add_argument("--trust-unsigned", action="store_true",
                    help="accept a bundle without a valid technician MAC (you vouch for it)")
    sp = cmd(g, "revoke", do_reader_revoke, "revoke a reader (lost, re-keyed, retired)")
    sp.add_argument("reader_id")
    sp.add_argument("--reason", default="")
    sp = cmd(g, "list", do_reader_list, "list readers")
    sp.add_argument("--station")
    sp = cmd(g, "show", do_reader_show, "a reader with its chain state and gaps")
    sp.add_argument("reader_id")

    g = group("token", "operators and their API tokens")
    sp = cmd(g, "create", do_token_create, "create an operator with a token",
             "token create alice --role operator")
    sp.add_argument("name")
    sp.add_argument("--role", required=True, choices=["admin", "operator", "technician"])
    sp.add_argument("--token-file")
    cmd(g, "list", do_token_list, "list operators")
    sp = cmd(g, "revoke", do_token_revoke, "revoke an operator's token")
    sp.add_argument("name")

    from server_hub.accountscli import install as install_accounts
    install_accounts(sub, cmd, group)
    from server_hub.opscli import install as install_ops
    install_ops(sub, cmd, group)
    from server_hub.creditbank.cli import install as install_creditbank
    install_creditbank(sub, cmd, group)
    return p


def _station_shortcut(argv: list[str]) -> list[str]:
    """`tapcert-hub [--config F] station S-0001` means `station show S-0001`."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if "=" in argv[i] or argv[i] in ("-h", "--help") else 2
    if i + 1 < len(argv) and argv[i] == "station" and not argv[i + 1].startswith("-") \
            and argv[i + 1] not in ("add", "list", "show", "revoke"):
        argv.insert(i + 1, "show")
    return argv


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(_station_shortcut(list(sys.argv[1:] if argv is None else argv)))
    handler = getattr(args, "handler", None)
    if handler is None:
        (getattr(args, "group", None) or parser).print_help(sys.stderr)
        return 2
    ctx = None
    try:
        ctx = Context(args)
        return handler(ctx) or 0
    except HubError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if ctx is not None:
            ctx.close()


if __name__ == "__main__":
    sys.exit(main())
