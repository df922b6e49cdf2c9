// hubtime.js: every time on the dashboard and the bank pages in the hub's time zone
// (hub.timezone, the zone the CLI, day caps and schedules use), never the browser's.
// The pages set HubTime.zone from the API (fleet summary, whoami) and show which zone it is.
"use strict";
const HubTime = {
  zone: null,   // IANA name from the hub, e.g. "Asia/Shanghai"; null until the hub said
  _fmt: null,
  setZone(zone) {
    if (!zone || zone === this.zone) return;
    try {
      this._fmt = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hourCycle: "h23",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        second: "2-digit" });
      this.zone = zone;
    } catch (err) { this._fmt = null; this.zone = null; }   // unknown to this browser: UTC below
  },
  // {y, mo, d, h, mi, s} as strings ("2026", "03", ...) of Unix time ts in the hub's zone
  parts(ts) {
    const fmt = this._fmt || new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit" });
    const p = {};
    fmt.formatToParts(new Date(ts * 1000)).forEach((x) => { p[x.type] = x.value; });
    return { y: p.year, mo: p.month, d: p.day, h: p.hour, mi: p.minute, s: p.second };
  },
  day(ts) { const p = this.parts(ts); return p.y + "-" + p.mo + "-" + p.d; },
  hm(ts) { const p = this.parts(ts); return p.h + ":" + p.mi; },
  hms(ts) { const p = this.parts(ts); return p.h + ":" + p.mi + ":" + p.s; },
  full(ts) { return this.day(ts) + " " + this.hm(ts); },
  label() { return this.zone || "UTC"; },
};
if (typeof module !== "undefined") module.exports = HubTime;
