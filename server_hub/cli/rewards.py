"""tapcert-hub commands of administrator reward points (creditbank/rewards.py; installed by
cli/dispatch.py):

    tapcert-hub rewards settle --period 2026-11          credit a finished month, once
    tapcert-hub rewards balance [ADMIN] [--json]         balances (earned, spent, adjusted)
    tapcert-hub rewards statement ADMIN [--json]         an administrator's entries
    tapcert-hub rewards spend wang --points 30 --key 2f4c1e9a-gift-1 [--comment …]
    tapcert-hub rewards adjust wang --points -5 --comment "session of 11-03 counted twice"
"""

from __future__ import annotations

from server_hub.cli.common import actor


def do_rewards_settle(ctx):
    from server_hub.creditbank import rewards
    got = rewards.settle(ctx.store(), ctx.args.period, ctx.cfg.tz, actor(ctx))
    if ctx.json(got):
        return
    for row in got["settled"]:
        print(f"{row['admin']}: +{row['points']} points for {got['period']}")
    if got["already"]:
        print(f"already settled for {got['period']} (nothing added): "
              f"{', '.join(got['already'])}")
    if not got["settled"] and not got["already"]:
        print(f"no administrator earned reward points in {got['period']}")


def do_rewards_balance(ctx):
    from server_hub.creditbank import rewards
    rows = rewards.balances(ctx.store())
    if ctx.args.admin:
        rows = [r for r in rows if r["admin"] == ctx.args.admin]
    ctx.show(rows, rewards.BALANCE_COLUMNS)


def do_rewards_statement(ctx):
    from server_hub.creditbank import rewards
    st = rewards.statement(ctx.store(), ctx.args.admin)
    if ctx.json(st):
        return
    print(f"{st['admin']}: {st['balance']} reward points")
    for e in st["entries"]:
        e["created_at"] = ctx.when(e["created_at"])
    ctx.show(st["entries"], rewards.COLUMNS)


def _print_entry(ctx, e):
    if ctx.json(e):
        return
    again = " (already done with this key: nothing added)" if e.get("replayed") else ""
    print(f"{e['admin']}: {e['points']:+d} points ({e['entry']}), balance {e['balance']}{again}")


def do_rewards_spend(ctx):
    from server_hub.creditbank import rewards
    a = ctx.args
    _print_entry(ctx, rewards.spend(ctx.store(), a.admin, a.points, a.key, actor(ctx), a.comment))


def do_rewards_adjust(ctx):
    from server_hub.creditbank import rewards
    a = ctx.args
    _print_entry(ctx, rewards.adjust(ctx.store(), a.admin, a.points, actor(ctx), a.comment))


def install(sub, cmd, group) -> None:
    g = group("rewards", "administrator reward points: an account per administrator")
    sp = cmd(g, "settle", do_rewards_settle, "credit each administrator the reward points of "
             "a finished month (settling it again adds nothing)",
             "rewards settle --period 2026-11", json=True)
    sp.add_argument("--period", required=True, help="a finished month, YYYY-MM")
    sp.add_argument("--actor")
    sp = cmd(g, "balance", do_rewards_balance, "reward point balances", "rewards balance wang",
             json=True)
    sp.add_argument("admin", nargs="?")
    sp = cmd(g, "statement", do_rewards_statement, "an administrator's reward entries",
             "rewards statement wang", json=True)
    sp.add_argument("admin")
    sp = cmd(g, "spend", do_rewards_spend, "spend an administrator's points (idempotent by "
             "--key; refused when the balance is short)",
             "rewards spend wang --points 30 --key 2f4c1e9a-gift-1", json=True)
    sp.add_argument("admin")
    sp.add_argument("--points", type=int, required=True)
    sp.add_argument("--key", required=True, help="idempotency key: repeat it to retry safely")
    sp.add_argument("--comment", default="")
    sp.add_argument("--actor")
    sp = cmd(g, "adjust", do_rewards_adjust, "correct an account by +/- points, with why",
             "rewards adjust wang --points -5 --comment 'session counted twice'", json=True)
    sp.add_argument("admin")
    sp.add_argument("--points", type=int, required=True)
    sp.add_argument("--comment", required=True)
    sp.add_argument("--actor")
