"""Issue #21: an offline station's queue growth from its tap rate in that hour of the week,
and a drain ETA when it is back (server_hub/core/forecast.py, pure)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from server_hub.core import forecast as fc

SH = ZoneInfo("Asia/Shanghai")
# Monday 2026-11-30 00:00 in Shanghai
MONDAY = dt.datetime(2026, 11, 30, 0, 0, tzinfo=SH).timestamp()
H = 3600


def test_hour_of_week_is_in_the_hubs_zone():
    assert fc.hour_of_week(MONDAY, SH) == 0
    assert fc.hour_of_week(MONDAY + 10 * H + 59 * 60, SH) == 10
    assert fc.hour_of_week(MONDAY + 6 * 24 * H + 23 * H, SH) == 167
    assert fc.hour_of_week(MONDAY, dt.timezone.utc) == 6 * 24 + 16   # Sunday 16:00 UTC


def test_profile_averages_over_the_weeks_each_hour_was_observed():
    # two weeks observed; Tuesdays 10:00 had 30 and 10 taps, Wednesday 10:00 only in week 2
    tue10 = MONDAY + 24 * H + 10 * H
    counts = {tue10: 30, tue10 + 7 * 24 * H: 10, tue10 + 8 * 24 * H: 12}
    rates = fc.profile(counts, MONDAY, MONDAY + 14 * 24 * H, SH)
    assert len(rates) == 168
    assert rates[24 + 10] == 20.0            # (30 + 10) / 2 weeks
    assert rates[48 + 10] == 6.0             # 12 / 2
    assert sum(rates) == 26.0
    # a station one day old: its hours are averaged over one occurrence, not four weeks
    young = fc.profile({MONDAY + 10 * H: 8}, MONDAY, MONDAY + 24 * H, SH)
    assert young[10] == 8.0 and sum(young) == 8.0


def test_growth_integrates_partial_hours():
    rates = [0.0] * 168
    rates[10] = 60.0   # Monday 10:00–11:00: one tap a minute
    rates[11] = 6.0
    assert fc.growth(rates, MONDAY + 10.5 * H, MONDAY + 11.5 * H, SH) == pytest.approx(33.0)
    assert fc.growth(rates, MONDAY, MONDAY + 9 * H, SH) == 0.0          # quiet morning
    assert fc.growth(rates, MONDAY + 12 * H, MONDAY + 11 * H, SH) == 0.0  # clock backwards
    assert fc.growth([], MONDAY, MONDAY + H, SH) == 0.0
    # a week later the same hours count again
    assert fc.growth(rates, MONDAY, MONDAY + 7 * 24 * H + 12 * H, SH) == pytest.approx(132.0)


def test_growth_of_a_very_long_outage_is_bounded():
    rates = [1.0] * 168
    n = fc.growth(rates, MONDAY, MONDAY + 400 * 86400, SH)
    assert 60 * 24 <= n <= 60 * 24 + 2   # stops after 60 days of hours (no endless loop)


def test_estimate_adds_expected_taps_to_the_last_report():
    rates = [0.0] * 168
    rates[10] = 12.0
    e = fc.estimate(3, rates, MONDAY + 10 * H, MONDAY + 10.5 * H, SH)
    assert e == {"reported": 3, "expected_new": 6.0, "estimate": 9}


def test_drain_rate_from_the_latest_fall_of_the_waiting_count():
    pts = [(0, 0), (60, 300), (120, 305), (150, 250), (180, 190), (210, 130)]
    assert fc.drain_rate(pts) == pytest.approx(175 / 90)
    assert fc.drain_rate([(0, 5), (60, 9)]) is None          # growing
    assert fc.drain_rate([(0, 9), (5, 8)]) is None           # too brief to tell
    assert fc.drain_rate([(0, 9)]) is None
    assert fc.drain_rate([(0, 9), (30, None), (60, 3)]) == pytest.approx(0.1)


def test_drain_eta():
    assert fc.drain_eta(130, 2.0) == 65.0
    assert fc.drain_eta(0, None) == 0.0
    assert fc.drain_eta(10, None) is None
    assert fc.drain_eta(10, 0) is None
