# dual: micropython
# The firmware-update vocabulary shared by the agent (reports) and the hub (rollouts).
from protocol import updatestate as us
from protocol.errors import LocalProtocolError


def _refused(job, state):
    try:
        job.to(state)
    except us.TransitionError as exc:
        assert isinstance(exc, LocalProtocolError) and exc.reason == "bad_transition"
        return True
    return False


def test_state_machine_refuses_impossible_transitions():
    job = us.UpdateJob("RO-1", "0.9")
    assert _refused(job, us.DONE)
    job.to(us.WAITING).to(us.APPLYING).to(us.VERIFYING).to(us.ROLLED_BACK, "x")
    assert job.final and job.history == [us.PENDING, us.WAITING, us.APPLYING, us.VERIFYING,
                                         us.ROLLED_BACK]
    assert _refused(job, us.DONE)
    assert job.as_dict()["reason"] == "x"


def test_the_sync_gate_and_the_maintenance_window():
    assert us.may_apply(0) and not us.may_apply(3) and not us.may_apply(None)
    assert us.may_apply(3, (22 * 60, 5 * 60), 23 * 60)
    assert not us.may_apply(3, (22 * 60, 5 * 60), 12 * 60)
    assert us.in_window((60, 120), 60) and not us.in_window((60, 120), 120)


def test_every_final_state_is_a_state():
    for s in us.FINAL:
        assert s in us.STATES


def _not_already(job, running):
    try:
        job.already(running)
    except us.TransitionError:
        return True
    return False


def test_done_because_already_there_needs_the_same_version_and_nothing_begun():
    job = us.UpdateJob("RO-1", "1.4.0", reader="R-1")
    assert _not_already(job, "1.3.9") and _not_already(job, None) and job.state == us.PENDING
    job.already("1.4.0")
    assert (job.state, job.reason, job.final) == (us.DONE, "already on version 1.4.0: not "
                                                  "flashed", True)
    assert job.history == [us.PENDING, us.DONE]
    assert _not_already(us.UpdateJob("RO-1", "1.4.0").to(us.DOWNLOADING), "1.4.0")
