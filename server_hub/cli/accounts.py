"""tapcert-hub learner | card | activity: learners, their cards and accounts, and the
activities with their credit standards (installed into server_hub/cli/dispatch.py's parser).

    tapcert-hub learner show L-000123       balance and history with the evidence of each credit
    tapcert-hub learner set-type L-000123 retiree   correct the learner's type (audited)
    tapcert-hub learner set-pin L-000123    set or reset the learner portal PIN (asked twice, or
                                            one line on stdin with --pin-stdin; never an argument)
"""

from __future__ import annotations

import getpass
import json
import sys

from server_hub.cli import csvimport
from server_hub.cli.common import actor, json_arg, time_arg
from server_hub.store import reports


def do_learner_add(ctx):
    from server_hub.creditbank import learnertype
    l = learnertype.open_account(ctx.registry, ctx.args.id, ctx.args.name, ctx.args.station,
                                 ctx.args.type)
    home = f" (home station {l['home_station']})" if l.get("home_station") else ""
    kind = f", {l['learner_type']}" if l.get("learner_type") else ""
    print(f"learner {l['id']} added{home}{kind}")


def do_learner_set_type(ctx):
    from server_hub.creditbank import learnertype
    got = learnertype.change(ctx.store(), ctx.args.id, ctx.args.type or None,
                             {"name": actor(ctx), "role": "admin"})
    print(f"learner {got['learner_id']}: type {got['learner_type'] or 'not recorded'}"
          + ("" if got["changed"] else " (unchanged)"))


def do_learner_list(ctx):
    ctx.show(ctx.registry.learners(ctx.args.limit, ctx.args.offset),
             ["id", "name", "status", "home_station", "learner_type"])


def do_learner_show(ctx):
    st = reports.statement(ctx.store(), ctx.args.id, ctx.args.limit)
    if ctx.args.json:
        print(json.dumps(st, indent=1))
        return
    kind = f", {st['learner_type']}" if st.get("learner_type") else ""
    print(f"learner {st['learner_id']} ({st['status']}{kind})   balance {st['balance']:g} "
          "credits")
    print()
    if not st["entries"]:
        print("no ledger entries")
    for e in reversed(st["entries"]):
        print(f"#{e['id']} {e['amount']:+g} {e['entry']:8} {e['activity_id']} session "
              f"{ctx.when(e['session_start'])}: {e['reason']}")
        for ev in e["evidence"]:
            _print_evidence(ctx, ev)
    if st["not_credited"]:
        print()
        print("not credited:")
        for n in st["not_credited"]:
            holds = f" holds: {', '.join(n['holds'])}" if n["holds"] else ""
            print(f"  {n['status']:8} {n['activity_id']} session {ctx.when(n['session_start'])}"
                  f" ({n['credits_by_standard']:g} by the standard){holds}")
            for ev in n["evidence"]:
                _print_evidence(ctx, ev, "    ")


def do_learner_set_pin(ctx):
    from server_hub.creditbank import learnerauth
    from server_hub.errors import RegistryError
    if ctx.args.pin_stdin:
        pin = sys.stdin.readline(200).rstrip("\r\n")
    else:
        pin = getpass.getpass(f"new PIN for {ctx.args.id}: ")
        if getpass.getpass("the same PIN again: ") != pin:
            raise RegistryError("the two PINs differ: nothing was set; run the command again")
    # the command line is the database's administrator: it acts with the admin role
    got = learnerauth.set_pin(ctx.store(), ctx.args.id, pin, {"name": actor(ctx), "role": "admin"})
    ended = f"; {got['sessions_ended']} portal session(s) ended" if got["sessions_ended"] else ""
    print(f"learner {got['learner_id']}: PIN {'reset' if got['reset'] else 'set'}{ended}; "
          "they sign in at /learner with the account number and this PIN")


def _print_evidence(ctx, ev, indent="    "):
    if ev.get("missing"):
        print(f"{indent}record {ev['reader_id']}#{ev['seq']} (not found)")
        return
    flags = f" flags={','.join(ev['flags'])}" if ev["flags"] else ""
    print(f"{indent}{ev['kind']:9} reader {ev['reader_label'] or ev['reader_id']} #{ev['seq']} "
          f"at {ev['station_id']}: happened {ctx.when(ev['best_time'])} ({ev['time_source']}), "
          f"reader clock {ctx.when(ev['reader_time'])}, agent {ctx.when(ev['agent_time'])}, "
          f"hub stored {ctx.when(ev['hub_stored_at'])}{flags}")


def do_card_add(ctx):
    c = ctx.registry.add_card(ctx.args.uid, ctx.args.learner)
    print(f"card {c['uid']} registered to learner {c['learner_id']}")


def do_card_set_status(ctx):
    since = time_arg(ctx.args.since, ctx.cfg.tz) if ctx.args.since else None
    c = ctx.registry.set_card_status(ctx.args.uid, ctx.args.status, since)
    print(f"card {c['uid']} is {c['status']} since {ctx.when(c['status_since'])}")


def do_activity_add(ctx):
    a = ctx.args
    act = ctx.registry.add_activity(a.id, a.station, a.name, json_arg(a.schedule, "schedule"),
                                    json_arg(a.standard, "standard"), a.category)
    print(f"activity {act['id']} added at station {act['station_id']}")


def do_activity_list(ctx):
    rows = ctx.registry.activities(ctx.args.station)
    if not ctx.args.json:
        for r in rows:
            r["schedule"] = json.dumps(r["schedule"])
            r["standard"] = json.dumps(r["standard"])
    ctx.show(rows, ["id", "station_id", "name", "active", "schedule", "standard"])


def install(sub, cmd, group) -> None:
    g = group("learner", "learners and their accounts")
    sp = cmd(g, "add", do_learner_add, "register a learner",
             "learner add L-000123 --name 'Wang' --station S-0001 --type retiree")
    sp.add_argument("id")
    sp.add_argument("--name", default="")
    sp.add_argument("--type", help="learner type: student, employee, retiree, volunteer or "
                    "other (default: not recorded)")
    sp.add_argument("--station", help="home station: its station administrators serve the "
                    "learner (default: none, the district office's only)")
    sp = cmd(g, "set-type", do_learner_set_type, "correct a learner's type (audited)",
             "learner set-type L-000123 retiree   (\"\" = not recorded)")
    sp.add_argument("id")
    sp.add_argument("type", help="student, employee, retiree, volunteer or other")
    sp.add_argument("--actor", help="who the audit log records (default cli:<login name>)")
    sp = cmd(g, "list", do_learner_list, "list learners")
    sp.add_argument("--limit", type=int, default=100)
    sp.add_argument("--offset", type=int, default=0)
    sp = cmd(g, "show", do_learner_show, "balance and history with the evidence behind each "
             "credit", "learner show L-000123")
    sp.add_argument("id")
    sp.add_argument("--limit", type=int, default=500)
    sp.add_argument("--json", action="store_true")

    sp = cmd(g, "set-pin", do_learner_set_pin, "set or reset the PIN a learner signs in to the "
             "learner portal with (clears a lockout, ends their sessions; audited)",
             "learner set-pin L-000123   (or: echo 482915 | tapcert-hub learner set-pin "
             "L-000123 --pin-stdin)")
    sp.add_argument("id")
    sp.add_argument("--pin-stdin", action="store_true", help="read the PIN from one line of stdin")
    sp.add_argument("--actor", help="who the audit log records (default cli:<login name>)")

    learner_group = g
    g = group("card", "learner cards")
    sp = cmd(g, "add", do_card_add, "register a card to a learner",
             "card add 04a1b2c3 --learner L-000123")
    sp.add_argument("uid", help="UID in hex (4, 7 or 10 bytes)")
    sp.add_argument("--learner", required=True)
    sp = cmd(g, "set-status", do_card_set_status, "report a card lost/revoked, or active again",
             "card set-status 04a1b2c3 lost")
    sp.add_argument("uid")
    sp.add_argument("status", choices=["active", "lost", "revoked"])
    sp.add_argument("--since", help="when it applies from (default now)")
    csvimport.install(cmd, learner_group, g)

    g = group("activity", "activities and their credit standards")
    sp = cmd(g, "add", do_activity_add, "define an activity (see docs/hub.md)",
             "activity add yoga --station S-0001 --schedule '{\"type\":\"daily\",\"start\":"
             "\"09:00\",\"end\":\"10:00\"}' --standard '{\"type\":\"fixed\",\"credits\":1}'")
    sp.add_argument("id")
    sp.add_argument("--station", required=True)
    sp.add_argument("--name", default="")
    sp.add_argument("--category", default="")
    sp.add_argument("--schedule", required=True, help="JSON")
    sp.add_argument("--standard", required=True, help="JSON")
    sp = cmd(g, "list", do_activity_list, "list activities")
    sp.add_argument("--station")
