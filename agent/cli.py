"""tapcert-agent: the station agent's command line (a dispatch table of do_<verb> handlers).

    tapcert-agent run [--config FILE]           run the agent (what the systemd unit does)
    tapcert-agent status [--config FILE]        what the station is doing, for staff
    tapcert-agent quarantine [--config FILE]    records the hub refused, with its reasons
    tapcert-agent show-config [--config FILE]   the effective configuration, every key

Errors are printed as `tapcert-agent: message` on stderr with exit status 1. Commands that
print data take --json; a closed pipe (`tapcert-agent status | head -1`) ends quietly.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time

from agent import config as configmod
from agent.errors import AgentError
from agent import messages
from protocol.host import clihabits, clitext

PROG = "tapcert-agent"


def _load(args):
    return configmod.load(args.config)


def do_run(args):
    from agent import logs
    from agent.service import Service
    cfg = _load(args)
    logs.setup(cfg.status.log_level, cfg.status.log_format)
    Service(cfg).run()
    return 0


def do_status(args):
    from agent import drain, status
    cfg = _load(args)
    now = time.time()
    snapshot = status.read_status(cfg.status_path())
    try:
        counts = status.queue_counts(cfg.queue.path)
        est = None if counts is None else drain.estimate(
            counts["pending"] + counts["inflight"], drain.recent_acks(cfg.queue.path, time.time()))
    except sqlite3.Error as exc:
        raise AgentError("cannot read the queue {}: {}".format(cfg.queue.path, exc)) from exc
    if args.json:
        clihabits.print_json({"headline": status.headline(snapshot, counts, now),
                              "status": snapshot, "queue": counts, "drain": est})
    else:
        text = status.render(snapshot, counts, now, cfg.queue.path)
        if est is not None and est["waiting"]:  # under the queue line
            at = text.find("\nReaders:")
            text = text[:at] + "\nDrain:    " + drain.describe(est) + text[at:]
        print(args.words.translate_text(text))
    return 0 if status.is_running(snapshot, now) else 3


def do_quarantine(args):
    cfg = _load(args)
    try:
        conn = sqlite3.connect("file:{}?mode=ro".format(cfg.queue.path), uri=True, timeout=5)
        rows = conn.execute("SELECT reader_id, seq, reason, batch_id, at FROM quarantine "
                            "ORDER BY at DESC LIMIT ?", (args.limit,)).fetchall()
        conn.close()
    except sqlite3.Error as exc:
        raise AgentError("cannot read the queue {}: {}".format(cfg.queue.path, exc)) from exc
    if args.json:
        clihabits.print_json([{"at": at, "reader": bytes(rid).hex(), "seq": seq, "reason": reason,
                               "batch": batch} for rid, seq, reason, batch, at in rows])
        return 0
    say = args.words.translate
    if not rows:
        print(say("no quarantined records"))
        return 0
    print("{:<19} {:<16} {:>10}  {}".format(say("when"), say("reader"), say("seq"),
                                           say("hub's reason")))
    for rid, seq, reason, _batch, at in rows:
        print("{:<19} {:<16} {:>10}  {}".format(
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)), bytes(rid).hex(), seq, reason))
    return 0


def do_show_config(args):
    cfg = _load(args)
    if args.json:
        out = {}
        for section, key, _default, _meaning in configmod.SCHEMA:
            value = getattr(getattr(cfg, section), key) if section else getattr(cfg, key)
            if section == "mqtt" and key == "password" and value:
                value = "********"
            (out.setdefault(section, {}) if section else out)[key] = value
        clihabits.print_json(out)
        return 0
    print(args.words.translate("# effective configuration{}".format(
        " from " + str(cfg.source) if cfg.source else " (defaults + environment)")))
    print(configmod.to_toml(cfg), end="")
    return 0


def do_inject(args):
    from agent.control import request
    from agent.service import control_socket_path
    cfg = _load(args)
    path = control_socket_path(cfg)
    try:
        answer = request(path, {"cmd": "inject", "reader": args.reader, "uid": args.uid,
                                "kind": args.kind})
    except OSError as exc:
        raise AgentError("cannot reach the running agent at {} ({}): is `tapcert-agent run` "
                         "running with this config?".format(path, exc)) from exc
    if not answer.get("ok"):
        raise AgentError(answer.get("error", "the agent refused"))
    print("{} #{}".format(answer["event"], answer["seq"]) if answer.get("seq") is not None
          else answer["event"])
    return 0


COMMANDS = {
    "run": (do_run, "run the agent in the foreground (systemd runs this)",
            "example: tapcert-agent run --config /etc/tapcert/agent.toml"),
    "status": (do_status, "show readers, queue and sync state (exit 3 if the agent is not running)",
               "example: tapcert-agent status --config /etc/tapcert/agent.toml"),
    "quarantine": (do_quarantine, "list records the hub refused, newest first",
                   "example: tapcert-agent quarantine --limit 20"),
    "show-config": (do_show_config, "print the effective configuration with every key",
                    "example: TAPCERT_AGENT_MQTT_HOST=10.0.0.5 tapcert-agent show-config"),
    "inject": (do_inject, "bench only: tap a card on a test-mode reader through the running agent",
               "example: tapcert-agent inject --reader R-0007 --uid 04a1b2c3d4e5f6"),
}


def parser():
    p = argparse.ArgumentParser(prog=PROG, description="tapcert station agent: readers -> queue -> hub",
                                epilog="example: tapcert-agent status --config /etc/tapcert/agent.toml")
    p.add_argument("--version", action="version", version="%(prog)s " + clihabits.version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_fn, help_text, example) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text, epilog=example)
        sp.add_argument("--config", metavar="FILE", default=None,
                        help="TOML config file (default {} if it exists)".format(configmod.DEFAULT_PATH))
        if name in ("status", "quarantine", "show-config"):
            sp.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
        if name == "inject":
            sp.add_argument("--reader", required=True, help="reader id (hex) or label")
            sp.add_argument("--uid", required=True, help="card UID in hex (4, 7 or 10 bytes)")
            sp.add_argument("--kind", type=int, default=1, help="1 tap, 2 check-in, 3 check-out")
        if name == "quarantine":
            sp.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    return p


def main(argv=None):
    return clihabits.run(_main, argv)


def _main(argv):
    lang, argv = clitext.choose(list(sys.argv[1:] if argv is None else argv))
    words = messages.catalogue(lang)
    with words.argparse_words():
        p = parser()
        clitext.option(p, lang)
        words.localise_parser(p)
        args = p.parse_args(argv)
        if args.command is None:
            p.print_help()
            return 1
    args.words = words
    handler = COMMANDS[args.command][0]
    try:
        return handler(args)
    except AgentError as exc:
        print("{}: {}".format(PROG, words.translate(str(exc))), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
