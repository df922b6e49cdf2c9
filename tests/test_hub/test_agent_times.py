"""Agent times (SPEC §4.1) at the hub, on SQLite and PostgreSQL: stored in records.agent_time
and used as the best time of a record whose reader had no clock, until a timed record of the
same boot (the boot's anchor) dates it better.

    reader clock  >  rebuilt from the boot's anchor  >  agent time  >  unknown
"""

from __future__ import annotations

from hubkit import SESSION_END, SESSION_START
from protocol import batch as wire
from protocol import record as rec
from server_hub.core import clock

LATER = SESSION_END + 86400


class Untimed:
    """Records of the district's reader with a chosen reader clock and uptime (same boot)."""

    def __init__(self, district):
        self.d = district
        self.r = district.reader
        self.up0 = self.r.uptime_ms

    def raw(self, learner, reader_time, up_s):
        r = self.r
        r.seq += 1
        payload = rec.encode_payload(rec.KIND_TAP, r.reader_id, r.seq, r.prev_hash, reader_time,
                                     r.boot, self.up0 + up_s * 1000, self.d.cards[learner])
        r.prev_hash = rec.chain_hash(payload)
        return payload + r.sign(payload)


def times(hub, seq):
    return tuple(hub.sql("SELECT best_time, time_source, agent_time FROM records "
                         "WHERE seq = :s", s=seq)[0])


def test_an_untimed_record_is_dated_and_credited_by_its_agent_time(hub, district):
    u = Untimed(district)
    tap = u.raw("L-0", 0, 100)
    hub.ingest("S-1", wire.encode_batch(1, [tap], agent_times=[SESSION_START + 60]), now=LATER)
    assert times(hub, 1) == (SESSION_START + 60, clock.AGENT, SESSION_START + 60)
    assert hub.balance("L-0") == 1000


def test_without_an_agent_time_an_untimed_record_waits(hub, district):
    u = Untimed(district)
    hub.ingest("S-1", wire.encode_batch(1, [u.raw("L-0", 0, 100)], agent_times=[0]), now=LATER)
    assert times(hub, 1) == (None, clock.UNKNOWN, None)
    assert hub.balance("L-0") == 0


def test_the_reader_clock_beats_the_agent_time_which_is_still_stored(hub, district):
    u = Untimed(district)
    tap = u.raw("L-0", SESSION_START + 30, 100)
    hub.ingest("S-1", wire.encode_batch(1, [tap], agent_times=[SESSION_START - 7200]), now=LATER)
    assert times(hub, 1) == (SESSION_START + 30, clock.READER, SESSION_START - 7200)
    assert hub.balance("L-0") == 1000


def test_an_anchor_in_the_same_batch_beats_the_agent_time(hub, district):
    u = Untimed(district)
    early = u.raw("L-0", 0, 100)
    anchor = u.raw("L-1", SESSION_START + 1000, 1100)     # early happened at SESSION_START
    hub.ingest("S-1", wire.encode_batch(1, [early, anchor],
                                        agent_times=[SESSION_END + 7200, 0]), now=LATER)
    assert times(hub, 1) == (SESSION_START, clock.REBUILT, SESSION_END + 7200)
    assert hub.balance("L-0") == 1000 and hub.balance("L-1") == 1000


def test_a_later_anchor_redates_an_agent_dated_record_and_moves_its_credit(hub, district):
    u = Untimed(district)
    # the agent's guess puts the tap inside the session; the reader's own uptime, once a
    # timed record of the same boot arrives, puts it a day earlier: the credit goes
    tap = u.raw("L-0", 0, 100)
    hub.ingest("S-1", wire.encode_batch(1, [tap], agent_times=[SESSION_START + 60]), now=LATER)
    assert hub.balance("L-0") == 1000
    anchor = u.raw("L-1", SESSION_START + 600, 100 + 86400 + 600)
    hub.ingest("S-1", wire.encode_batch(2, [anchor]), now=LATER)
    assert times(hub, 1) == (SESSION_START - 86400, clock.REBUILT, SESSION_START + 60)
    assert hub.balance("L-0") == 0 and hub.balance("L-1") == 1000
    entries = hub.sql("SELECT entry, amount_milli FROM ledger WHERE learner_id = 'L-0' "
                      "ORDER BY id")
    assert [tuple(e) for e in entries] == [("credit", 1000), ("reversal", -1000)]


def test_a_later_anchor_credits_a_tap_the_agent_dated_outside_the_session(hub, district):
    u = Untimed(district)
    tap = u.raw("L-0", 0, 100)
    hub.ingest("S-1", wire.encode_batch(1, [tap], agent_times=[SESSION_END + 3 * 3600]),
               now=LATER)
    assert hub.balance("L-0") == 0
    anchor = u.raw("L-1", SESSION_START + 700, 100 + 600)  # the tap was at SESSION_START + 100
    hub.ingest("S-1", wire.encode_batch(2, [anchor]), now=LATER)
    assert times(hub, 1)[:2] == (SESSION_START + 100, clock.REBUILT)
    assert hub.balance("L-0") == 1000


def test_arrival_order_of_agent_dated_and_anchor_batches_does_not_matter(db_url):
    from hubkit import District, Hub, make_config
    results = []
    for order in ((0, 1), (1, 0)):
        h = Hub(db_url if not results else _second(db_url), make_config())
        try:
            d = District(h)
            u = Untimed(d)
            batches = [wire.encode_batch(1, [u.raw("L-0", 0, 100)],
                                         agent_times=[SESSION_START + 50]),
                       wire.encode_batch(2, [u.raw("L-1", SESSION_START + 500, 600)])]
            for i in order:
                h.ingest("S-1", batches[i], now=LATER)
            results.append((h.effective_ledger(), times(h, 1)[:2]))
        finally:
            h.close()
    assert results[0] == results[1]
    assert results[0][1] == (SESSION_START, clock.REBUILT)


def _second(url):
    # a second, empty database of the same backend
    if url.startswith("sqlite"):
        return url.replace("hub.db", "hub2.db")
    from hubkit import fresh_pg_database

    class Server:
        pass
    server = Server()
    server.url = url
    return fresh_pg_database(server)


def test_an_agent_time_ahead_of_the_hub_holds_the_credit_until_redated(hub, district):
    u = Untimed(district)
    tap = u.raw("L-0", 0, 100)
    now = SESSION_START + 1800
    hub.ingest("S-1", wire.encode_batch(1, [tap], agent_times=[now + 3600]), now=now)
    flags = hub.sql("SELECT flags FROM records WHERE seq = 1")[0][0]
    assert flags & 2                                         # FLAG_FUTURE
    anchor = u.raw("L-1", SESSION_START + 600, 700)          # the tap was at SESSION_START
    hub.ingest("S-1", wire.encode_batch(2, [anchor]), now=now)
    assert hub.sql("SELECT flags FROM records WHERE seq = 1")[0][0] & 2 == 0
    assert times(hub, 1)[:2] == (SESSION_START, clock.REBUILT)
    hub.pipeline.settle(now=LATER)
    assert hub.balance("L-0") == 1000


def test_evidence_names_the_agent_as_the_source(hub, district):
    from server_hub.store import reports
    u = Untimed(district)
    hub.ingest("S-1", wire.encode_batch(1, [u.raw("L-0", 0, 100)],
                                        agent_times=[SESSION_START + 60]), now=LATER)
    st = reports.statement(hub.store, "L-0")
    (ev,) = st["entries"][0]["evidence"]
    assert ev["time_source"] == "agent" and ev["agent_time"] == SESSION_START + 60
