"""tapcert-hub org | stats: organisation accounts and district statistics (installed into
server_hub/cli/dispatch.py's parser).

    tapcert-hub org add ORG-0001 --name 西城小学 --kind school --station S-0001
    tapcert-hub org enrol ORG-0001 L-000123 L-000124      (or --file ids.txt, one per line)
    tapcert-hub org members ORG-0001 [--json | --csv members.csv]
    tapcert-hub stats --since 2026-01-01 --until 2026-07-01 [--by station,month] [--json|--csv F]
"""

from __future__ import annotations

from server_hub.cli.common import actor, print_table
from server_hub.errors import HubError

DIMENSIONS = ("category", "station", "type", "organisation", "month")


def _who(ctx) -> dict:
    return {"name": actor(ctx), "role": "admin"}


def _print_org(o) -> None:
    home = o["home_station"] or "none (district staff only)"
    print(f"organisation {o['id']}: {o['name']} ({o['kind']}), home station {home}, "
          f"{o.get('members', 0)} member(s)" + (f", contact {o['contact']}" if o["contact"] else ""))


def do_org_add(ctx):
    from server_hub.creditbank import organisations
    a = ctx.args
    o = organisations.create(ctx.store(), {"id": a.id, "name": a.name, "kind": a.kind,
                                           "contact": a.contact, "home_station": a.station},
                             _who(ctx))
    if not ctx.json(o):
        _print_org(o)


def do_org_edit(ctx):
    from server_hub.creditbank import organisations
    a = ctx.args
    changes = {k: v for k, v in (("name", a.name), ("kind", a.kind), ("contact", a.contact),
                                 ("home_station", a.station)) if v is not None}
    if not changes:
        raise HubError("name what to change: --name, --kind, --contact or --station")
    o = organisations.update(ctx.store(), a.id, changes, _who(ctx))
    if not ctx.json(o):
        _print_org(o)
        print("changed: " + (", ".join(o["changed"]) or "nothing (same values)"))


def do_org_list(ctx):
    from server_hub.creditbank import organisations
    ctx.show(organisations.listing(ctx.store(), None, ctx.args.limit, ctx.args.offset),
             ["id", "name", "kind", "home_station", "members", "contact"])


def do_org_show(ctx):
    from server_hub.creditbank import organisations
    o = organisations.get(ctx.store(), ctx.args.id)
    if not ctx.json(o):
        _print_org(o)


def _ids(a) -> list[str]:
    ids = list(a.learners)
    if a.file:
        try:
            with open(a.file, encoding="utf-8-sig") as fh:
                ids += [line.strip() for line in fh.read(8 * 2**20).splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise HubError(f"cannot read {a.file} ({exc}): one account number per line, UTF-8")
    if not ids:
        raise HubError("name the account numbers to enrol, or --file with one per line")
    return ids


def do_org_enrol(ctx):
    from server_hub.creditbank import organisations
    got = organisations.enrol(ctx.store(), ctx.args.id, _ids(ctx.args), _who(ctx))
    if ctx.json(got):
        return 1 if got["refused"] else 0
    for r in got["refused"]:
        print(f"refused: {r['reason']}")
    print(f"organisation {got['organisation_id']}: {len(got['enrolled'])} enrolled, "
          f"{len(got['already'])} already members, {len(got['refused'])} refused")
    return 1 if got["refused"] else 0


def do_org_leave(ctx):
    from server_hub.creditbank import organisations
    got = organisations.leave(ctx.store(), ctx.args.id, ctx.args.learner, _who(ctx))
    print(f"learner {got['left']} left organisation {got['organisation_id']}")


def do_org_members(ctx):
    from server_hub.creditbank import organisations
    from server_hub.store.csvout import to_csv
    got = organisations.members(ctx.store(), ctx.args.id)
    if ctx.args.csv:
        with open(ctx.args.csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(to_csv(got["members"], organisations.MEMBER_COLUMNS))
        print(f"{got['count']} members written to {ctx.args.csv}")
    elif not ctx.json(got):
        print_table(got["members"], organisations.MEMBER_COLUMNS)
        print(f"{got['count']} member(s), {got['credits']:g} credits in all")


def do_stats(ctx):
    from server_hub.creditbank import districtstats
    from server_hub.store.csvout import to_csv
    a = ctx.args
    by = [d.strip() for d in (a.by or ",".join(DIMENSIONS)).split(",") if d.strip()]
    wrong = [d for d in by if d not in DIMENSIONS]
    if wrong:
        raise HubError(f"--by {','.join(wrong)}: use some of {','.join(DIMENSIONS)}")
    rep = districtstats.report(ctx.store(), a.since, a.until, ctx.cfg.tz)
    if a.csv:
        rows = [r for r in districtstats.csv_rows(rep)
                if r["dimension"] not in DIMENSIONS or r["dimension"] in by]
        with open(a.csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(to_csv(rows, districtstats.CSV_COLUMNS))
        print(f"{len(rows)} rows written to {a.csv}")
        return
    if ctx.json(rep):
        return
    print(f"district statistics {rep['since']} .. {rep['until']} (end day excluded, "
          f"{rep['time_zone']})")
    print(f"  accounts {rep['accounts']:,} ({rep['accounts_opened']:,} opened), active "
          f"learners {rep['active_learners']:,}")
    print(f"  credits {rep['credits']:g} in {rep['entries']:,} entries; points issued "
          f"{rep['points_issued']:,} (at {rep['points_per_credit']} per credit), redeemed "
          f"{rep['points_redeemed']:,} in {rep['redemptions']:,} redemption(s)")
    for dim in by:
        rows = [{"key": r["key"] or "-", "name": r["name"]["en"], "credits": f"{r['credits']:g}",
                 "entries": r.get("entries"), "learners": r.get("learners")}
                for r in rep["by_" + dim]]
        print()
        print(f"credits by {dim}")
        print_table(rows, ["key", "name", "credits",
                           "learners" if dim == "organisation" else "entries"])


def install(sub, cmd, group) -> None:
    from server_hub.creditbank.organisations import KINDS
    g = group("org", "organisation accounts: units that enrol their members")
    sp = cmd(g, "add", do_org_add, "create an organisation (audited)",
             "org add ORG-0001 --name 西城小学 --kind school --station S-0001", json=True)
    sp.add_argument("id")
    sp.add_argument("--name", required=True)
    sp.add_argument("--kind", required=True, choices=KINDS)
    sp.add_argument("--contact", default="", help="a person and phone number")
    sp.add_argument("--station", help="home station: its administrators may edit it and enrol "
                    "members; default none (district staff only)")
    sp.add_argument("--actor")
    sp = cmd(g, "edit", do_org_edit, "change an organisation's name, kind, contact or home "
             "station (audited)", "org edit ORG-0001 --contact '李老师 13800000000'", json=True)
    sp.add_argument("id")
    sp.add_argument("--name")
    sp.add_argument("--kind", choices=KINDS)
    sp.add_argument("--contact")
    sp.add_argument("--station")
    sp.add_argument("--actor")
    sp = cmd(g, "list", do_org_list, "organisations with their member counts", "org list")
    sp.add_argument("--limit", type=int, default=1000)
    sp.add_argument("--offset", type=int, default=0)
    sp = cmd(g, "show", do_org_show, "one organisation", "org show ORG-0001", json=True)
    sp.add_argument("id")
    sp = cmd(g, "enrol", do_org_enrol, "enrol learners by account number (exit 1 if any is "
             "refused)", "org enrol ORG-0001 L-000123 L-000124 --file more.txt", json=True)
    sp.add_argument("id")
    sp.add_argument("learners", nargs="*")
    sp.add_argument("--file", help="account numbers, one per line")
    sp.add_argument("--actor")
    sp = cmd(g, "leave", do_org_leave, "a member leaves the organisation (audited)",
             "org leave ORG-0001 L-000123")
    sp.add_argument("id")
    sp.add_argument("learner")
    sp.add_argument("--actor")
    sp = cmd(g, "members", do_org_members, "members and their credit totals",
             "org members ORG-0001 --csv members.csv", json=True)
    sp.add_argument("id")
    sp.add_argument("--csv", help="write CSV to this file")

    sp = cmd(sub, "stats", do_stats, "district statistics for a period of days: accounts, "
             "active learners, credits by category / station / type / organisation / month, "
             "points", "stats --since 2026-01-01 --until 2026-07-01 --by station,month",
             json=True)
    sp.add_argument("--since", required=True, help="first day, YYYY-MM-DD (hub time zone)")
    sp.add_argument("--until", required=True, help="day after the last, YYYY-MM-DD")
    sp.add_argument("--by", help=f"breakdowns to show, some of {','.join(DIMENSIONS)} "
                    "(default all)")
    sp.add_argument("--csv", help="write CSV to this file")
