"""`tapcert-hub fleet …`: firmware bundles and rollouts (docs/fleet-updates.md).

    tapcert-hub fleet bundle add fw-0.2.0.json            # verified against [fleet] release_keys
                                                          # and the bundle policy (fwpolicy)
    tapcert-hub fleet bundle list
    tapcert-hub fleet rollout create SHA --target percent --percent 10 --canary S-0001 \\
        --wave-size 20 --max-failures 1 --expires 2026-07-01T06:00
    tapcert-hub fleet rollout list | show RO-… | pause RO-… | resume RO-… | cancel RO-…

Registered into the main parser by server_hub/cli/ops.py (`install`); the same handler shape
as the other commands. The hub (`tapcert-hub run`) does the offering; these only change the
database, so they work while it runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from server_hub.cli.common import actor, table, time_arg
from server_hub.errors import HubError
from server_hub.fleet.store import FleetStore, trusted_keys


def _fleet(ctx) -> FleetStore:
    return FleetStore(ctx.store())


def do_bundle_add(ctx):
    path = Path(ctx.args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HubError(f"cannot read {path}: {exc.strerror}") from None
    trusted = trusted_keys(list(ctx.cfg.fleet.release_keys) + list(ctx.args.trust))
    b = _fleet(ctx).add_bundle(data, trusted, by=actor(ctx),
                               allow_downgrade=ctx.args.allow_downgrade)
    print(f"{b['sha']}  firmware {b['fw']}, {b['size']:,} bytes, release key {b['key_id']}")


def do_bundle_list(ctx):
    rows = _fleet(ctx).bundles()
    if ctx.args.json:
        print(json.dumps(rows, indent=1))
        return
    print(table(rows, ["sha", "fw", "size", "key_id", "created_at", "created_by"]))


def do_rollout_create(ctx):
    a = ctx.args
    expires = time_arg(a.expires, ctx.cfg.tz) if a.expires else None
    rid = _fleet(ctx).create_rollout(
        a.bundle, target=a.target, stations=a.station, percent=a.percent, canary=a.canary,
        canary_count=a.canary_count, wave_size=a.wave_size, max_failures=a.max_failures,
        expires_at=expires, by=actor(ctx), allow_downgrade=a.allow_downgrade)
    print(rid)


def _counts(counts) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def do_rollout_list(ctx):
    rows = _fleet(ctx).rollouts(ctx.args.limit)
    if ctx.args.json:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        r["progress"] = "{closed}/{total}".format(**r["progress"])
        r["counts"] = _counts(r["counts"])
        r["created"] = ctx.when(r["created_at"])
    print(table(rows, ["id", "fw", "state", "progress", "counts", "created"]))


def do_rollout_show(ctx):
    s = _fleet(ctx).status(ctx.args.id)
    if ctx.args.json:
        print(json.dumps(s, indent=1))
        return
    why = s["paused_reason"] if s["paused"] and s["state"] == "paused" else s["cancel_reason"]
    print(f"rollout {s['id']}: firmware {s['fw']} ({s['bundle'][:12]}…), {s['state']}"
          + (f" — {why}" if why and s["state"] in ("paused", "cancelled", "expired") else ""))
    print(f"target {s['target']}{' ' + str(s['percent']) + '%' if s['percent'] else ''}, "
          f"canaries {s['canary_count']}, waves of {s['wave_size']}, max failures "
          f"{s['max_failures']}, expires {ctx.when(s['expires_at'])}")
    print("progress {closed}/{total}: ".format(**s["progress"]) + _counts(s["counts"]))
    rows = []
    for sid, st in s["stations"].items():
        rows.append({"station": sid, "reader": "", "state": st["state"], "reason": st["reason"]})
        for reader, r in st["readers"].items():
            rows.append({"station": "", "reader": reader, "state": r["state"],
                         "reason": r["reason"]})
    print(table(rows, ["station", "reader", "state", "reason"]))


def do_rollout_pause(ctx):
    _fleet(ctx).pause(ctx.args.id, ctx.args.reason or "paused by an operator (cli)")
    print(f"rollout {ctx.args.id} paused: nothing new starts; stations at work finish")


def do_rollout_resume(ctx):
    _fleet(ctx).resume(ctx.args.id)
    print(f"rollout {ctx.args.id} resumed (failures so far accepted)")


def do_rollout_cancel(ctx):
    _fleet(ctx).cancel(ctx.args.id, ctx.args.reason or "cancelled by an operator (cli)")
    print(f"rollout {ctx.args.id} cancelled: nothing new is offered; stations at work stop "
          "before their next reader")


def install(sub, cmd, group) -> None:
    g = group("fleet", "firmware bundles and rollouts to the stations' readers")
    b = g.add_parser("bundle", help="signed firmware bundles")
    bs = b.add_subparsers(dest="sub", metavar="VERB")
    b.set_defaults(handler=None, group=b)
    sp = cmd(bs, "add", do_bundle_add, "verify a bundle against the release keys and store it",
             "fleet bundle add fw-0.2.0.json")
    sp.add_argument("file")
    sp.add_argument("--trust", action="append", default=[],
                    help="another release public key (hex or .pub) besides [fleet] release_keys")
    sp.add_argument("--allow-downgrade", action="store_true",
                    help="store it although a newer version is stored (audited)")
    sp.add_argument("--actor", help="who the audit log names (default cli:<user>)")
    sp = cmd(bs, "list", do_bundle_list, "list stored bundles")   # --json: every list has it

    r = g.add_parser("rollout", help="rollouts of a bundle to stations")
    rs = r.add_subparsers(dest="sub", metavar="VERB")
    r.set_defaults(handler=None, group=r)
    sp = cmd(rs, "create", do_rollout_create, "roll a stored bundle out (canaries, then waves)",
             "fleet rollout create 3f2a… --target percent --percent 10 --canary S-0001")
    sp.add_argument("bundle", help="the bundle's sha256 (fleet bundle list)")
    sp.add_argument("--target", choices=("all", "list", "percent"), default="all",
                    help="all / percent: the registry's active stations; list: --station")
    sp.add_argument("--station", action="append", default=[], help="with --target list")
    sp.add_argument("--percent", type=float, help="with --target percent")
    sp.add_argument("--canary", action="append", default=[], help="a canary station (first)")
    sp.add_argument("--canary-count", type=int, default=1)
    sp.add_argument("--wave-size", type=int, default=10)
    sp.add_argument("--max-failures", type=int, default=0)
    sp.add_argument("--expires", help="deadline (Unix seconds or YYYY-MM-DD[THH:MM]); after "
                    "it the rollout stops as if cancelled")
    sp.add_argument("--allow-downgrade", action="store_true",
                    help="let stations install it over newer firmware (a deliberate "
                    "downgrade; audited)")
    sp.add_argument("--actor", help="who the audit log names (default cli:<user>)")
    sp = cmd(rs, "list", do_rollout_list, "rollouts, newest first, with their progress")
    sp.add_argument("--limit", type=int, default=50)
    sp = cmd(rs, "show", do_rollout_show, "one rollout: every station's and reader's state",
             "fleet rollout show RO-20260601-090000-0.2.0-1a2b")
    sp.add_argument("id")
    sp.add_argument("--json", action="store_true")
    for name, handler, text in (("pause", do_rollout_pause, "stop starting new stations"),
                                ("resume", do_rollout_resume, "resume (accepting failures)"),
                                ("cancel", do_rollout_cancel, "stop the rollout for good")):
        sp = cmd(rs, name, handler, text)
        sp.add_argument("id")
        if name != "resume":
            sp.add_argument("--reason", default="")
