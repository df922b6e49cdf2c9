"""Apply a verified firmware bundle to one reader on this station (the I/O around updatestate).

    job = apply_bundle("/dev/ttyACM0", bundle_bytes, trusted=[release_pub],
                       unsynced=lambda: reader_state.unsynced,      # the agent's view
                       pause=lambda: port.stop(), resume=lambda: port.start(),
                       on_state=publish)                             # every transition
    job.state   # done | rolled_back | failed | waiting_for_sync (sync_timeout passed)

1. verify the bundle (signature, blobs) — a refusal is `failed` with the reason;
2. wait until the reader's journal is fully hub-committed (`unsynced` == 0) or the
   maintenance window is open; give up after `sync_timeout` leaving the job waiting;
3. pause the reader's link (the agent releases the serial port), enter the raw REPL, pick the
   bundle's build for the board's kind and bytecode, stage/back up/swap (protocol/host/fwapply.py);
4. soft-reset and wait `health_timeout` for an H frame with the new version and a reader id;
   otherwise roll back to the previous version, reset, and report `rolled_back`;
5. resume the link, whatever happened.

CLI (what the interruption tests kill): python -m agent.update apply --port P --bundle FILE
--trust HEX [--health-timeout S]; prints the final job as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from protocol import fwbundle
from protocol import updatestate as us
from protocol.host import fwapply
from protocol.host.board import Board, BoardError
from protocol.host.fwfiles import count_at_risk


def board_unsynced(port, board_factory=Board):
    """The reader's own unsynced count from its H frame (None if it did not answer)."""
    try:
        with board_factory(port) as board:
            return count_at_risk(board.health(timeout=3.0))
    except BoardError:
        return None


def apply_bundle(port, data, trusted, *, job=None, unsynced=None, window=None, sync_timeout=None,
                 poll_s=1.0, health_timeout=20.0, pause=None, resume=None, on_state=None,
                 board_factory=Board, clock=time, minute_of_day=None, allow_downgrade=False):
    # allow_downgrade: the offer's admin override (SPEC §4.7); without it an older version
    # than the reader's is refused (protocol/fwpolicy.py, in fwapply.stage)
    notify = on_state or (lambda job: None)

    def move(state, reason=None):
        job.to(state, reason)
        notify(job)

    try:
        doc = fwbundle.verify(data, trusted)
    except fwbundle.BundleRefused as exc:
        job = job or us.UpdateJob(None, None)
        move(us.FAILED, "{}: {}".format(exc.reason, exc))
        return job
    fw = doc["manifest"]["fw"]
    job = job or us.UpdateJob(None, fw)
    job.fw = fw
    probe = unsynced or (lambda: board_unsynced(port, board_factory))
    started = clock.monotonic()
    while True:
        count = probe()
        minute = minute_of_day() if minute_of_day else _minute_now(clock)
        if us.may_apply(count, window, minute):
            break
        if job.state != us.WAITING or job.reason != _waiting(count):
            move(us.WAITING, _waiting(count))
        if sync_timeout is not None and clock.monotonic() - started >= sync_timeout:
            return job
        clock.sleep(poll_s)
    if job.state != us.WAITING:
        move(us.WAITING, None)
    if pause:
        pause()
    try:
        move(us.APPLYING)
        _apply(port, doc, job, move, health_timeout, board_factory, allow_downgrade)
    finally:
        if resume:
            resume()
    return job


def _waiting(count):
    if count is None:
        return "the reader does not report its unsynced records"
    return "{} record{} not yet committed by the hub".format(count, "" if count == 1 else "s")


def _minute_now(clock):
    t = time.localtime(clock.time())
    return t.tm_hour * 60 + t.tm_min


def _apply(port, doc, job, move, health_timeout, board_factory, allow_downgrade=False):
    intent = None
    try:
        with board_factory(port) as board:
            board.enter()
            info = board.identify()
            try:
                build = fwbundle.select(doc, info.get("platform"), info.get("mpy") or 0)
            except fwbundle.BundleRefused as exc:
                fwapply.recover(board)
                move(us.FAILED, "{}: {}".format(exc.reason, exc))
                return
            intent = fwapply.stage(board, build["images"], build["fw"], build,
                                   allow_downgrade=allow_downgrade)
            fwapply.swap(board, intent)
            move(us.VERIFYING)
            board.run_main()
            fwapply.checkpoint("reset")
            answer = board.health(timeout=health_timeout)
            if answer and answer.get("fw") == build["fw"] and answer.get("rid"):
                move(us.DONE)
                return
            said = ("no answer" if answer is None else
                    "it answered with firmware {!r}{}".format(
                        answer.get("fw"), ", error: " + answer["err"] if answer.get("err") else ""))
            board.enter()
            fwapply.rollback(board, intent)
            board.run_main()
            again = board.health(timeout=health_timeout)
            back = again.get("fw") if again else None
            move(us.ROLLED_BACK, "not healthy within {:.0f} s after the update ({}); previous "
                 "version {} restored{}".format(health_timeout, said, intent.get("old_fw"),
                                                "" if back else " but not answering yet"))
    except BoardError as exc:
        if job.state == us.APPLYING and intent is None:
            move(us.FAILED, "{} (the reader still has its previous version)".format(exc))
        elif not job.final:
            move(us.FAILED, "{} (the swap completes or is undone at the reader's next boot)".format(exc))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m agent.update")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("apply", help="apply a firmware bundle to the reader on PORT")
    a.add_argument("--port", required=True)
    a.add_argument("--bundle", required=True)
    a.add_argument("--trust", action="append", required=True, help="release public key (hex)")
    a.add_argument("--health-timeout", type=float, default=20.0)
    a.add_argument("--sync-timeout", type=float, default=None)
    args = p.parse_args(argv)
    with open(args.bundle, "rb") as f:
        data = f.read()
    trusted = [fwbundle.public_hex(t) for t in args.trust]
    job = apply_bundle(args.port, data, trusted, health_timeout=args.health_timeout,
                       sync_timeout=args.sync_timeout,
                       on_state=lambda j: print(json.dumps(j.as_dict()), flush=True))
    print(json.dumps(job.as_dict()), flush=True)
    return 0 if job.state == us.DONE else 1


if __name__ == "__main__":
    sys.exit(main())
