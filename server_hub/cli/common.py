"""Helpers every tapcert-hub command module shares: the command context (config, store,
registry, pipeline opened on first use), the error-prefix name, and argument/printing helpers.
Command modules import these; they never import each other."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os

from server_hub import config as hubconfig
from protocol.host import clihabits as habits
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
            from server_hub.config import ca_dir
            from server_hub.store.db import open_store
            self._store = open_store(self.cfg.hub.db, migrate=migrate)
            self._store.secrets_dir = ca_dir(self.cfg)   # bundle MAC keys (bundlekeys.py)
        return self._store

    @property
    def pipeline(self):
        if self._pipeline is None:
            from server_hub.ingest.pipeline import Pipeline
            self._pipeline = Pipeline(self.store(), self.cfg)
        return self._pipeline

    @property
    def registry(self):
        if self._registry is None:
            from server_hub.registry.registry import Registry
            self._registry = Registry(self.store(), self.pipeline)
        return self._registry

    def close(self):
        if self._store is not None:
            self._store.close()

    def json(self, data) -> bool:
        """With --json: print `data` as JSON and return True (the caller prints nothing else)."""
        if getattr(self.args, "json", False):
            habits.print_json(data)
            return True
        return False

    def show(self, rows, columns) -> None:
        """A listing: a table for people, every field of every row with --json."""
        if getattr(self.args, "json", False):
            habits.print_json(rows)
        else:
            print(table(rows, columns))

    def when(self, t) -> str:
        if t is None:
            return "-"
        return dt.datetime.fromtimestamp(float(t), self.cfg.tz).strftime("%Y-%m-%d %H:%M:%S")


def table(rows, columns) -> str:
    if not rows:
        return "(none)"
    cells = [[str(c) for c in columns]] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and v > 1e9:
        return dt.datetime.fromtimestamp(v).strftime("%Y-%m-%d %H:%M")
    return str(v)


def write_secret(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text + "\n")


def json_arg(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise HubError(f"--{what} is not valid JSON ({exc}); example: "
                       "'{\"type\": \"fixed\", \"credits\": 1}'") from None


def time_arg(text: str, tz) -> int:
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


def print_table(rows, columns) -> None:
    print(table(rows, columns))


def actor(ctx) -> str:
    """Who the audit log records for a CLI decision: --actor, else cli:<login name>."""
    if getattr(ctx.args, "actor", None):
        return ctx.args.actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:   # noqa: BLE001 - no user name in this environment
        return "cli"
