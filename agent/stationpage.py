"""The staff page: what the station is doing, in plain words, on http://127.0.0.1:8480/.

Served by the running agent (status.http_port; 0 = off) from a stdlib HTTP server in a
daemon thread, bound to 127.0.0.1 only: staff open it in the Pi's browser (or through an SSH
tunnel). It reads the same two sources as `tapcert-agent status` — status.json, which the
core rewrites, and the queue database opened read-only — so it never touches the core's
state and shows the truth even when the core is stuck.

    GET /             the page (Chinese and English, refreshes itself every 10 s)
    GET /status.json  the same facts for scripts

Card UIDs and learner data are never shown: only counts, times and reader labels.
"""

from __future__ import annotations

import html
import json
import logging
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agent import status as statusmod
from agent.logs import note

log = logging.getLogger("agent.stationpage")

OK, BUSY, DOWN, STOPPED = "ok", "busy", "down", "stopped"
_MARK = {OK: "✓", BUSY: "↻", DOWN: "⚠", STOPPED: "✕"}


def _hm(ts) -> str:
    if ts is None:
        return "?"
    now = time.time()
    if time.strftime("%Y%m%d", time.localtime(ts)) == time.strftime("%Y%m%d", time.localtime(now)):
        return time.strftime("%H:%M", time.localtime(ts))
    return time.strftime("%m-%d %H:%M", time.localtime(ts))


def plain_state(status, counts, now):
    """(level, English, Chinese): the one sentence station staff need."""
    waiting = 0 if counts is None else counts["pending"] + counts["inflight"]
    en_n = "1 record" if waiting == 1 else "{:,} records".format(waiting)
    zh_n = "{:,} 条记录".format(waiting)
    if not statusmod.is_running(status, now):
        return (STOPPED,
                "The station agent is not running: {} waiting. Readers keep new taps; "
                "call the technician.".format(en_n),
                "站点代理程序未运行：{}等待发送。读卡器仍会保存新的刷卡；请联系技术人员。".format(zh_n))
    problems = status.get("problems") or {}
    if "disk_full" in problems:
        return (DOWN, "Storage full: new taps stay in the readers. Call the technician.",
                "存储已满：新的刷卡暂存在读卡器中。请联系技术人员。")
    mqtt = status.get("mqtt") or {}
    if not mqtt.get("connected"):
        since = _hm(mqtt.get("since"))
        if waiting:
            return (DOWN, "{} waiting: network down since {}".format(en_n, since),
                    "{}等待发送：网络自 {} 起中断".format(zh_n, since))
        return (DOWN, "Network down since {} (nothing waiting)".format(since),
                "网络自 {} 起中断（没有待发送的记录）".format(since))
    if waiting:
        sync = status.get("sync") or {}
        age = sync.get("oldest_inflight_age_s")
        if age is not None and age > 2 * sync.get("ack_timeout_s", 15):
            since = _hm(status.get("last_hub_ack") or now - age)
            return (DOWN, "{} waiting: the hub has not answered since {}".format(en_n, since),
                    "{}等待发送：中心自 {} 起没有回应".format(zh_n, since))
        return (BUSY, "{} waiting: sending now".format(en_n),
                "{}等待发送：正在发送".format(zh_n))
    ack = _hm(status.get("last_hub_ack")) if status.get("last_hub_ack") else None
    return (OK, "All records sent" + (" (last confirmed {})".format(ack) if ack else ""),
            "全部记录已发送" + ("（最近确认 {}）".format(ack) if ack else ""))


def taps_today(db_path, now):
    """{"total": n, "readers": {rid hex: {"taps": n, "last": ts}}} since local midnight, by
    when the tap happened (the reader's clock, else when the agent got it)."""
    lt = time.localtime(now)
    midnight = time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0, 0, 0, -1))
    out = {"total": 0, "readers": {}}
    try:
        conn = sqlite3.connect("file:{}?mode=ro".format(db_path), uri=True, timeout=5)
    except sqlite3.Error:
        return out
    try:
        rows = conn.execute(
            "SELECT reader_id, COUNT(*), MAX(COALESCE(NULLIF(reader_time, 0), received_at)) "
            "FROM records WHERE COALESCE(NULLIF(reader_time, 0), received_at) >= ? "
            "GROUP BY reader_id", (midnight,)).fetchall()
    except sqlite3.Error:
        return out
    finally:
        conn.close()
    for rid, n, last in rows:
        out["readers"][bytes(rid).hex()] = {"taps": n, "last": last}
        out["total"] += n
    return out


def facts(cfg, now=None):
    now = time.time() if now is None else now
    status = statusmod.read_status(cfg.status_path())
    try:
        counts = statusmod.queue_counts(cfg.queue.path)
    except sqlite3.Error:
        counts = None
    level, en, zh = plain_state(status, counts, now)
    taps = taps_today(cfg.queue.path, now)
    running = statusmod.is_running(status, now)
    known = dict((counts or {}).get("readers") or {})
    live = {r["rid"]: r for r in (status or {}).get("readers", [])} if running else {}
    readers = []
    for rid in sorted(set(known) | set(live) | set(taps["readers"])):
        r, k = live.get(rid, {}), known.get(rid, {})
        health = r.get("health") or {}
        readers.append({
            "rid": rid, "label": r.get("label") or k.get("label") or "",
            "online": bool(r.get("online")), "last_seen": k.get("last_seen"),
            "journal_pct": health.get("jfill"), "clock_offset_s": r.get("clock_offset_s"),
            "taps_today": taps["readers"].get(rid, {}).get("taps", 0),
            "last_tap": taps["readers"].get(rid, {}).get("last")})
    return {"station": cfg.station, "level": level, "text_en": en, "text_zh": zh,
            "waiting": 0 if counts is None else counts["pending"] + counts["inflight"],
            "taps_today": taps["total"], "readers": readers, "updated_at": now,
            "problems": list(((status or {}).get("problems") or {}).values()) if running else []}


_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;
padding:16px;color:#111;max-width:900px}
h1{font-size:1.3rem;margin:0 0 12px}
.state{border:3px solid #111;border-radius:8px;padding:14px 16px;margin:0 0 16px}
.state .zh{font-size:1.5rem;font-weight:700}.state .en{font-size:1.1rem;margin-top:4px}
.ok{border-color:#1e6b34}.busy{border-style:dashed;border-color:#3b5b8c}
.down{border-style:double;border-width:6px;border-color:#b3261e}
.stopped{border-style:double;border-width:6px;border-color:#b3261e;background:#fff3f2}
.big{font-size:2rem;font-weight:700}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #bbb}th{font-size:.85rem;color:#444}
.muted{color:#555;font-size:.85rem}ul{padding-left:18px}
@media (max-width:600px){table,tr,td{display:block}thead{display:none}
tr{border:1px solid #bbb;margin:8px 0;padding:4px}td{border:0}}
@media print{.state{background:none}}
"""


def render(f) -> str:
    e = html.escape
    rows = []
    for r in f["readers"]:
        link = "✓ 已连接 connected" if r["online"] else "✕ 未连接 NOT CONNECTED" + (
            " ({} {})".format("last seen", _hm(r["last_seen"])) if r["last_seen"] else "")
        jp = "-" if r["journal_pct"] is None else "{}%".format(r["journal_pct"])
        clock = "-" if r["clock_offset_s"] is None else "{:+.1f} s".format(r["clock_offset_s"])
        rows.append("<tr data-reader='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                    "<td>{}</td><td>{}</td></tr>".format(
                        e(r["rid"]), e(r["label"] or r["rid"]), e(link), r["taps_today"],
                        e(_hm(r["last_tap"]) if r["last_tap"] else "-"), e(jp), e(clock)))
    if not rows:
        rows.append("<tr><td colspan='6'>没有读卡器 — no reader seen yet: is it plugged in?"
                    "</td></tr>")
    problems = "".join("<li>{}</li>".format(e(p)) for p in f["problems"])
    return """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="10"><title>{station} · tapcert</title>
<style>{css}</style></head><body>
<h1>站点 Station {station}</h1>
<div class="state {level}" id="state" data-level="{level}">
<div class="zh">{mark} {zh}</div><div class="en">{en}</div></div>
<p>今日刷卡 Taps today: <span class="big" id="taps">{taps:,}</span></p>
<h2>读卡器 Readers</h2>
<table><thead><tr><th>读卡器 Reader</th><th>连接 Link</th><th>今日 Today</th>
<th>最近 Last tap</th><th>日志 Journal</th><th>时钟 Clock</th></tr></thead>
<tbody>{rows}</tbody></table>
{problems}
<p class="muted">更新于 Updated {updated} · 每 10 秒刷新 refreshes every 10 s</p>
</body></html>""".format(
        station=e(f["station"]), css=_CSS, level=f["level"], mark=_MARK[f["level"]],
        zh=e(f["text_zh"]), en=e(f["text_en"]), taps=f["taps_today"], rows="".join(rows),
        problems=("<h2>问题 Problems</h2><ul>{}</ul>".format(problems) if problems else ""),
        updated=time.strftime("%H:%M:%S", time.localtime(f["updated_at"])))


class StationPage:
    def __init__(self, cfg, port=None):
        self.cfg = cfg
        self.port = cfg.status.http_port if port is None else port
        self.httpd = None
        self._thread = None

    def start(self):
        """Serve in a daemon thread; returns self, or None when off or the port is taken."""
        if not self.port:
            return None
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                try:
                    f = facts(page.cfg)
                except Exception as exc:  # the page must never take the agent down
                    self._send(500, "text/plain; charset=utf-8", "status unavailable: {}".format(
                        exc).encode())
                    return
                if path == "/":
                    self._send(200, "text/html; charset=utf-8", render(f).encode())
                elif path == "/status.json":
                    self._send(200, "application/json", json.dumps(f).encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found: try /")

            def _send(self, code, kind, body):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        except OSError as exc:
            note(log, logging.WARNING, "staff page not started: cannot listen on 127.0.0.1:{} "
                 "({}); set status.http_port to a free port or 0".format(self.port, exc))
            return None
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="stationpage",
                                        daemon=True)
        self._thread.start()
        note(log, logging.INFO, "staff page on http://127.0.0.1:{}/".format(self.port))
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
