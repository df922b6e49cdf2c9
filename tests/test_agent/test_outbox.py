"""The pure outbox: batching, live-first, linger, window, pacing, resends, ack matching."""

from agent.outbox import Outbox, Resend, Send, Settings
from agent.pacing import TokenBucket
from protocol import batch as bp


def make(rng=lambda: 0.5, **kw):
    settings = Settings(**{"drain_start_jitter_s": 0.0, "jitter": 0.0, "drain_rate": 0.0, **kw})
    ob = Outbox(settings, rng)
    ob.link_up(0.0)
    return ob


def run(ob, now, next_id=[1000]):
    """Carry out poll() as the core would, with an infinitely deep store."""
    sent = []
    for _ in range(50):
        actions = ob.poll(now)
        if not actions:
            break
        for a in actions:
            if isinstance(a, Send):
                pending = ob.pending_live if a.live else ob.pending_backlog
                n = min(a.limit, pending)
                next_id[0] += 1
                ob.claimed(next_id[0], n, a.live, now)
                sent.append(("send", next_id[0], n, a.live))
            else:
                sent.append(("resend", a.batch_id))
    return sent


def test_nothing_is_sent_while_disconnected():
    ob = make()
    ob.link_down(0.0)
    ob.add_pending(5, 100, 0.0)
    assert ob.poll(10.0) == [] and ob.next_deadline(10.0) is None
    ob.link_up(11.0)
    assert ob.poll(11.0)


def test_live_taps_linger_then_go_before_backlog():
    ob = make(linger_s=0.05, max_inflight=4)
    ob.add_pending(0, 2000, 0.0)
    ob.add_pending(3, 0, 0.0)
    first = ob.poll(0.01)  # live lingers, backlog may go
    assert [type(a) for a in first] == [Send] and first[0].live is False
    assert abs(ob.next_deadline(0.01) - 0.0) < 1e-9 or ob.next_deadline(0.01) <= 0.05
    actions = ob.poll(0.05)
    assert isinstance(actions[0], Send) and actions[0].live and actions[0].limit == 3


def test_a_full_live_batch_does_not_wait():
    ob = make(batch_max_records=10, linger_s=5.0)
    ob.add_pending(25, 0, 0.0)
    sent = run(ob, 0.0)
    assert [s[2] for s in sent] == [10, 10]  # the 5 left over linger
    assert ob.next_deadline(0.0) == 5.0


def test_window_limits_batches_in_flight():
    ob = make(batch_max_records=100, max_inflight=3)
    ob.add_pending(0, 10_000, 0.0)
    sent = run(ob, 0.0)
    assert len(sent) == 3 and len(ob.inflight) == 3
    batch_id = sent[0][1]
    assert ob.check_ack(batch_id, bp.BATCH_OK, 100) == "matched"
    ob.complete(batch_id)
    assert len(run(ob, 0.1)) == 1


def test_drain_is_paced_by_the_token_bucket():
    ob = make(batch_max_records=100, max_inflight=1000, drain_rate=1000.0, drain_burst=200)
    ob.add_pending(0, 100_000, 0.0)
    total = 0
    t = 0.0
    while t < 10.0:
        total += sum(s[2] for s in run(ob, t) if s[0] == "send")
        t = max(t + 0.001, ob.next_deadline(t))
    assert 9_000 <= total <= 10_200 + 200  # ~ rate x time + one burst


def test_start_jitter_delays_the_drain_randomly():
    ob = Outbox(Settings(drain_rate=100.0, drain_burst=100, batch_max_records=100,
                         drain_start_jitter_s=10.0), rng=lambda: 0.7)
    ob.add_pending(0, 1000, 0.0)
    ob.link_up(0.0)
    assert ob.poll(0.0) == []
    when = ob.next_deadline(0.0)
    assert abs(when - 8.0) < 1e-6  # 7 s of negative tokens + 1 s to fill a batch
    assert ob.poll(when - 0.01) == []
    actions = ob.poll(when)
    assert len(actions) == 1 and actions[0].limit == 100 and not actions[0].live


def test_resend_with_exponential_backoff_and_jitter():
    values = iter([0.0, 0.0, 1.0, 0.5, 0.0, 1.0])  # link_up, first send, four resends
    ob = Outbox(Settings(ack_timeout_s=10.0, backoff_max_s=40.0, jitter=0.2, drain_rate=0.0,
                         drain_start_jitter_s=0.0), rng=lambda: next(values))
    ob.link_up(0.0)
    ob.claimed(7, 5, False, 0.0)  # deadline 10 * (1 - 0.2) = 8
    assert ob.poll(7.9) == []
    deadlines = []
    t = 8.0
    for _ in range(4):
        actions = ob.poll(t)
        assert [type(a) for a in actions] == [Resend] and actions[0].batch_id == 7
        t = ob.inflight[7].deadline
        deadlines.append(t)
    gaps = [round(b - a, 6) for a, b in zip([8.0] + deadlines, deadlines)]
    assert gaps == [24.0, 40.0, 32.0, 48.0]  # 20*1.2, 40*1.0, 40*0.8, 40*1.2: capped at 40


def test_ack_verdicts():
    ob = make()
    ob.claimed(1, 5, False, 0.0)
    assert ob.check_ack(2, bp.BATCH_OK, 5) == "unknown"
    assert ob.check_ack(1, bp.BATCH_OK, 4) == "count_mismatch"
    assert ob.check_ack(1, bp.BATCH_MALFORMED, 0) == "matched"  # whole-batch rejection: count 0
    assert ob.check_ack(1, bp.BATCH_OK, 5) == "matched"
    ob.complete(1)
    assert ob.check_ack(1, bp.BATCH_OK, 5) == "duplicate"
    assert ob.stats["ack_unknown"] == 1 and ob.stats["ack_duplicate"] == 1
    assert ob.stats["ack_count_mismatch"] == 1


def test_demoted_live_records_join_the_paced_backlog():
    ob = make(linger_s=0.0)
    ob.add_pending(5, 0, 0.0)
    ob.demoted(5)
    assert (ob.pending_live, ob.pending_backlog) == (0, 5)
    actions = ob.poll(1.0)
    assert len(actions) == 1 and not actions[0].live


def test_empty_claim_resets_the_count():
    ob = make()
    ob.add_pending(0, 10, 0.0)
    actions = ob.poll(0.0)
    assert actions and not actions[0].live
    ob.claim_came_up_empty(False)
    assert ob.poll(0.0) == [] and ob.next_deadline(0.0) is None


def test_token_bucket():
    b = TokenBucket(rate=10, burst=20, now=0.0)
    assert b.available(0.0) == 20
    b.take(20, 0.0)
    assert b.time_until(5, 0.0) == 0.5
    assert b.available(100.0) == 20
    b.reset(100.0, -30)
    assert b.time_until(10, 100.0) == 4.0
    assert TokenBucket(0, 1).available(5.0) == float("inf")
