"""Issue #21: uptime (and so grades) over the station's life in the period, weighted by time
(server_hub/core/uptime.py), and through the station evaluation report."""

from __future__ import annotations

import time

from dashkit import Hub, make_config, write_history
from server_hub.core import uptime
from server_hub.creditbank import evaluation as ev


def test_time_weighted_and_clipped_to_the_life_in_the_period():
    day = (0, 86400)
    # eight minutes old, online all along: 100 % over 8 min (not a share of a day)
    assert uptime.online_time([(86400 - 480, "online")], *day, now=86400) == (480, 480)
    # down 6 h of a day, flapping ten times in the last hour: weighted by time, not samples
    pts = [(-100, "online"), (6 * 3600, "offline"), (12 * 3600, "online")] + \
        [(82800 + 360 * k, "offline" if k % 2 else "online") for k in range(10)]
    on, seen = uptime.online_time(pts, *day, now=86400)
    assert seen == 86400 and on == 86400 - 6 * 3600 - 5 * 360
    # a period reaching into the future counts only up to now
    assert uptime.online_time([(-5, "online")], 0, 86400, now=3600) == (3600, 3600)
    assert uptime.share(0, 0) is None and uptime.share(30, 40) == 0.75


def test_station_report_uptime_over_its_life(tmp_path):
    hub = Hub(f"sqlite:///{tmp_path / 'hub.db'}", make_config())
    try:
        now = time.time()
        hub.registry.add_station("S-NEW", "New centre")
        hub.registry.add_station("S-OLD", "Old centre")
        # S-NEW: first seen 8 minutes ago, unknown for 1 min, then online
        write_history(hub, "S-NEW", [(now - 480, "unknown", 0, []), (now - 420, "online", 0, [])])
        # S-OLD: online since before the period, offline for its last 6 hours
        write_history(hub, "S-OLD", [(now - 3 * 86400, "online", 0, []),
                                     (now - 6 * 3600, "offline", 0, [])])
        rows = {r["station_id"]: r for r in ev.station_report(hub.store, int(now - 86400),
                                                              int(now) + 3600)}
    finally:
        hub.close()
    assert abs(rows["S-NEW"]["uptime"] - 420 / 480) < 0.01     # 7 of its 8 minutes
    assert 470 <= rows["S-NEW"]["uptime_over_s"] <= 490
    assert abs(rows["S-OLD"]["uptime"] - 0.75) < 0.001
    assert abs(rows["S-OLD"]["uptime_over_s"] - 86400) < 10
