"""text: the fleet and one station as plain text, for `tapcert-hub status` and
`tapcert-hub station show S` (the same read model as the dashboard)."""

from __future__ import annotations

import datetime as dt

from server_hub.core import health_model as hm
from server_hub.identity import enrollment as identity
from server_hub.core.health_model import duration

_MARK = {hm.CRITICAL: "CRITICAL", hm.WARNING: "warning", hm.INFO: "note", "ok": "ok"}


def _when(t, tz, now) -> str:
    if t is None:
        return "-"
    at = dt.datetime.fromtimestamp(float(t), tz)
    if at.date() == dt.datetime.fromtimestamp(now, tz).date():
        return at.strftime("%H:%M")
    return at.strftime("%Y-%m-%d %H:%M")


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    if not rows:
        return ["(none)"]
    cells = [header] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(header) - 1)]
    out = []
    for n, row in enumerate(cells):
        out.append("  ".join([v.ljust(w) for v, w in zip(row, widths)] + [row[-1]]).rstrip())
        if n == 0:
            out.append("  ".join(["-" * w for w in widths] + ["-" * len(header[-1])]))
    return out


def _state(v) -> str:
    if v.state in ("offline", "silent") and v.state_for_s is not None:
        return f"{v.state} {duration(v.state_for_s)}"
    return "never seen" if v.state == "unknown" else v.state


def crl_lines(crl, tz, now) -> list[str]:
    """The broker's CRL: nothing when fine, a warning within a week of expiry or when expired
    (Mosquitto then refuses every station)."""
    if not crl:
        return []
    fix = (f"re-issue it: tapcert-hub station crl --ca-dir {crl['ca_dir']} && systemctl "
           "reload mosquitto (daily: ops/systemd/tapcert-crl.timer)")
    until = crl.get("expires_at")
    if until is None:
        return [f"!! The broker's CRL {crl['path']} does not parse; {fix}"]
    left = until - now
    when = dt.datetime.fromtimestamp(until, tz).strftime("%Y-%m-%d %H:%M")
    if left <= 0:
        return [f"!! The broker's CRL {crl['path']} EXPIRED at {when}: Mosquitto refuses every "
                f"station; {fix}"]
    if left < identity.CRL_WARN_S:
        return [f"!  The broker's CRL expires in {duration(left)} ({when}); {fix}"]
    return []


def fleet_text(snap, firing, tz, *, show_all: bool = False, limit: int = 50) -> str:
    s = snap.summary
    st, lv = s["states"], s["levels"]
    oldest = f" (oldest {duration(s['oldest_unsynced_s'])})" if s["oldest_unsynced_s"] else ""
    lines = [
        f"Fleet: {s['stations']:,} stations - {st['online']:,} online, {st['offline']:,} "
        f"offline, {st['silent']:,} silent, {st['unknown']:,} never seen; "
        f"{s['backlog']:,} records waiting{oldest}; credits today {s['credits_today']:g}",
        f"Readers online: {s['readers_online']:,} of {s['readers_reported']:,} reported.  "
        f"Needing attention: {lv['critical']:,} critical, {lv['warning']:,} warning.  "
        f"Alerts firing: {len(firing):,}"] + crl_lines(s.get("crl"), tz, snap.at) + [""]
    views = snap.views if show_all else [v for v in snap.views
                                         if v.level in (hm.CRITICAL, hm.WARNING)]
    rows = []
    for v in views[:limit]:
        first = v.problems[0].text() if v.problems else ""
        more = f" (+{len(v.problems) - 1} more)" if len(v.problems) > 1 else ""
        rows.append([_MARK[v.level], v.station_id, _state(v),
                     "-" if v.backlog is None else f"{v.backlog:,}",
                     duration(v.oldest_unsynced_s), _when(v.last_hub_ack, tz, snap.at),
                     f"{'?' if v.readers_online is None else v.readers_online}/"
                     f"{v.readers_reported}",
                     str(sum(v.rejected_24h.values())), str(v.holds), first + more])
    if not views:
        lines.append("No station needs attention." if not show_all else "No stations.")
    else:
        title = "Stations" if show_all else "Stations needing attention"
        lines.append(f"{title} (most urgent first):")
        lines += _table(rows, ["level", "station", "state", "backlog", "oldest", "last ack",
                               "readers", "rej 24h", "holds", "problem"])
        if len(views) > limit:
            lines.append(f"... and {len(views) - limit:,} more (--limit, or the dashboard)")
    return "\n".join(lines)


def station_text(detail: dict, tz, now: float) -> str:
    v = detail["station"]
    lag = detail.get("lag_24h") or {}
    lines = [f"Station {v['station_id']}  {v['name']}",
             f"level        {_MARK[v['level']]}",
             f"state        {'never seen' if v['state'] == 'unknown' else v['state']}"
             + (f" since {_when(v['state_since'], tz, now)} "
                                             f"({duration(v['state_for_s'])})"
                                             if v["state_since"] else ""),
             f"backlog      {'-' if v['backlog'] is None else format(v['backlog'], ',')}"
             + (f" (oldest from {_when(v['oldest_unsynced_at'], tz, now)}, "
                f"{duration(v['oldest_unsynced_s'])})" if v["oldest_unsynced_at"] else ""),
             f"last hub ack {_when(v['last_hub_ack'], tz, now)} (agent's view); last batch "
             f"{_when(v['last_batch_at'], tz, now)}",
             ("health       none yet" if v["health_age_s"] is None else
              f"health       {duration(v['health_age_s'])} ago")
             + f"; agent {v['agent_version'] or '-'}"
             + (f"; Pi clock {round(v['pi_clock_offset_s']) + 0:+d} s"
                if v["pi_clock_offset_s"] is not None else ""),
             f"taps today   {detail['taps_today']:,}; accepted in all {v['accepted']:,}; "
             f"rejected in all {v['rejected_total']:,}",
             f"lag 24 h     p50 {duration(lag.get('p50'))}, p99 {duration(lag.get('p99'))} "
             f"({lag.get('n', 0):,} records)",
             f"holds        {v['holds']}"]
    lines += ["", "Problems:"] + ([f"  ! [{p['severity']}] {p['text']}" for p in v["problems"]]
                                  or ["  none"])
    lines += ["", "Readers (from the latest health message):"]
    lines += ["  " + x for x in _table(
        [[r["label"] or "-", r["rid"], "online" if r["online"] else "OFFLINE",
          "-" if r["journal_pct"] is None else f"{r['journal_pct']:g}%",
          "-" if r["unsynced"] is None else str(r["unsynced"]), str(r["fw"] or "-"),
          "-" if r["clock_offset_s"] is None else f"{r['clock_offset_s']:+.1f} s"]
         for r in v["readers"]],
        ["label", "reader id", "link", "journal", "unsynced", "fw", "clock"])]
    lines += ["", "Enrolled readers:"]
    lines += ["  " + x for x in _table([[r["label"] or "-", r["reader_id"], r["status"]]
                                        for r in detail["enrolled"]],
                                       ["label", "reader id", "status"])]
    hist = detail["history"]
    if hist:
        peak = max(hist, key=lambda h: h["backlog"])
        lines += ["", f"Last 24 h: {len(hist)} samples, backlog peak {peak['backlog']:,} at "
                      f"{_when(peak['at'], tz, now)}, now {hist[-1]['backlog']:,}"]
    rejections = detail["rejections"][:10]
    if rejections:
        lines += ["", f"Recent rejections ({len(detail['rejections'])} shown on the dashboard):"]
        lines += ["  " + x for x in _table(
            [[_when(q["received_at"], tz, now), q["reason"], q["reader_id"] or "-",
              "-" if q["seq"] is None else str(q["seq"]), q["detail"][:80]] for q in rejections],
            ["received", "reason", "reader", "seq", "detail"])]
    if detail["alarms"]:
        lines += ["", "Alarms:"] + [f"  {a['kind']} reader {a['reader_id']} #{a['seq']} at "
                                    f"{_when(a['created_at'], tz, now)}: {a['detail']}"
                                    for a in detail["alarms"]]
    return "\n".join(lines)
