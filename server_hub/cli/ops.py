"""Operator commands of `tapcert-hub`: holds, alarms, quarantine, sync health, settling.

Installed into the parser by server_hub/cli/dispatch.py; each handler takes the CLI context.
"""

from __future__ import annotations

import json

from server_hub.cli.common import actor, time_arg
from server_hub.store import reports


def do_holds_list(ctx):
    rows = reports.holds(ctx.store(), ctx.args.limit)
    for r in rows:
        r["holds"] = ",".join(r["holds"])
        r["session"] = ctx.when(r["session_start"])
    ctx.show(rows, ["learner_id", "activity_id", "session", "session_start",
                    "credits_by_standard", "holds"])


def do_holds_review(ctx):
    # the review queue's decision (creditbank/reviews.py): audited, exactly once in the ledger
    from server_hub.creditbank import reviews
    a = ctx.args
    got = reviews.decide(ctx.registry, a.learner, a.activity, a.session_start, a.decision,
                         actor(ctx), a.comment)
    print(f"{a.decision}d: {a.learner} {a.activity} session {ctx.when(a.session_start)} is "
          f"{got['status']}{'' if got['changed'] else ' (decision unchanged)'}; audited")


def do_alarms_list(ctx):
    ctx.show(reports.alarm_list(ctx.store(), ctx.args.limit),
             ["id", "kind", "station_id", "reader_id", "seq", "created_at", "acknowledged_by",
              "detail"])


def do_alarms_acknowledge(ctx):
    from server_hub.registry import alarmack
    done = alarmack.acknowledge(ctx.store(), ctx.args.id, by={"name": actor(ctx),
                                                               "role": "admin"},
                                note=ctx.args.note)
    print(f"alarm {done['id']} ({done['kind']}, station {done['station_id']}) acknowledged")


def do_quarantine_list(ctx):
    ctx.show(reports.quarantine_list(ctx.store(), ctx.args.reason, ctx.args.limit),
             ["id", "reason", "station_id", "batch_id", "reader_id", "seq", "received_at",
              "detail"])


def do_quarantine_replay(ctx):
    from server_hub.registry.common import parse_hex
    rid = parse_hex(ctx.args.reader, "reader id", (8,)) if ctx.args.reader else None
    counts = ctx.pipeline.replay_quarantine(rid)
    print("replayed: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"))


def do_sync(ctx):
    ctx.show(reports.sync(ctx.store(), ctx.args.station),
             ["station_id", "state", "last_batch_at", "batches", "accepted", "duplicates",
              "rejected"])


def do_status(ctx):
    from server_hub.dashboard import fleet, text
    from server_hub.dashboard.monitor import firing_alerts, live_alerts
    snap = fleet.compute(ctx.store(), ctx.cfg)
    firing = live_alerts(snap, firing_alerts(ctx.store()))
    if ctx.args.json:
        print(json.dumps({"summary": snap.summary, "alerts": [a.to_dict() for a in firing],
                          "stations": [v.to_dict() for v in snap.views[:ctx.args.limit]]},
                         indent=1, default=str))
        return
    print(text.fleet_text(snap, firing, ctx.cfg.tz, show_all=ctx.args.all,
                          limit=ctx.args.limit))


def do_settle(ctx):
    n = ctx.pipeline.settle()
    print(f"settled closed sessions: {n} ledger entries")


def do_recompute(ctx):
    since = time_arg(ctx.args.since, ctx.cfg.tz)
    n = ctx.pipeline.recompute({lid: since for lid in ctx.args.learners})
    print(f"re-credited {len(ctx.args.learners)} learners: {n} ledger entries")


def install(sub, cmd, group) -> None:
    g = group("holds", "credits held for review")
    sp = cmd(g, "list", do_holds_list, "list held credits")
    sp.add_argument("--limit", type=int, default=200)
    sp = cmd(g, "review", do_holds_review, "approve or reject a held credit (audited; the "
             "same as `review decide`)",
             "holds review L-000123 calligraphy-1 1780333200 approve --comment 'seen in class'")
    sp.add_argument("learner")
    sp.add_argument("activity")
    sp.add_argument("session_start", type=int)
    sp.add_argument("decision", choices=["approve", "reject"])
    sp.add_argument("--comment", default="", help="required to reject")
    sp.add_argument("--actor", help="who decides (default cli:<user>)")

    g = group("alarms", "equivocation, broken-chain, quarantine-quota and identity-change alarms")
    sp = cmd(g, "list", do_alarms_list, "list alarms")
    sp.add_argument("--limit", type=int, default=100)
    sp = cmd(g, "acknowledge", do_alarms_acknowledge, "an admin has looked at an alarm: it "
             "stays listed, the station's problem clears (audited)", "alarms acknowledge 12")
    sp.add_argument("id", type=int)
    sp.add_argument("--note", default="", help="what was found (kept in the audit log)")
    sp.add_argument("--actor", help="who the audit log names (default cli:<user>)")
    g = group("quarantine", "rejected records and batches")
    sp = cmd(g, "list", do_quarantine_list, "list quarantined items")
    sp.add_argument("--reason")
    sp.add_argument("--limit", type=int, default=100)
    sp = cmd(g, "replay", do_quarantine_replay, "ingest again records quarantined as "
             "unknown_reader or wrong_station (after enrolling or moving the reader)",
             "quarantine replay --reader 3f2a9c0d11e4b7a8")
    sp.add_argument("--reader", help="only this reader's records")
    sp = cmd(sub, "sync", do_sync, "per-station sync counters and status")
    sp.add_argument("--station")
    sp.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
    sp = cmd(sub, "status", do_status, "fleet summary and the stations needing attention",
             "tapcert-hub status --limit 20")
    sp.add_argument("--all", action="store_true", help="every station, not only those "
                    "needing attention")
    sp.add_argument("--limit", type=int, default=50, help="most stations listed")
    sp.add_argument("--json", action="store_true")
    cmd(sub, "settle", do_settle, "settle closed sessions now (run does it periodically)")
    sp = cmd(sub, "recompute", do_recompute, "re-credit learners from a time on",
             "recompute L-000123 --since 2026-03-01")
    sp.add_argument("learners", nargs="+")
    sp.add_argument("--since", required=True)
