"""The fleet read model, the monitor (lag feed, history samples, alerts) and the webhook, on
SQLite and PostgreSQL, with stations put into known states through the hub's own paths."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from dashkit import Hub, make_config, reader_health, seed_fleet
from server_hub.dashboard import fleet
from server_hub.dashboard.monitor import Monitor
from server_hub.store.health_tables import alert_state, station_samples


@pytest.fixture
def hub(db_url):
    h = Hub(db_url, make_config(dashboard__sample_every_s=60, alerts__evaluate_every_s=10))
    yield h
    h.close()


class Receiver:
    """A local webhook receiver on 127.0.0.1 that records every POSTed JSON body."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.status == 200:
                    outer.bodies.append(json.loads(body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self):
        return [(a["status"], a["rule"], a["station_id"], a["subject"])
                for body in self.bodies for a in body["alerts"]]


def test_each_known_state_is_seen(hub):
    now = time.time()
    roles = seed_fleet(hub, now)
    snap = fleet.compute(hub.store, hub.config, now)
    v = snap.by_id
    assert [x.station_id for x in snap.views][0] == roles["offline"]
    off = v[roles["offline"]]
    assert (off.state, off.level, off.backlog) == ("offline", "critical", 342)
    assert round(off.state_for_s / 60) == 40 and [p.rule for p in off.problems] == \
        ["offline_backlog"]
    jnl = v[roles["journal"]]
    assert [(p.rule, p.subject, p.values["pct"]) for p in jnl.problems] == \
        [("journal_full", "R-J1", 92)]
    rej = v[roles["spike"]]
    assert rej.rejected_recent == 25 and rej.rejected_24h == {"bad_signature": 25}
    assert [p.rule for p in rej.problems] == ["rejection_spike"]
    ok = v[roles["online"]]
    assert (ok.state, ok.level, ok.accepted, ok.readers_enrolled) == ("online", "ok", 3, 1)
    assert snap.summary["states"] == {"online": 3, "offline": 1, "silent": 0, "unknown": 0}
    assert snap.summary["backlog"] == 342


def test_paging_filter_and_search(hub):
    now = time.time()
    seed_fleet(hub, now)
    for i in range(30):
        hub.registry.add_station(f"X-{i:03d}", f"Library {i}")
    snap = fleet.compute(hub.store, hub.config, now)
    page = fleet.page(hub.store, snap, offset=0, limit=10)
    assert page["total"] == 34 and len(page["items"]) == 10
    assert page["items"][0]["station_id"] == "S-OFF02"
    rest = fleet.page(hub.store, snap, offset=30, limit=10)
    assert len(rest["items"]) == 4
    assert fleet.page(hub.store, snap, q="library 1")["total"] == 11
    assert [i["station_id"] for i in fleet.page(hub.store, snap, state="offline")["items"]] == \
        ["S-OFF02"]
    assert {i["station_id"] for i in fleet.page(hub.store, snap, level="attention")["items"]} \
        == {"S-OFF02", "S-JNL03", "S-REJ04"}
    assert fleet.page(hub.store, snap, state="unknown")["total"] == 30


def test_monitor_lag_feed_samples_and_station_history(hub):
    now = time.time()
    roles = seed_fleet(hub, now)
    mon = Monitor(hub.store, hub.config, now=now - 120)
    mon.tick(now)   # the three records of S-OK01 were stored 10-12 s after their taps
    assert mon.records_seen == 3 and sum(mon.lag_total) == 3
    with hub.store.read() as conn:
        rows = conn.execute(sa.select(station_samples.c.station_id, station_samples.c.backlog,
                                      station_samples.c.lag_n)).fetchall()
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert got[roles["online"]] == (0, 3) and got[roles["offline"]] == (342, 0)
    # a second sample only for what changed: S-JNL03 gets a backlog
    hub.health(roles["journal"], now + 60, pending=12, oldest=now + 30)
    assert mon.sample(now + 61) == 1
    snap = fleet.compute(hub.store, hub.config, now + 62)
    detail = fleet.station_detail(hub.store, snap, roles["online"], now + 62, hub.config.tz)
    assert detail["lag_24h"]["n"] == 3 and 5 < detail["lag_24h"]["p50"] <= 30
    assert detail["taps_today"] in (0, 3)  # 0 only when the test runs across midnight
    assert [h["backlog"] for h in fleet.station_detail(
        hub.store, snap, roles["journal"], now + 62, hub.config.tz)["history"]] == [0, 12]
    spike = fleet.station_detail(hub.store, snap, roles["spike"], now + 62, hub.config.tz)
    assert len(spike["rejections"]) == 25 and spike["rejections"][0]["reason"] == "bad_signature"
    text = json.dumps([detail, spike, fleet.page(hub.store, snap)])
    assert "L-SECRET" not in text and "Wang Fang" not in text and "04a1b2c3" not in text


def test_alerts_fire_and_clear_on_state_changes_and_reach_the_webhook(hub):
    now = time.time()
    roles = seed_fleet(hub, now)
    with Receiver() as rx:
        hub.config.alerts.webhook_url = rx.url
        mon = Monitor(hub.store, hub.config, now=now)
        mon.evaluate(now)
        assert sorted(rx.events()) == sorted([
            ("firing", "offline_backlog", roles["offline"], ""),
            ("firing", "journal_full", roles["journal"], "R-J1"),
            ("firing", "rejection_spike", roles["spike"], "")])
        mon.evaluate(now + 10)            # nothing changed: nothing sent again
        assert len(rx.bodies) == 1
        # the station comes back and drains; the reader's journal empties
        hub.online(roles["offline"], now + 20, since=now + 20)
        hub.health(roles["offline"], now + 20)
        hub.health(roles["journal"], now + 20, readers=[reader_health("R-J1", jfill=10)])
        mon.evaluate(now + 30)
        assert sorted(rx.events()[3:]) == sorted([
            ("resolved", "offline_backlog", roles["offline"], ""),
            ("resolved", "journal_full", roles["journal"], "R-J1")])
        # the receiver is down while a new problem appears: retried until delivered, once
        rx.status = 503
        hub.health(roles["online"], now + 40, readers=[reader_health("R-K0", skew=-1200)])
        mon.evaluate(now + 50)
        assert mon.webhook_failures == 1 and len(rx.bodies) == 2
        rx.status = 200
        mon.evaluate(now + 60)
        mon.evaluate(now + 70)
        assert rx.events()[5:] == [("firing", "clock_skew", roles["online"], "R-K0")]
    with hub.store.read() as conn:
        rows = dict(conn.execute(sa.select(alert_state.c.key, alert_state.c.state)).fetchall())
    assert rows[f"clock_skew/{roles['online']}/R-K0"] == "firing"
    assert rows[f"offline_backlog/{roles['offline']}/"] == "resolved"
    # a new monitor (hub restart) keeps the de-duplication: nothing is re-sent
    with Receiver() as rx2:
        hub.config.alerts.webhook_url = rx2.url
        Monitor(hub.store, hub.config, now=now + 80).evaluate(now + 80)
        assert rx2.bodies == []
