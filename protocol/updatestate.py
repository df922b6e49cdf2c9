# updatestate: the state of one reader's firmware update — the vocabulary the agent reports
# and the hub's rollouts count in (sans-I/O; runs on MicroPython and CPython).
#
#     pending -> downloading -> waiting_for_sync -> applying -> verifying -> done
#                                                                        \-> rolled_back
#     any state before done -> failed (with a reason)
#
#     pending           the hub targeted this station; nothing done yet
#     downloading       bundle chunks arriving (resumable: `have` bytes so far)
#     waiting_for_sync  the bundle verified; the reader still holds records the hub has not
#                       committed (or it is outside the maintenance window)
#     applying          the reader's link is paused; files staged, backed up and swapped
#     verifying         soft reset done; waiting for an H frame with the new version
#     done              the reader answers with the new version; or it already ran the
#                       bundle's version before anything was done (`already()`: reason
#                       "already on version X: not flashed", no pause, no reset)
#     rolled_back       it did not come back healthy in time: the previous version is back
#     failed            refused or impossible (bad signature, wrong board, flash error…): `reason`
#
# `UpdateJob.to(state, reason=None)` refuses transitions the diagram does not have, so a bug
# cannot report `done` for a reader that never verified. `may_apply()` is the sync gate.

from protocol.errors import LocalProtocolError

PENDING = "pending"
DOWNLOADING = "downloading"
WAITING = "waiting_for_sync"
APPLYING = "applying"
VERIFYING = "verifying"
DONE = "done"
ROLLED_BACK = "rolled_back"
FAILED = "failed"

STATES = (PENDING, DOWNLOADING, WAITING, APPLYING, VERIFYING, DONE, ROLLED_BACK, FAILED)
FINAL = (DONE, ROLLED_BACK, FAILED)
_NEXT = {
    PENDING: (DOWNLOADING, WAITING, FAILED),
    DOWNLOADING: (DOWNLOADING, WAITING, FAILED),
    WAITING: (WAITING, APPLYING, FAILED),
    APPLYING: (VERIFYING, ROLLED_BACK, FAILED),
    VERIFYING: (DONE, ROLLED_BACK, FAILED),
    DONE: (), ROLLED_BACK: (), FAILED: (),
}


ALREADY = "already on version "   # the reason of a reader skipped: ALREADY + fw + NOT_FLASHED
NOT_FLASHED = ": not flashed"


class TransitionError(LocalProtocolError):
    reason = "bad_transition"


class UpdateJob:
    def __init__(self, rollout, fw, reader=None):
        self.rollout = rollout
        self.fw = fw
        self.reader = reader
        self.state = PENDING
        self.reason = None
        self.history = [PENDING]

    def to(self, state, reason=None):
        if state not in _NEXT.get(self.state, ()):
            raise TransitionError("an update cannot go from {} to {}".format(self.state, state))
        self.state = state
        self.reason = reason
        if self.history[-1] != state:
            self.history.append(state)
        return self

    def already(self, running):
        """The reader runs `running`, the version this job installs: done without touching
        it. Only from pending, and only with that evidence (a reader's own H frame)."""
        if self.state != PENDING or not running or running != self.fw:
            raise TransitionError("an update is not done because the reader runs {!r} "
                                  "(job for {!r}, {})".format(running, self.fw, self.state))
        self.state = DONE
        self.reason = ALREADY + running + NOT_FLASHED
        self.history.append(DONE)
        return self

    @property
    def final(self):
        return self.state in FINAL

    def as_dict(self):
        return {"rollout": self.rollout, "fw": self.fw, "reader": self.reader,
                "state": self.state, "reason": self.reason}


def in_window(window, minute_of_day):
    """window: (start_minute, end_minute) of the local day, may wrap midnight; None: never."""
    if not window:
        return False
    start, end = window
    if start <= end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end


def may_apply(unsynced, window=None, minute_of_day=0):
    """The sync gate: apply only when the reader's journal is fully hub-committed, or inside
    the maintenance window. `unsynced` None (the reader did not say) never passes on its own."""
    if unsynced == 0:
        return True
    return in_window(window, minute_of_day)
