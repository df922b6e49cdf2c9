"""`tapcert-provision up`: a station from a blank reader in one command, for the technician.

    tapcert-provision up S-0001 --port /dev/ttyACM0 --label R-0007 \\
        --broker mqtt.example.org:8883 --out /etc/tapcert        (--hub/--token from the env)

runs, in order, what docs/provisioning.md walks through by hand — each step the very handler
of its own command, with the same output and the same one-line errors:

    flash     the firmware installed with tapcert onto the reader
    enroll    the reader's key (made on the reader) registered at the hub, at this station
    station   the Pi's MQTT key, its certificate from the hub, the agent's config
    doctor    every check on the reader (a FAIL stops here)

A failed step says which it was and how to go on: fix it, then `--from STEP` skips the
steps already done (enroll and station refuse to run twice: they would re-key).
"""

from __future__ import annotations

import argparse
import os

from provisioning.errors import ProvisionError

STEPS = ("flash", "enroll", "station", "doctor")


def _step_args(args, step: str) -> argparse.Namespace:
    """The arguments the step's own command would have been given."""
    common = dict(hub=args.hub, token=args.token)
    if step == "flash":
        return argparse.Namespace(port=args.port, force=False, source=args.source,
                                  mpy_cross=None, timeout=20.0)
    if step == "enroll":
        return argparse.Namespace(port=args.port, station=args.station, label=args.label,
                                  offline_bundle=None, test_mode=False, rekey=False,
                                  language=args.language, timeout=20.0, **common)
    if step == "station":
        return argparse.Namespace(station=args.station, out=args.out, config=None,
                                  broker=args.broker, reader_port=args.reader_port,
                                  ca_dir=None, force=False,
                                  no_broker_check=args.no_broker_check, **common)
    return argparse.Namespace(port=args.port, source=args.source, json=False, **common)


def do_up(args, report) -> None:
    from provisioning import cli
    if not args.hub:
        raise ProvisionError("`up` needs the hub: --hub URL (or $TAPCERT_HUB) and a technician "
                             "token", "set TAPCERT_HUB and TAPCERT_TOKEN, or run the steps by "
                             "hand with --offline-bundle (docs/provisioning.md)")
    handlers = {"flash": cli.do_flash, "enroll": cli.do_enroll,
                "station": cli.do_station_create, "doctor": cli.do_doctor}
    todo = STEPS[STEPS.index(args.from_step):]
    for number, step in enumerate(todo, STEPS.index(args.from_step) + 1):
        report.step("step {} of {}: {} ...".format(number, len(STEPS), step))
        try:
            handlers[step](_step_args(args, step), report)
        except ProvisionError as exc:
            raise ProvisionError("step {} of {} ({}) failed: {}".format(
                number, len(STEPS), step, exc.message), "{}; then run `up` again with --from {}".format(
                    exc.fix or "fix it", step)) from exc
    report.summary("station {} is up: reader on {} flashed, enrolled{} and checked; agent "
                   "config in {} — start the agent: systemctl enable --now tapcert-agent".format(
                       args.station, args.port, " as " + args.label if args.label else "",
                       args.out))


def register(verbs, sub, hub_options) -> None:
    p = sub(verbs, "up", "bring a station up: flash + enroll + station certificate + doctor",
            "tapcert-provision up S-0001 --port /dev/ttyACM0 --label R-0007 "
            "--broker mqtt.example.org:8883 --out /etc/tapcert")
    p.add_argument("station", help="station id, e.g. S-0001 (registered at the hub)")
    p.add_argument("--port", required=True, help="the reader's serial port")
    p.add_argument("--label", default="", help="human label painted on the reader, e.g. R-0007")
    p.add_argument("--broker", default="127.0.0.1:8883", help="MQTT broker HOST:PORT (mTLS)")
    p.add_argument("--out", default="/etc/tapcert", help="directory for key, certificates, config")
    p.add_argument("--reader-port", action="append",
                   help="reader serial port or glob for the agent (repeatable)")
    p.add_argument("--source", default=os.environ.get("TAPCERT_FIRMWARE"),
                   help="tapcert checkout to flash instead of the installed firmware")
    p.add_argument("--language", choices=("zh", "en"), help="reader display language")
    p.add_argument("--no-broker-check", action="store_true",
                   help="do not try the new certificate against the broker")
    p.add_argument("--from", dest="from_step", choices=STEPS, default="flash",
                   help="start at this step (after fixing a failed one)")
    hub_options(p)
