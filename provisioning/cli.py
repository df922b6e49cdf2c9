"""tapcert-provision: the field technician's tool. One verb per job, one line per result.

    tapcert-provision flash   --port /dev/ttyACM0
    tapcert-provision enroll  --port /dev/ttyACM0 --station S-0001 --hub URL --token T
    tapcert-provision station create S-0001 --hub URL --token T --out /etc/tapcert
    tapcert-provision card    issue --learner L-123 --hub URL --token T
    tapcert-provision doctor  --port /dev/ttyACM0 --hub URL --token T
    tapcert-provision up S-0001 --port /dev/ttyACM0 --broker HOST:8883   (all four above)

A dispatch table of do_<verb> handlers (after mpremote); every handler raises ProvisionError
only, which main() prints as `tapcert-provision: <what happened>; <what to do>` on stderr
with exit status 1. --hub and --token default to $TAPCERT_HUB and $TAPCERT_TOKEN. Commands
that print data take --json; long work shows its rate and time left on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys

from protocol.host import clihabits, clitext
from provisioning import messages
from provisioning.errors import ProvisionError
from provisioning.ui import Reporter, human_bytes

PROG = "tapcert-provision"


def _hub(args):
    from provisioning.hubclient import HubClient
    return HubClient(args.hub, args.token, ca_file=getattr(args, "ca", None))


# -- flash -------------------------------------------------------------------------------------

def do_flash(args, report):
    from provisioning import flash
    result = flash.flash(args.port, report, source=args.source, force=args.force,
                         mpy_cross=args.mpy_cross, confirm_timeout=args.timeout,
                         over_frozen=getattr(args, "over_frozen", False))
    who = result.get("label") or result.get("rid") or args.port
    state = ("installed (no key yet: enroll it next)" if result.get("keyless")
             else "answering")
    if result.get("frozen"):
        state += ", modules frozen into the image"
    report.summary("flashed {}: firmware {} {}; {} of {} files written ({}), {} removed, "
                   "{} unchanged; {}; {:.1f} s".format(
                       who, result["fw"], state, result["written"], result["files"],
                       human_bytes(result["bytes"]), result["deleted"], result["unchanged"],
                       result["bytecode"], result["seconds"]))


# -- enroll ------------------------------------------------------------------------------------

def do_enroll(args, report):
    from provisioning import enroll
    if bool(args.hub) == bool(args.offline_bundle):
        raise ProvisionError("give either --hub (with --token) or --offline-bundle FILE",
                             "use --hub when the hub is reachable, --offline-bundle otherwise")
    hub = _hub(args) if args.hub else None
    try:
        result = enroll.enroll(args.port, args.station, report, hub=hub, label=args.label,
                               bundle=args.offline_bundle, test_mode=args.test_mode,
                               rekey=args.rekey, token=args.token, language=args.language,
                               confirm_timeout=args.timeout)
    finally:
        if hub is not None:
            hub.close()
    where = ("registered at the hub" if hub else "bundle {} written (import it at the hub)".format(
        args.offline_bundle))
    extra = ""
    if result.get("revoked"):
        extra = ("; old key {} revoked" if hub else "; the hub revokes old key {} on import").format(
            result["revoked"])
    report.summary("enrolled reader {} ({}) at station {}: {}{}{}".format(
        result["rid"], result["label"] or "no label", args.station, where, extra,
        "; TEST MODE (tap injection on)" if args.test_mode else ""))


# -- station -----------------------------------------------------------------------------------

def do_station(args, report):
    return STATION_COMMANDS[args.station_verb](args, report)


def do_station_create(args, report):
    from provisioning import station
    if bool(args.hub) == bool(args.ca_dir):
        raise ProvisionError("give either --hub (with --token) or --ca-dir",
                             "use --hub on the Pi; --ca-dir only on the hub machine itself")
    host, port = _host_port(args.broker)
    hub = _hub(args) if args.hub else None
    try:
        signer = station.HubSigner(hub) if hub else station.LocalSigner(args.ca_dir)
        result = station.create(args.station, args.out, signer, broker_host=host,
                                broker_port=port, config_path=args.config,
                                reader_ports=args.reader_port or None, force=args.force,
                                check_broker=not args.no_broker_check)
    finally:
        if hub is not None:
            hub.close()
    if result["broker"] == "unreachable":
        report.warn("broker {}:{} not reachable now: the identity is written; the agent will "
                    "connect when the network is up".format(host, port))
    report.summary("station {}: certificate serial {:x} valid until {}; agent config {}; "
                   "broker {}".format(result["station"], result["serial"],
                                      result["not_after"].strftime("%Y-%m-%d"), result["config"],
                                      {"ok": "accepted the certificate", "unreachable":
                                       "not reachable", "not tried": "not tried"}[result["broker"]]))


MOVED_TO_HUB = {   # the hub machine's commands, which moved to tapcert-hub (issue #17)
    "revoke": "tapcert-hub station revoke S-0001 [--ca-dir DIR]",
    "crl": "tapcert-hub station crl [--ca-dir DIR]",
    "broker": "tapcert-hub broker-config --out /etc/mosquitto/tapcert --host NAME",
}


def do_station_moved(args, report):
    raise ProvisionError("`station {}` runs on the hub machine and is a hub command now".format(
        args.station_verb), "run `{}` there".format(MOVED_TO_HUB[args.station_verb]))


def _host_port(text: str):
    host, sep, port = (text or "").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ProvisionError("--broker {!r} is not HOST:PORT".format(text),
                             "e.g. --broker hub.example.org:8883")
    return host, int(port)


STATION_COMMANDS = dict({"create": do_station_create},
                        **{verb: do_station_moved for verb in MOVED_TO_HUB})


# -- cards -------------------------------------------------------------------------------------

def do_card(args, report):
    return CARD_COMMANDS[args.card_verb](args, report)


def _desk(args):
    from provisioning.pcsc import DeskReader
    return DeskReader(args.reader)


def do_card_readers(args, report):
    names = _desk(args).readers()
    if args.json:
        clihabits.print_json(names)
        return
    for name in names:
        report.summary(name)


def do_card_issue(args, report):
    from provisioning import cards
    with _hub(args) as hub:
        result = cards.issue(_desk(args), hub, args.learner, report, wait=args.wait)
    report.summary("card {} issued to learner {}".format(result["uid"], result["learner"]))


def do_card_read(args, report):
    from provisioning import cards
    if not args.hub:
        reader, uid = _desk(args).read_uid(wait=args.wait, on_wait=cards._wait_note(report))
        if args.json:
            clihabits.print_json({"uid": uid.hex(), "reader": reader})
            return
        report.summary("card {} on {} (give --hub and --token to see its learner and "
                       "balance)".format(uid.hex(), reader))
        return
    with _hub(args) as hub:
        result = cards.read(_desk(args), hub, report, wait=args.wait)
    if args.json:
        clihabits.print_json(result)
        return
    if not result["registered"]:
        report.summary("card {}: not registered (issue it with `card issue --learner ID`)".format(
            result["uid"]))
        return
    balance = result["balance"]
    report.summary("card {}: learner {}, card {}, balance {}".format(
        result["uid"], result["learner"], result["status"],
        "unknown" if balance is None else "{:g} credits".format(balance)))


def do_card_block(args, report):
    from provisioning import cards
    with _hub(args) as hub:
        result = cards.block(_desk(args), hub, report, uid_text=args.uid, wait=args.wait)
    report.summary("card {} blocked (reported {}; learner {}); stations receive the blocked list "
                   "on their next sync".format(result["uid"], result["status"],
                                               result["learner"] or "?"))


CARD_COMMANDS = {"readers": do_card_readers, "issue": do_card_issue, "read": do_card_read,
                 "block": do_card_block}


# -- doctor ------------------------------------------------------------------------------------

def do_doctor(args, report):
    from provisioning import doctor
    hub = _hub(args) if args.hub else None
    try:
        lines = doctor.run(args.port, hub=hub, source=args.source)
    finally:
        if hub is not None:
            hub.close()
    if args.json:
        clihabits.print_json([{"status": line.status, "check": line.check, "detail": line.detail,
                               "fix": line.fix} for line in lines])
    else:
        say = report.say
        for line in lines:   # each part translated alone: the columns stay columns
            report.summary(doctor.Line(say(line.status), say(line.check), say(line.detail),
                                       say(line.fix)).render())
    failed = [line for line in lines if line.status == "FAIL"]
    if failed:
        raise ProvisionError("{} check{} failed on {}".format(
            len(failed), "" if len(failed) == 1 else "s", args.port),
            "apply the fixes above and run doctor again")


def do_bundle(args, report):
    from provisioning import fwbundle_cli
    fwbundle_cli.run(args, report)


def do_up(args, report):
    from provisioning import bringup
    bringup.do_up(args, report)


COMMANDS = {"flash": do_flash, "enroll": do_enroll, "station": do_station, "card": do_card,
            "doctor": do_doctor, "bundle": do_bundle, "up": do_up}


# -- arguments ---------------------------------------------------------------------------------

def _hub_options(parser):
    parser.add_argument("--hub", help="hub API URL (default $TAPCERT_HUB)")
    parser.add_argument("--ca", default=os.environ.get("TAPCERT_HUB_CA"),
                        help="the hub's CA file (ca.crt) to verify its HTTPS certificate "
                             "(default $TAPCERT_HUB_CA)")
    parser.add_argument("--token", default=os.environ.get("TAPCERT_TOKEN"),
                        help="technician token (default $TAPCERT_TOKEN)")


def _sub(subparsers, name, help, example):
    return subparsers.add_parser(name, help=help, description=help, epilog="example: " + example,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog="docs/provisioning.md walks through a whole station")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    parser.add_argument("--version", action="version", version="%(prog)s " + clihabits.version())
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(verbs, "flash", "compile the firmware for the reader's MicroPython and install it",
             "tapcert-provision flash --port /dev/ttyACM0")
    p.add_argument("--port", required=True, help="the reader's serial port")
    p.add_argument("--force", action="store_true",
                   help="flash even if the journal holds records the hub has not committed")
    p.add_argument("--source", default=os.environ.get("TAPCERT_FIRMWARE"),
                   help="tapcert checkout to take firmware/ and protocol/ from "
                        "(default $TAPCERT_FIRMWARE, else the firmware installed with tapcert)")
    p.add_argument("--mpy-cross", help="mpy-cross binary (default: the one matching the board)")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds to wait for the new firmware to answer (default 20)")
    p.add_argument("--over-frozen", action="store_true",
                   help="on a board whose image has the firmware frozen in, install .mpy files "
                        "anyway (they are loaded instead of the frozen modules and cost heap); "
                        "without it only /main.py is installed there")

    p = _sub(verbs, "enroll", "give the reader its key (made on the reader) and register it",
             "tapcert-provision enroll --port /dev/ttyACM0 --station S-0001 --label R-0007 "
             "--hub https://hub:8470 --token tch_...")
    p.add_argument("--port", required=True, help="the reader's serial port")
    p.add_argument("--station", required=True, help="station id, e.g. S-0001")
    p.add_argument("--label", default="", help="human label painted on the reader, e.g. R-0007")
    _hub_options(p)
    p.add_argument("--offline-bundle", metavar="FILE",
                   help="no network: write an enrollment bundle for `tapcert-hub import-enrollment`")
    p.add_argument("--test-mode", action="store_true",
                   help="bench readers only: allow tap injection over the link")
    p.add_argument("--rekey", action="store_true",
                   help="the reader has a key already: make a new one and revoke the old one")
    p.add_argument("--language", choices=("zh", "en"),
                   help="display text: zh (Chinese, the firmware's default) or en; default: keep")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds to wait for the firmware to answer after enrolling (default 20)")

    p = _sub(verbs, "station", "a station's MQTT identity (key on the Pi, certificate from the hub)",
             "tapcert-provision station create S-0001 --hub https://hub:8470 --token tch_... "
             "--broker hub.example.org:8883 --out /etc/tapcert")
    station_verbs = p.add_subparsers(dest="station_verb", required=True, metavar="VERB")
    q = _sub(station_verbs, "create", "make the key, get the certificate, write the agent config",
             "tapcert-provision station create S-0001 --hub https://hub:8470 --token tch_... "
             "--broker hub.example.org:8883 --out /etc/tapcert")
    q.add_argument("station", help="station id, e.g. S-0001")
    q.add_argument("--out", default="/etc/tapcert", help="directory for key, certificates, config")
    q.add_argument("--config", help="agent config file (default OUT/agent.toml)")
    q.add_argument("--broker", default="127.0.0.1:8883", help="MQTT broker HOST:PORT (mTLS)")
    q.add_argument("--reader-port", action="append",
                   help="reader serial port or glob for the agent (repeatable)")
    _hub_options(q)
    q.add_argument("--ca-dir", help="on the hub machine: sign with the fleet CA directory "
                   "(runs `tapcert-hub station sign-csr`)")
    q.add_argument("--force", action="store_true", help="replace an existing identity")
    q.add_argument("--no-broker-check", action="store_true",
                   help="do not try the new certificate against the broker")
    for verb in MOVED_TO_HUB:
        station_verbs.add_parser(verb, add_help=False)   # says where it went (any arguments)

    p = _sub(verbs, "card", "learner cards on the desk's USB PC/SC reader",
             "tapcert-provision card issue --learner L-000123")
    card_verbs = p.add_subparsers(dest="card_verb", required=True, metavar="VERB")
    for name, help, example in (
            ("readers", "list the PC/SC readers", "tapcert-provision card readers"),
            ("issue", "register the card on the reader to a learner",
             "tapcert-provision card issue --learner L-000123"),
            ("read", "show the learner and balance of the card on the reader",
             "tapcert-provision card read"),
            ("block", "block a lost card (by UID, or the card on the reader)",
             "tapcert-provision card block 04A1B2C3D4E5F6")):
        q = _sub(card_verbs, name, help, example)
        q.add_argument("--reader", help="PC/SC reader name (a part of it is enough)")
        q.add_argument("--wait", type=float, default=10.0,
                       help="seconds to wait for a card (default 10)")
        if name != "readers":
            _hub_options(q)
        if name in ("readers", "read"):
            q.add_argument("--json", action="store_true", help="machine-readable output (JSON)")
        if name == "issue":
            q.add_argument("--learner", required=True, help="the learner's id at the hub")
        if name == "block":
            q.add_argument("uid", nargs="?", help="card UID in hex (default: the card on the reader)")

    p = _sub(verbs, "doctor", "check a reader: firmware, key, clock, journal, link",
             "tapcert-provision doctor --port /dev/ttyACM0")
    p.add_argument("--port", required=True, help="the reader's serial port")
    p.add_argument("--source", default=os.environ.get("TAPCERT_FIRMWARE"),
                   help="tapcert checkout whose firmware version is expected "
                        "(default $TAPCERT_FIRMWARE, else the firmware installed with tapcert)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output: one object per check (JSON)")
    _hub_options(p)

    from provisioning import fwbundle_cli
    fwbundle_cli.register(verbs, _sub)
    from provisioning import bringup
    bringup.register(verbs, _sub, _hub_options)
    return parser


def _env_defaults(args) -> None:
    # $TAPCERT_HUB stands in for --hub unless the command was told to work without the hub
    if getattr(args, "hub", "absent") is None and not (getattr(args, "offline_bundle", None)
                                                       or getattr(args, "ca_dir", None)):
        args.hub = os.environ.get("TAPCERT_HUB") or None


def main(argv=None) -> int:
    return clihabits.run(_main, argv)


def _main(argv) -> int:
    lang, argv = clitext.choose(list(sys.argv[1:] if argv is None else argv))
    words = messages.catalogue(lang)
    with words.argparse_words():
        parser = build_parser()
        clitext.option(parser, lang)
        words.localise_parser(parser)
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "station_verb", None) not in MOVED_TO_HUB:
            parser.error(argparse._("unrecognized arguments: %s") % " ".join(extra))
    _env_defaults(args)
    report = Reporter(quiet=args.quiet, say=words.translate)
    try:
        COMMANDS[args.command](args, report)
    except ProvisionError as exc:
        report.clear()
        print("{}: {}".format(PROG, _error_text(exc, words)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        report.clear()
        print("{}: {}".format(PROG, words.translate(
            "interrupted; run the same command again to finish")), file=sys.stderr)
        return 1
    return 0


def _error_text(exc, words) -> str:
    """What happened; what to do: each half in the technician's language."""
    if words.lang == "en" or not isinstance(getattr(exc, "message", None), str):
        return str(exc)
    text = words.translate(exc.message)
    return text + ("；" + words.translate(exc.fix) if exc.fix else "")


if __name__ == "__main__":
    sys.exit(main())
