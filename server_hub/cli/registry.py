"""`tapcert-hub station | reader | token …`: the registry's stations, readers and operators.
A station's fleet-CA commands (revoke, crl, sign-csr) work on the CA directory
(identity/cadir.py) and need no database.

Installed into the parser by server_hub/cli/dispatch.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from server_hub.cli.common import actor, write_secret
from server_hub.errors import HubError
from server_hub.registry.operators import ROLES


def do_station_add(ctx):
    a = ctx.args
    s = ctx.registry.add_station(a.id, a.name, a.lat, a.lon)
    print(f"station {s['id']} added")


def do_station_list(ctx):
    ctx.show(ctx.registry.stations(), ["id", "name", "status", "lat", "lon"])


def do_station_show(ctx):
    import time
    from server_hub.dashboard import fleet, text
    from server_hub.errors import NotFound
    now = time.time()
    snap = fleet.compute(ctx.store(), ctx.cfg, now)
    detail = fleet.station_detail(ctx.store(), snap, ctx.args.id, now, ctx.cfg.tz)
    if detail is None:
        raise NotFound(f"station {ctx.args.id} is not registered (or is retired): "
                       "see `tapcert-hub station list`")
    if ctx.args.json:
        print(json.dumps(detail, indent=1, default=str))
        return
    print(text.station_text(detail, ctx.cfg.tz, now))


def _ca_dir(ctx):
    """--ca-dir, else the config's hub.ca_dir (default ca/ beside a SQLite database)."""
    from server_hub.config import ca_dir
    directory = ctx.args.ca_dir or ca_dir(ctx.cfg)
    if directory is None:
        raise HubError("this hub has no fleet CA: pass --ca-dir DIR, or set hub.ca_dir in its "
                       "config (needed with PostgreSQL)")
    return directory


def do_station_revoke(ctx):
    from server_hub.identity import cadir
    done = cadir.revoke(_ca_dir(ctx), ctx.args.id, ctx.args.reason)
    n = len(done["serials"])
    print(f"station {ctx.args.id}: {n} certificate{'' if n == 1 else 's'} revoked; CRL written "
          f"to {done['crl']}; reload Mosquitto so new connections are refused "
          "(systemctl reload mosquitto, or kill -HUP its pid; restart it to cut a connected "
          "station off at once)")


def do_station_crl(ctx):
    from server_hub.identity import cadir
    done = cadir.refresh_crl(_ca_dir(ctx), ctx.args.days)
    where = f" (copied to {done['copied']})" if done["copied"] else ""
    print(f"CRL {done['path']}{where} rewritten, valid until "
          f"{done['next_update'].strftime('%Y-%m-%d %H:%M UTC')}; reload the broker "
          "(systemctl reload mosquitto)")


def do_station_sign_csr(ctx):
    """The hub machine's signer for `tapcert-provision station create --ca-dir`: CSR (PEM) on
    stdin or --csr FILE, {"certificate", "ca"} as JSON on stdout, as the API answers."""
    from server_hub.identity import cadir
    source = ctx.args.csr
    try:
        pem = sys.stdin.buffer.read(65536) if source in (None, "-") else Path(source).read_bytes()
    except OSError as exc:
        raise HubError(f"cannot read the CSR {source} ({exc.strerror})") from exc
    print(json.dumps(cadir.sign_csr(_ca_dir(ctx), ctx.args.id, pem)))


def do_reader_import(ctx):
    from server_hub.identity import enrollment as identity
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
    r = ctx.registry.revoke_reader(ctx.args.reader_id, ctx.args.reason,
                                   by={"name": actor(ctx), "role": "admin"})
    print(f"reader {r['reader_id']} is {r['status']}")


def do_reader_list(ctx):
    ctx.show(ctx.registry.readers(ctx.args.station),
             ["reader_id", "label", "station_id", "status", "enrolled_at"])


def do_reader_show(ctx):
    r = ctx.registry.reader(ctx.args.reader_id, gaps=True)
    if ctx.json(r):
        return
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
    op, token = ctx.registry.create_operator(ctx.args.name, ctx.args.role, ctx.args.station,
                                             ctx.args.service)
    who = f"{ctx.args.role} {ctx.args.name}"
    if op.get("stations"):
        who += f" (stations {', '.join(op['stations'])})"
    if op.get("services"):
        who += f" (services {', '.join(op['services'])})"
    if ctx.args.token_file:
        write_secret(ctx.args.token_file, token)
        print(f"{who}: token written to {ctx.args.token_file} (0600)")
    else:
        print(f"{who}: API token (shown once):\n{token}")


def do_token_list(ctx):
    rows = ctx.registry.operators()
    for r in rows:
        r["stations"] = " ".join(r.get("stations") or [])
        r["services"] = " ".join(r.get("services") or [])
    ctx.show(rows, ["name", "role", "stations", "services", "created_at", "revoked_at"])


def do_token_revoke(ctx):
    ctx.registry.revoke_operator(ctx.args.name)
    print(f"token of {ctx.args.name} revoked")


def install(sub, cmd, group) -> None:
    g = group("station", "stations")
    sp = cmd(g, "add", do_station_add, "register a station", "station add S-0001 --name Library")
    sp.add_argument("id")
    sp.add_argument("--name", default="")
    sp.add_argument("--lat", type=float)
    sp.add_argument("--lon", type=float)
    cmd(g, "list", do_station_list, "list stations")
    sp = cmd(g, "show", do_station_show, "one station's sync health in detail (also: "
             "`tapcert-hub station S-0001`)", "station show S-0001")
    sp.add_argument("id")
    sp.add_argument("--json", action="store_true")
    sp = cmd(g, "revoke", do_station_revoke, "revoke a station's MQTT certificates and rewrite "
             "the CRL (stolen Pi, retired station)", "station revoke S-0001 --reason stolen")
    sp.add_argument("id")
    sp.add_argument("--reason", default="revoked")
    sp.add_argument("--ca-dir", help="the fleet CA directory (default: the config's hub.ca_dir)")
    sp = cmd(g, "crl", do_station_crl, "re-issue the CRL before it expires (daily: "
             "tapcert-crl.timer), copied to the broker's files", "station crl --ca-dir "
             "/var/lib/tapcert/ca")
    sp.add_argument("--days", type=int, default=30, help="validity of the new CRL (default 30)")
    sp.add_argument("--ca-dir", help="the fleet CA directory (default: the config's hub.ca_dir)")
    sp = cmd(g, "sign-csr", do_station_sign_csr, "sign a station's CSR with the fleet CA on this "
             "machine; prints {certificate, ca} as JSON (what `tapcert-provision station create "
             "--ca-dir` runs)", "station sign-csr S-0001 --ca-dir /var/lib/tapcert/ca < s.csr")
    sp.add_argument("id")
    sp.add_argument("--csr", help="the CSR (PEM) file (default: standard input)")
    sp.add_argument("--ca-dir", help="the fleet CA directory (default: the config's hub.ca_dir)")

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
    sp = cmd(g, "show", do_reader_show, "a reader with its chain state and gaps", json=True)
    sp.add_argument("reader_id")

    for name, verb in (("token", "create"), ("operator", "add")):   # two names, one table
        g = group(name, "operators and their API tokens")
        sp = cmd(g, verb, do_token_create, "create an operator with a token (a "
                 "station_admin works only on the stations given with --station)",
                 f"{name} {verb} wang --role station_admin --station S-0001")
        sp.add_argument("name")
        sp.add_argument("--role", required=True, choices=list(ROLES))
        sp.add_argument("--station", action="append", default=[],
                        help="a station_admin's station (repeat for more)")
        sp.add_argument("--service", action="append", default=[],
                        help="a service_provider's catalogue service (repeat for more)")
        sp.add_argument("--token-file")
        cmd(g, "list", do_token_list, "list operators (and station administrators' stations)")
        sp = cmd(g, "revoke", do_token_revoke, "revoke an operator's token")
        sp.add_argument("name")
