"""`tapcert-hub learner import FILE.csv` and `card import FILE.csv`: many at once, hostile rows
refused one by one.

    learner import learners.csv [--dry-run]      columns: id, name, type, organisation
                                                 (type: creditbank/learnertype.py's codes,
                                                 organisation: an organisation's id; both
                                                 optional, empty = none)
    card import cards.csv [--dry-run]            columns: uid, learner

Every row is checked (fields, duplicates in the file, what the hub has already); a bad row is
reported with its line number and reason and the others go in, each in its own transaction,
so a file can be fixed and imported again (rows already there are reported, not doubled).
--dry-run checks everything and writes nothing. Progress goes to stderr; the exit status is 1
if any row was refused. The file is UTF-8 (an Excel BOM is fine), at most MAX_ROWS rows.
"""

from __future__ import annotations

import csv
import io
import sys
import time

from protocol.host import clihabits as habits
from server_hub.cli.common import actor
from server_hub.creditbank import learnertype, organisations
from server_hub.errors import HubError, NotFound, RegistryError

MAX_ROWS = 200_000
MAX_BYTES = 64 * 1024 * 1024
PROGRESS_EVERY_S = 2.0
KINDS = {"learner": (("id",), ("name", "type", "organisation")), "card": (("uid", "learner"), ())}


def read_rows(path: str, kind: str) -> list[tuple[int, dict]]:
    """[(line number, {column: value})]; a file that is not CSV with the columns raises."""
    required, optional = KINDS[kind]
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise HubError(f"cannot read {path} ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise HubError(f"{path} is larger than {MAX_BYTES // 2**20} MiB: split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise HubError(f"{path} line {line} is not UTF-8: save the file as CSV UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise HubError(f"{path} needs a header line with the columns {', '.join(required + optional)}"
                       f" (missing: {', '.join(missing)}); e.g. `{','.join(required + optional)}`")
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise HubError(f"{path} has more than {MAX_ROWS:,} rows: split it")
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()
                                           if k in required + optional}))
    except csv.Error as exc:
        raise HubError(f"{path} line {reader.line_num} is not valid CSV ({exc})") from None
    return rows


class Progress:
    """`imported 500 of 2,000 rows (25%), 240 rows/s, about 6 s left` every few seconds."""

    def __init__(self, total, verb, out=sys.stderr, clock=time.monotonic):
        self.total, self.verb, self.out, self.clock = total, verb, out, clock
        self.started = clock()
        self.next = self.started + PROGRESS_EVERY_S

    def update(self, done):
        now = self.clock()
        if now < self.next or done >= self.total:
            return
        self.next = now + PROGRESS_EVERY_S
        rate = done / max(now - self.started, 1e-9)
        left = (self.total - done) / rate if rate else 0
        print(f"{self.verb} {done:,} of {self.total:,} rows ({100 * done // self.total}%), "
              f"{rate:,.0f} rows/s, about {left:.0f} s left", file=self.out, flush=True)


def _check_learner(ctx, row, seen):
    lid = row["id"]
    if not lid or len(lid) > 64:
        return "learner id must be 1-64 characters"
    if len(row.get("name", "")) > 200:
        return "name longer than 200 characters"
    if lid in seen:
        return f"learner {lid} appears twice in the file (line {seen[lid]})"
    try:
        learnertype.check(row.get("type", ""))
    except RegistryError as exc:
        return str(exc)
    org = row.get("organisation", "")
    if org:
        problem = organisations.check_exists(ctx.store(), org)
        if problem:
            return problem
    try:
        ctx.registry.learner(lid)
        return f"learner {lid} exists already"
    except NotFound:
        return None


def _check_card(ctx, row, seen):
    from protocol import record as rec
    try:
        uid = bytes.fromhex(row["uid"])
    except ValueError:
        return f"uid {row['uid'][:40]!r} is not hex"
    if len(uid) not in rec.UID_LENGTHS:
        return f"uid {row['uid'][:40]} has {len(uid)} bytes (a card UID has 4, 7 or 10)"
    if uid.hex() in seen:
        return f"card {uid.hex()} appears twice in the file (line {seen[uid.hex()]})"
    try:
        ctx.registry.card(uid.hex())
        return f"card {uid.hex()} is registered already"
    except NotFound:
        pass
    try:
        ctx.registry.learner(row["learner"])
    except NotFound:
        return f"learner {row['learner'][:64]!r} is not registered (import the learners first)"
    return None


def run_import(ctx, kind):
    a = ctx.args
    home = getattr(a, "station", None)
    if home:
        ctx.registry.station(home)       # an unknown home station: refused before any row
    rows = read_rows(a.file, kind)
    check = _check_learner if kind == "learner" else _check_card
    key = "id" if kind == "learner" else "uid"
    errors, seen, done = [], {}, 0
    progress = Progress(len(rows), "checked" if a.dry_run else "imported")
    for i, (line, row) in enumerate(rows, 1):
        problem = check(ctx, row, seen)
        seen.setdefault(row[key].lower() if kind == "card" else row[key], line)
        if problem is None and not a.dry_run:
            try:
                if kind == "learner":
                    learnertype.open_account(ctx.registry, row["id"], row.get("name", ""),
                                             home, row.get("type") or None)
                    if row.get("organisation"):
                        organisations.enrol(ctx.store(), row["organisation"], [row["id"]],
                                            {"name": actor(ctx), "role": "admin"})
                else:
                    ctx.registry.add_card(row["uid"], row["learner"])
            except HubError as exc:   # raced, or refused by the registry: this row only
                problem = str(exc)
        if problem is None:
            done += 1
        else:
            errors.append({"line": line, "error": problem})
        progress.update(i)
    if a.json:
        habits.print_json({"file": a.file, "dry_run": a.dry_run, "rows": len(rows),
                           "ok": done, "errors": errors})
    else:
        for e in errors:
            print(f"line {e['line']}: {e['error']}")
        verb = "would import" if a.dry_run else "imported"
        print(f"{a.file}: {verb} {done} {kind}{'' if done == 1 else 's'}, "
              f"{len(errors)} row{'' if len(errors) == 1 else 's'} refused"
              + (" (nothing written: --dry-run)" if a.dry_run else ""))
    return 1 if errors else 0


def do_learner_import(ctx):
    return run_import(ctx, "learner")


def do_card_import(ctx):
    return run_import(ctx, "card")


def install(cmd, learner_group, card_group) -> None:
    for group, kind, handler, columns in ((learner_group, "learner", do_learner_import,
                                           "id,name,type,organisation"),
                                          (card_group, "card", do_card_import, "uid,learner")):
        sp = cmd(group, "import", handler, f"add {kind}s from a CSV file ({columns}); bad rows "
                 "are reported by line, the others imported", f"{kind} import {kind}s.csv --dry-run")
        sp.add_argument("file", help=f"CSV file, UTF-8, header line `{columns}`")
        sp.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        sp.add_argument("--json", action="store_true", help="the report as JSON")
        if kind == "learner":
            sp.add_argument("--station", help="the accounts' home station (its station "
                            "administrators serve them); default none: the district's only")
