# dual: micropython
# Reader wall clock: calendar arithmetic, RTC-backed and ticks-backed clocks.

from drivers.timebase import ticks_add
from drivers.rtc_clock import (VALID_FROM, RTCClock, TicksClock,
                               civil_from_days, days_from_civil)
from fakehw_machine import FakeMachine


def test_calendar_known_dates():
    assert days_from_civil(1970, 1, 1) == 0
    assert days_from_civil(2000, 3, 1) == 11017
    assert days_from_civil(2024, 1, 1) * 86400 == VALID_FROM
    assert days_from_civil(2038, 1, 19) == 24855  # the 32-bit time_t day
    assert civil_from_days(0) == (1970, 1, 1)
    assert civil_from_days(19782) == (2024, 2, 29)


def test_calendar_round_trip_over_centuries_and_leap_days():
    day = days_from_civil(1999, 12, 25)
    last = None
    for _ in range(80 * 12):
        year, month, dom = civil_from_days(day)
        assert days_from_civil(year, month, dom) == day
        if last is not None:
            assert (year, month, dom) > last
        last = (year, month, dom)
        day += 31  # walks across month ends, Feb 29 of 2000/2004/.., and 2100 (no leap)
    assert civil_from_days(days_from_civil(2100, 2, 28) + 1) == (2100, 3, 1)


def test_rtc_clock_unknown_until_set():
    machine = FakeMachine()
    clock = RTCClock(machine.RTC())
    assert clock.now() == 0  # RTC at its power-up 2000-01-01
    machine.rtc_datetime = (2021, 1, 1, 4, 0, 0, 0, 0)  # an RP2 after reset
    assert clock.now() == 0


def test_rtc_clock_set_and_read():
    machine = FakeMachine()
    clock = RTCClock(machine.RTC())
    t = 1767225599  # 2025-12-31 23:59:59 UTC, a Wednesday
    clock.set(t)
    assert machine.rtc_datetime == (2025, 12, 31, 2, 23, 59, 59, 0)
    assert clock.now() == t
    machine.rtc_datetime = (2026, 1, 1, 3, 0, 0, 1, 0)  # the RTC ticked on
    assert clock.now() == t + 2


def test_clock_refuses_a_time_before_2024():
    for clock in (RTCClock(FakeMachine().RTC()), TicksClock()):
        try:
            clock.set(1000)
        except ValueError as exc:
            assert "agent" in str(exc)
            continue
        raise AssertionError("accepted a 1970 time")


def test_ticks_clock_counts_and_survives_tick_wrap():
    ms = [0]
    clock = TicksClock(lambda: ms[0])
    assert clock.now() == 0
    clock.set(1800000000)
    ms[0] = 2500
    assert clock.now() == 1800000002
    # ticks_ms wraps at the port's period: 2**30 ms (~12.4 days) on ESP32/RP2
    # and CPython's compat (2**62 on the 64-bit unix port); run 20 days of it
    period = ticks_add(0, -1) + 1
    assert period >= 1 << 30
    for hour in range(1, 20 * 24 + 1):
        ms[0] = (2500 + hour * 3600000) % period
        assert clock.now() == 1800000002 + hour * 3600
