"""The agent's staff page (agent/stationpage.py): the sync state in plain words from the real
queue database and status file, today's taps, readers; served on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import time

import httpx

from agent import config as agentconfig
from agent.recovery import open_store
from agent.stationpage import StationPage, facts, plain_state

RID1, RID2 = bytes.fromhex("3f2a9c1d5e6f7a8b"), bytes.fromhex("81bc0e55a1d2c3f4")


def make_cfg(tmp_path, port=0):
    return agentconfig.load(None, env={
        "TAPCERT_AGENT_STATION": "S-0001",
        "TAPCERT_AGENT_QUEUE_PATH": str(tmp_path / "queue.db"),
        "TAPCERT_AGENT_STATUS_HTTP_PORT": str(port)})


def fill_queue(cfg, now, waiting=342, synced_today=5, yesterday=4):
    store, _ = open_store(cfg.queue.path)
    try:
        rows, seq = [], 0
        for i in range(yesterday):             # taps of yesterday, received today (backlog)
            seq += 1
            rows.append((RID1, seq, b"r%d" % seq, int(now - 86400 - 3600), False))
        for i in range(synced_today + waiting):
            seq += 1
            rows.append((RID1 if i % 2 else RID2, seq, b"r%d" % seq, int(now), True))
        store.add_records(rows, now)
        for limit, live in ((yesterday, False), (synced_today, True)):
            batch_id, sent = store.claim_batch(limit, live=live)
            store.apply_ack(batch_id, 0, bytes(len(sent)), now)
    finally:
        store.close()


def write_status(cfg, now, *, connected, since, last_ack=None, readers=(), problems=None,
                 inflight_age=None):
    doc = {"v": 1, "state": "running", "pid": os.getpid(), "agent": "0.1.0",
           "station": "S-0001", "started_at": now - 7200, "updated_at": now,
           "mqtt": {"connected": connected, "since": since,
                    "reason": None if connected else "cannot reach the broker", "broker": "b:1883"},
           "sync": {"oldest_inflight_age_s": inflight_age, "ack_timeout_s": 15},
           "last_hub_ack": last_ack, "readers": list(readers), "ports": {},
           "problems": problems or {}}
    cfg.status_path().write_text(json.dumps(doc))


def at(hh, mm):
    lt = time.localtime()
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, hh, mm, 0, 0, 0, -1))


def test_plain_words_for_each_state(tmp_path):
    cfg = make_cfg(tmp_path)
    now = time.time()
    counts = {"pending": 342, "inflight": 0}
    status = {"state": "running", "pid": os.getpid(), "updated_at": now,
              "mqtt": {"connected": False, "since": at(9, 12)}, "sync": {}, "problems": {}}
    assert plain_state(status, counts, now)[:2] == ("down", "342 records waiting: network "
                                                    "down since 09:12")
    assert "网络自 09:12 起中断" in plain_state(status, counts, now)[2]
    status["mqtt"] = {"connected": True, "since": now - 60}
    assert plain_state(status, counts, now)[1] == "342 records waiting: sending now"
    status["sync"] = {"oldest_inflight_age_s": 120, "ack_timeout_s": 15}
    status["last_hub_ack"] = at(9, 40)
    assert plain_state(status, counts, now)[1] == ("342 records waiting: the hub has not "
                                                   "answered since 09:40")
    assert plain_state(status, {"pending": 0, "inflight": 0}, now)[:2] == \
        ("ok", "All records sent (last confirmed 09:40)")
    assert plain_state(status, {"pending": 0, "inflight": 0}, now)[2].startswith("全部记录已发送")
    status["problems"] = {"disk_full": "queue full"}
    assert plain_state(status, counts, now)[0] == "down"
    assert plain_state(None, counts, now)[0] == "stopped"
    assert "not running: 342 records waiting" in plain_state(None, counts, now)[1]
    status.update(pid=os.getpid(), updated_at=now - 600)   # a stale status file
    assert plain_state(status, counts, now)[0] == "stopped"


def test_page_served_on_localhost_with_taps_and_readers(tmp_path):
    cfg = make_cfg(tmp_path)
    now = time.time()
    fill_queue(cfg, now)
    write_status(cfg, now, connected=False, since=at(9, 12), last_ack=at(9, 11), readers=[
        {"rid": RID1.hex(), "label": "R-0007", "online": True, "port": "/dev/ttyACM0",
         "health": {"jfill": 4, "fw": "0.1.0"}, "clock_offset_s": -0.4},
        {"rid": RID2.hex(), "label": "R-0008", "online": False, "health": {}}])
    f = facts(cfg, now)
    assert f["waiting"] == 342 and f["text_en"] == "342 records waiting: network down since 09:12"
    assert f["taps_today"] == 347   # yesterday's four taps do not count
    by = {r["label"]: r for r in f["readers"]}
    assert by["R-0007"]["online"] and by["R-0007"]["taps_today"] == 173
    assert not by["R-0008"]["online"] and by["R-0008"]["taps_today"] == 174
    page = StationPage(cfg, port=0)
    page.port = _free_port()
    assert page.start() is page
    try:
        assert page.httpd.server_address[0] == "127.0.0.1"
        resp = httpx.get(f"http://127.0.0.1:{page.port}/", timeout=10)
        assert resp.status_code == 200
        text = resp.text
        assert "342 records waiting: network down since 09:12" in text
        assert "342 条记录等待发送：网络自 09:12 起中断" in text
        assert 'data-level="down"' in text and ">347<" in text
        assert "R-0007" in text and "R-0008" in text and "未连接 NOT CONNECTED" in text
        _screenshot(f"http://127.0.0.1:{page.port}/", "stationpage-network-down.png")
        js = httpx.get(f"http://127.0.0.1:{page.port}/status.json", timeout=10).json()
        assert js["level"] == "down" and js["taps_today"] == 347
        assert httpx.get(f"http://127.0.0.1:{page.port}/x", timeout=10).status_code == 404
        # the network comes back and the queue drains: the page says so at the next request
        store, _ = open_store(cfg.queue.path)
        batch_id, sent = store.claim_batch(1000, live=True)
        assert len(sent) == 342
        store.apply_ack(batch_id, 0, bytes(len(sent)), now + 5)
        store.close()
        write_status(cfg, now + 5, connected=True, since=now + 1, last_ack=now + 5)
        text = httpx.get(f"http://127.0.0.1:{page.port}/", timeout=10).text
        assert "All records sent (last confirmed" in text and "全部记录已发送" in text
    finally:
        page.stop()


def test_port_taken_or_off_does_not_stop_the_agent(tmp_path):
    cfg = make_cfg(tmp_path)
    assert StationPage(cfg, port=0).start() is None          # 0 = off
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert StationPage(cfg, port=s.getsockname()[1]).start() is None


def _screenshot(url, name):
    """The staff page in headless Chromium, kept in test-artifacts/ for a person to look at."""
    from playwright.sync_api import sync_playwright

    from dashkit import ARTIFACTS
    from test_browser import ARGS, CHROMIUM
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            page.goto(url)
            assert page.locator("#state").get_attribute("data-level") == "down"
            page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        finally:
            browser.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
