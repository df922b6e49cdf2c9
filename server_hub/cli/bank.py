"""tapcert-hub commands of the credit bank (installed into the hub's parser by
server_hub/cli/dispatch.py):

    tapcert-hub exchange rate [N]                          show / set points per credit
    tapcert-hub exchange expiry [MONTHS|off]               show / set point expiry (audited)
    tapcert-hub exchange services [--all]                  the catalogue
    tapcert-hub exchange add-service swim --name "Swimming lesson" --price 30 [--category …]
    tapcert-hub exchange set-service swim [--price 40] [--inactive | --active]
    tapcert-hub exchange account L-000123                  credits, points, redemptions
    tapcert-hub exchange redeem L-000123 swim --key 6f1c…  (idempotent by --key)
    tapcert-hub exchange reverse 6f1c… --comment "lesson cancelled"
    tapcert-hub review queue | review decide L-000123 A-1 1780333200 approve --comment …
    tapcert-hub external enter L-000123 --credits 1.5 --title … --institution … --proof … --day …
    tapcert-hub external list [--status pending] | external decide 7 approve [--comment …]
    tapcert-hub evaluation stations|rewards [--since …] [--until …] [--csv FILE]
    tapcert-hub evaluation set-thresholds JSON | set-reward-rule JSON | assign ACTIVITY ADMIN
    tapcert-hub statement L-000123 --since 2026-03-01 --until 2026-04-01 [--csv FILE]
    tapcert-hub audit [--subject L-000123] [--action 'exchange.*']
    tapcert-hub transcript L-000123 --out L-000123.json
    tapcert-hub verify-transcript L-000123.json [--issuer-key HEX]   (offline, no database)
    tapcert-hub export-xapi L-000123 --out statements.json [--since 2026-03-01]
    tapcert-hub term … | category …                       (bank_admin.py)
"""

from __future__ import annotations

import json
import sys

from server_hub.cli.common import actor, json_arg, print_table, time_arg, write_secret
from server_hub.errors import HubError, TranscriptInvalid


def _bank(ctx):
    from server_hub.creditbank.bank import Bank
    return Bank(ctx.store(), ctx.cfg.tz)


def _issuer_dir(ctx):
    from server_hub.config import ca_dir
    directory = ca_dir(ctx.cfg)
    if directory is None:
        raise HubError("this hub has no issuer key directory: set hub.ca_dir (needed with "
                       "PostgreSQL), then run `tapcert-hub init`")
    return directory


def init_issuer(ctx) -> None:
    """Called by `tapcert-hub init`: create the transcript issuer key if there is none."""
    from server_hub.config import ca_dir
    from server_hub.creditbank import issuer
    directory = ca_dir(ctx.cfg)
    if directory is None:
        print("transcript issuer key: none (set hub.ca_dir to give this hub one)")
        return
    key, created = issuer.open_or_create(directory)
    print(f"transcript issuer key: {directory / issuer.KEY_FILE} "
          f"({'created' if created else 'exists'}; public {issuer.public_hex(key)})")


def do_rate(ctx):
    bank = _bank(ctx)
    if ctx.args.points_per_credit is not None:
        bank.set_rate(ctx.args.points_per_credit, actor(ctx))
    if not ctx.json({"points_per_credit": bank.rate()}):
        print(f"1 credit = {bank.rate()} points")


def do_expiry(ctx):
    bank = _bank(ctx)
    months = ctx.args.months
    if months is not None:
        bank.set_expiry(0 if months == "off" else _months(months), actor(ctx))
    with ctx.store().read() as conn:
        got = bank.expiry(conn)
    if not ctx.json(got):
        print(f"credits stop counting toward points {got['months']} months after they were "
              "earned" if got["months"] else "points never expire")


def _months(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HubError(f"{text!r} is not a number of months: e.g. `exchange expiry 24`, or "
                       "`exchange expiry off`") from None


def do_services(ctx):
    ctx.show(_bank(ctx).services(include_inactive=ctx.args.all),
             ["id", "name", "category", "price_points", "active"])


def do_add_service(ctx):
    a = ctx.args
    s = _bank(ctx).add_service(a.service, a.name, a.price, a.category, actor(ctx))
    print(f"service {s['id']}: {s['name']}, {s['price_points']} points")


def do_set_service(ctx):
    a = ctx.args
    active = True if a.active else (False if a.inactive else None)
    s = _bank(ctx).set_service(a.service, actor(ctx), price_points=a.price, active=active,
                               name=a.name)
    print(f"service {s['id']}: {s['name']}, {s['price_points']} points, "
          f"{'active' if s['active'] else 'inactive'}")


def do_account(ctx):
    acct = _bank(ctx).account(ctx.args.learner)
    if ctx.args.json:
        print(json.dumps(acct, indent=2))
        return
    print(f"{acct['learner_id']}: {acct['credits']:g} credits, {acct['credits_exchanged']:g} "
          f"exchanged, {acct['points_available']} points available "
          f"(1 credit = {acct['points_per_credit']} points)")
    for soon in acct["expiring"][:3]:
        print(f"  {soon['points']} points expire on {soon['day']}")
    for e in acct["entries"]:
        e["when"] = ctx.when(e["created_at"])
    print_table(acct["entries"], ["id", "when", "entry", "service_id", "points", "key",
                                   "reverses", "actor", "comment"])


def do_redeem(ctx):
    a = ctx.args
    e = _bank(ctx).redeem(a.learner, a.service, a.key, actor(ctx), a.comment)
    again = " (already done with this key)" if e["replayed"] else ""
    print(f"redeemed {a.service} for {a.learner}: {-e['points']} points, entry {e['id']}{again}")


def do_reverse(ctx):
    e = _bank(ctx).reverse(ctx.args.key, actor(ctx), ctx.args.comment)
    again = " (already reversed)" if e["replayed"] else ""
    print(f"reversed redemption {e['reverses']}: {e['points']} points back to "
          f"{e['learner_id']}, entry {e['id']}{again}")


def do_review_queue(ctx):
    from server_hub.creditbank import reviews
    rows = reviews.queue(ctx.store(), ctx.args.limit)
    if ctx.json(rows):
        return
    for r in rows:
        r["holds"] = ",".join(r["holds"])
        r["records"] = " ".join(f"{e['reader_id'][:8]}#{e['seq']}" for e in r["evidence"])
    print_table(rows, ["learner_id", "activity_id", "session_start", "day",
                        "credits_by_standard", "holds", "records"])


def do_review_decide(ctx):
    from server_hub.creditbank import reviews
    a = ctx.args
    got = reviews.decide(ctx.registry, a.learner, a.activity, a.session_start, a.decision,
                         actor(ctx), a.comment)
    delta = (got["applied_after"] - got["applied_before"]) / 1000
    print(f"{a.decision}d: {a.learner} {a.activity} {a.session_start} is {got['status']} "
          f"(ledger {delta:+g} credits{'' if got['changed'] else ', decision unchanged'})")


def do_audit(ctx):
    from server_hub.creditbank import audit
    rows = audit.entries(ctx.store(), ctx.args.subject, ctx.args.action, ctx.args.limit)
    if ctx.json(rows):
        return
    for r in rows:
        r["when"] = ctx.when(r["at"])
        r["detail"] = json.dumps(r["detail"], sort_keys=True)
    print_table(rows, ["id", "when", "actor", "action", "subject", "detail"])


def do_transcript(ctx):
    from server_hub.creditbank import export, issuer
    key = issuer.load(_issuer_dir(ctx))
    doc = export.issue_transcript(ctx.store(), ctx.args.learner, key, ctx.args.issuer_name)
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    if ctx.args.out in (None, "-"):
        print(text)
        return
    write_secret(ctx.args.out, text)    # it holds the learner's card UID: 0600
    subj = doc["credentialSubject"]
    print(f"transcript of {ctx.args.learner}: {len(subj['credits'])} credits, "
          f"{subj['totalCreditsMilli'] / 1000:g} in total, written to {ctx.args.out}")


def do_verify_transcript(ctx):
    from server_hub.creditbank import transcript
    try:
        with open(ctx.args.file, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise HubError(f"cannot read {ctx.args.file}: {exc}") from None
    trusted = set(ctx.args.issuer_key) if ctx.args.issuer_key else None
    try:
        got = transcript.verify(doc, trusted)
    except TranscriptInvalid as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print(f"VALID: {got['learner']}, {got['credits']} credits "
          f"({got['total_credits_milli'] / 1000:g}), {got['records']} station-signed records "
          f"verified; issued by {got['issuer_name']!r} key {got['issuer']}")
    if trusted is None:
        print("  note: compare the issuer key with the one the hub publishes (issuer.pub), or "
              "pass --issuer-key")
    return 0


def do_export_xapi(ctx):
    from server_hub.creditbank import export
    a = ctx.args
    since = time_arg(a.since, ctx.cfg.tz) if a.since else 0
    until = time_arg(a.until, ctx.cfg.tz) if a.until else None
    stmts = export.xapi_statements(ctx.store(), a.learner, since, until, a.home_page)
    text = json.dumps(stmts, indent=2)
    if a.out in (None, "-"):
        print(text)
    else:
        with open(a.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(f"{len(stmts)} statements of {a.learner} written to {a.out}")


def _milli(text: str) -> int:
    from decimal import Decimal, InvalidOperation
    try:
        value = Decimal(text) * 1000
    except InvalidOperation:
        raise HubError(f"--credits {text!r} is not a number (e.g. 1.5)") from None
    if value != value.to_integral_value():
        raise HubError("--credits has at most three decimals")
    return int(value)


def do_external_enter(ctx):
    from server_hub.creditbank import external
    a = ctx.args
    e = external.enter(ctx.store(), a.learner, _milli(a.credits), a.title, a.institution,
                       a.proof, a.day, actor(ctx))
    print(f"external credit #{e['id']} for {e['learner_id']}: {e['credits']:g} credits, "
          f"pending: a second administrator approves it with `tapcert-hub external decide "
          f"{e['id']} approve --actor <name>`")


def do_external_list(ctx):
    from server_hub.creditbank import external
    rows = external.listing(ctx.store(), ctx.args.status, ctx.args.learner, ctx.args.limit)
    ctx.show(rows, ["id", "learner_id", "credits", "title", "institution", "proof_ref",
                    "day", "status", "entered_by", "decided_by", "comment"])


def do_external_decide(ctx):
    from server_hub.creditbank import external
    a = ctx.args
    e = external.decide(ctx.store(), a.id, a.decision, actor(ctx), a.comment)
    print(f"external credit #{e['id']} {e['status']} by {e['decided_by']}"
          + (f" (ledger entry {e['ledger_id']})" if e["ledger_id"] else ""))


def _period(ctx):
    import time as _time
    a = ctx.args
    until = time_arg(a.until, ctx.cfg.tz) if a.until else int(_time.time()) + 1
    since = time_arg(a.since, ctx.cfg.tz) if a.since else until - 30 * 86400
    return since, until


def _report(ctx, rows, columns):
    from server_hub.creditbank import evaluation
    if ctx.args.csv:
        with open(ctx.args.csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(evaluation.to_csv(rows, columns))
        print(f"{len(rows)} rows written to {ctx.args.csv}")
    elif not ctx.json(rows):
        print_table(rows, columns)


def do_eval_stations(ctx):
    from server_hub.creditbank import evaluation
    _report(ctx, evaluation.station_report(ctx.store(), *_period(ctx)),
            evaluation.STATION_COLUMNS)


def do_eval_rewards(ctx):
    from server_hub.creditbank import evaluation
    _report(ctx, evaluation.reward_report(ctx.store(), *_period(ctx)),
            evaluation.REWARD_COLUMNS)


def do_eval_set(ctx):
    from server_hub.creditbank import evaluation
    name = "grade_thresholds" if ctx.args.verb == "set-thresholds" else "reward_rule"
    value = evaluation.set_setting(ctx.store(), name, json_arg(ctx.args.json, "json"),
                                   actor(ctx))
    print(f"{name}: {json.dumps(value)}")


def do_eval_assign(ctx):
    from server_hub.creditbank import evaluation
    evaluation.assign_admin(ctx.store(), ctx.args.activity, ctx.args.admin, actor(ctx))
    print(f"activity {ctx.args.activity} is run and certified by {ctx.args.admin}")


def do_statement(ctx):
    from server_hub.creditbank import evaluation, statements
    st = statements.period(ctx.store(), ctx.args.learner, *_period(ctx))
    if ctx.args.csv:
        with open(ctx.args.csv, "w", encoding="utf-8", newline="") as fh:
            fh.write(evaluation.to_csv(st["entries"], statements.COLUMNS))
    if ctx.json(st):
        return
    print(f"{st['learner_id']}  {ctx.when(st['since'])} .. {ctx.when(st['until'])}")
    print(f"  opening balance {st['opening_balance']:g}, credited {st['credited']:+g}, "
          f"closing balance {st['closing_balance']:g}")
    for e in st["entries"]:
        e["recorded_at"] = ctx.when(e["recorded_at"])
    print_table(st["entries"], ["id", "recorded_at", "entry", "amount", "activity_id",
                                 "category_name", "day", "reason", "records"])
    if st["exchange"]:
        print_table(st["exchange"], ["id", "entry", "service_id", "points", "credits",
                                      "actor"])


def install(sub, cmd, group) -> None:
    sp = cmd(sub, "statement", do_statement, "a learner's statement for a date range",
             "statement L-000123 --since 2026-03-01 --until 2026-04-01 --csv march.csv",
             json=True)
    sp.add_argument("learner")
    sp.add_argument("--since", help="default: 30 days before --until")
    sp.add_argument("--until", help="default: now")
    sp.add_argument("--csv", help="also write the entries as CSV")

    g = group("evaluation", "station grades and administrator rewards (CSV export)")
    for verb, handler, text in (("stations", do_eval_stations, "per-station indicators and "
                                 "grade"), ("rewards", do_eval_rewards, "administrator reward "
                                            "points")):
        sp = cmd(g, verb, handler, text, f"evaluation {verb} --since 2026-03-01 --csv out.csv",
                 json=True)
        sp.add_argument("--since", help="default: 30 days before --until")
        sp.add_argument("--until", help="default: now")
        sp.add_argument("--csv", help="write CSV to this file")
    sp = cmd(g, "set-thresholds", do_eval_set, "set the grade thresholds",
             'evaluation set-thresholds \'{"grades": [["A", {"min_learners": 20}], '
             '["B", {}]]}\'')
    sp.add_argument("json")
    sp.add_argument("--actor")
    sp = cmd(g, "set-reward-rule", do_eval_set, "set the administrator reward rule",
             'evaluation set-reward-rule \'{"per_session": 5, "per_learner_credited": 1}\'')
    sp.add_argument("json")
    sp.add_argument("--actor")
    sp = cmd(g, "assign", do_eval_assign, "name the administrator who runs an activity")
    sp.add_argument("activity")
    sp.add_argument("admin")
    sp.add_argument("--actor")

    g = group("external", "credits earned elsewhere: entered by one admin, approved by another")
    sp = cmd(g, "enter", do_external_enter, "enter an external credit (pending approval)",
             "external enter L-000123 --credits 1.5 --title 'First aid' --institution "
             "'Red Cross' --proof RC-2026-0042 --day 2026-05-20 --actor alice")
    sp.add_argument("learner")
    sp.add_argument("--credits", required=True)
    sp.add_argument("--title", required=True)
    sp.add_argument("--institution", required=True)
    sp.add_argument("--proof", required=True, help="reference of the proof (certificate no.)")
    sp.add_argument("--day", required=True, help="YYYY-MM-DD it was earned")
    sp.add_argument("--actor")
    sp = cmd(g, "list", do_external_list, "external credits, newest first")
    sp.add_argument("--status", choices=["pending", "approved", "rejected"])
    sp.add_argument("--learner")
    sp.add_argument("--limit", type=int, default=200)
    sp = cmd(g, "decide", do_external_decide, "approve or reject (not by who entered it)",
             "external decide 7 approve --actor bob")
    sp.add_argument("id", type=int)
    sp.add_argument("decision", choices=["approve", "reject"])
    sp.add_argument("--comment", default="")
    sp.add_argument("--actor")

    g = group("exchange", "exchange credits for services (points)")
    sp = cmd(g, "rate", do_rate, "show or set how many points one credit is worth",
             "exchange rate 10", json=True)
    sp.add_argument("points_per_credit", type=int, nargs="?")
    sp.add_argument("--actor")
    sp = cmd(g, "expiry", do_expiry, "show or set after how many months credits stop "
             "counting toward points ('off': never)", "exchange expiry 24", json=True)
    sp.add_argument("months", nargs="?")
    sp.add_argument("--actor")
    sp = cmd(g, "services", do_services, "the catalogue of services", json=True)
    sp.add_argument("--all", action="store_true", help="inactive ones too")
    sp = cmd(g, "add-service", do_add_service, "add a service to the catalogue",
             "exchange add-service swim --name 'Swimming lesson' --price 30")
    sp.add_argument("service")
    sp.add_argument("--name", required=True)
    sp.add_argument("--price", type=int, required=True, help="price in points")
    sp.add_argument("--category", default="")
    sp.add_argument("--actor")
    sp = cmd(g, "set-service", do_set_service, "change a service's price, name or status")
    sp.add_argument("service")
    sp.add_argument("--price", type=int)
    sp.add_argument("--name")
    sp.add_argument("--active", action="store_true")
    sp.add_argument("--inactive", action="store_true")
    sp.add_argument("--actor")
    sp = cmd(g, "account", do_account, "a learner's credits, points and redemptions")
    sp.add_argument("learner")
    sp.add_argument("--json", action="store_true")
    sp = cmd(g, "redeem", do_redeem, "redeem a service for a learner (idempotent by --key)",
             "exchange redeem L-000123 swim --key 2f4c1e9a-redeem-1")
    sp.add_argument("learner")
    sp.add_argument("service")
    sp.add_argument("--key", required=True, help="idempotency key: repeat it to retry safely")
    sp.add_argument("--comment", default="")
    sp.add_argument("--actor")
    sp = cmd(g, "reverse", do_reverse, "reverse a redemption by an explicit reversal entry",
             "exchange reverse 2f4c1e9a-redeem-1 --comment 'lesson cancelled'")
    sp.add_argument("key")
    sp.add_argument("--comment", required=True)
    sp.add_argument("--actor")

    g = group("review", "the integrity review queue (held credits) and decisions")
    sp = cmd(g, "queue", do_review_queue, "held credits with reasons and evidence",
             json=True)
    sp.add_argument("--limit", type=int, default=200)
    sp = cmd(g, "decide", do_review_decide, "approve or reject a held credit (audited)",
             "review decide L-000123 calligraphy-1 1780333200 reject --comment 'not present'")
    sp.add_argument("learner")
    sp.add_argument("activity")
    sp.add_argument("session_start", type=int)
    sp.add_argument("decision", choices=["approve", "reject"])
    sp.add_argument("--comment", default="")
    sp.add_argument("--actor")

    sp = cmd(sub, "audit", do_audit, "the credit bank's audit log, newest first",
             "audit --subject L-000123 --action 'exchange.*'", json=True)
    sp.add_argument("--subject")
    sp.add_argument("--action", help="e.g. review.* or exchange.redeem")
    sp.add_argument("--limit", type=int, default=100)

    sp = cmd(sub, "transcript", do_transcript, "export a learner's signed transcript",
             "transcript L-000123 --out L-000123.json")
    sp.add_argument("learner")
    sp.add_argument("--out", help="file (mode 0600); '-' or none prints it")
    sp.add_argument("--issuer-name", default="tapcert credit bank")
    sp = cmd(sub, "verify-transcript", do_verify_transcript, "verify a transcript offline: "
             "the issuer's signature and every embedded station record",
             "verify-transcript L-000123.json --issuer-key 9a…")
    sp.add_argument("file")
    sp.add_argument("--issuer-key", action="append",
                    help="trusted issuer public key (hex); repeatable")
    sp = cmd(sub, "export-xapi", do_export_xapi, "xAPI-style statements of a learner's "
             "activity records", "export-xapi L-000123 --out statements.json")
    sp.add_argument("learner")
    sp.add_argument("--out")
    sp.add_argument("--since")
    sp.add_argument("--until")
    sp.add_argument("--home-page", default="https://tapcert.example")
