"""tapcert-hub: the hub's command line (mpremote style: a dispatch table of do_<verb> handlers,
one error type caught in main(), printed as `tapcert-hub: message`, exit status 1). The
handlers live in the modules beside this one; their shared helpers in common.py.

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
hub's administrator); the HTTP API is for everyone else and needs a token. Every command that
prints data (every `list` and `show`, status, sync, show-config, statement, …) takes --json; a closed pipe ends a command quietly (protocol/host/clihabits.py).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from protocol.host import clihabits as habits
from protocol.host import clitext
from server_hub.cli import (accounts, bank, bank_admin, fleet, hub, messages, ops, orgs,
                            registry, rewards)
from server_hub.cli.common import PROG, Context
from server_hub.errors import HubError

# The dispatch table: each module adds its commands (do_<verb> handlers) in this order.
INSTALLS = (hub.install, registry.install, accounts.install, ops.install, fleet.install,
            bank.install, bank_admin.install, rewards.install, orgs.install)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="tapcert hub: verify, credit, "
                                "acknowledge; registry and accounts.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="example: tapcert-hub learner show L-000123")
    p.add_argument("--config", help="TOML config file (default $TAPCERT_HUB_CONFIG)")
    p.add_argument("--db", help="database URL, e.g. sqlite:////var/lib/tapcert/hub.db or "
                                "postgresql+psycopg://tapcert@db/tapcert")
    p.add_argument("--version", action="version", version="%(prog)s " + habits.version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(parent, name, handler, help_text, example=None, json=False):
        sp = parent.add_parser(name, help=help_text, description=help_text,
                               epilog=f"example: {example}" if example else None)
        sp.set_defaults(handler=handler)
        if name == "list" or json:      # json=True: a command that prints data (ctx.json)
            sp.add_argument("--json", action="store_true", help="every field as JSON")
        return sp

    def group(name, help_text):
        g = sub.add_parser(name, help=help_text)
        gs = g.add_subparsers(dest="verb", metavar="VERB")
        g.set_defaults(handler=None, group=g)
        return gs

    for install in INSTALLS:
        install(sub, cmd, group)
    return p


def _station_shortcut(argv: list[str]) -> list[str]:
    """`tapcert-hub [--config F] station S-0001` means `station show S-0001`."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if "=" in argv[i] or argv[i] in ("-h", "--help") else 2
    if i + 1 < len(argv) and argv[i] == "station" and not argv[i + 1].startswith("-") \
            and argv[i + 1] not in ("add", "list", "show", "revoke", "crl", "sign-csr"):
        argv.insert(i + 1, "show")
    return argv


def main(argv=None) -> int:
    return habits.run(_main, argv)


def _main(argv) -> int:
    lang, argv = clitext.choose(list(sys.argv[1:] if argv is None else argv))
    words = messages.catalogue(lang)
    with words.argparse_words():
        parser = build_parser()
        clitext.option(parser, lang)
        words.localise_parser(parser)
        args = parser.parse_args(_station_shortcut(argv))
        handler = getattr(args, "handler", None)
        if handler is None:
            (getattr(args, "group", None) or parser).print_help(sys.stderr)
            return 2
    ctx = None
    # people's lines in their language; --json stays byte for byte what programs read
    shown = contextlib.nullcontext() if getattr(args, "json", False) else words.stdout()
    try:
        ctx = Context(args)
        with shown:
            return handler(ctx) or 0
    except HubError as exc:
        print(f"{PROG}: {words.translate(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if ctx is not None:
            ctx.close()


if __name__ == "__main__":
    sys.exit(main())
