# rtc_clock: the reader's wall clock in unix seconds, 0 while unknown.
#
# RTCClock keeps time in machine.RTC (kept across soft resets; ESP32 and RP2
# boards have no backup battery, so a power cut resets it to 2000 or 2021).
# A reading before VALID_FROM (2024-01-01) therefore means "not set since
# power-up" and now() returns 0. TicksClock is for boards without an RTC: it
# counts ticks_ms from the moment set() was called, folding the elapsed time
# in on every now() so the 2**30 ms tick wrap never shows (now() must be called
# at least once every 6 days, which any reader loop does).
# The agent sets the clock when the link comes up; the hub flags skew.
from drivers.timebase import ticks_diff, ticks_ms

VALID_FROM = 1704067200  # 2024-01-01T00:00:00Z
_DAY = 86400


def days_from_civil(year, month, day):
    # Gregorian date -> days since 1970-01-01 (H. Hinnant's algorithm, integers only)
    year -= 1 if month <= 2 else 0
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    # days since 1970-01-01 -> (year, month, day)
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return (year + (1 if month <= 2 else 0), month, day)


def _check(unix_seconds):
    if unix_seconds < VALID_FROM:
        raise ValueError("clock value {} is before 2024; the agent's clock looks wrong"
                         .format(unix_seconds))


class RTCClock:
    def __init__(self, rtc):
        self._rtc = rtc

    def now(self):
        year, month, day, _, hour, minute, second, _ = self._rtc.datetime()
        value = days_from_civil(year, month, day) * _DAY + hour * 3600 + minute * 60 + second
        return value if value >= VALID_FROM else 0

    def set(self, unix_seconds):
        unix_seconds = int(unix_seconds)
        _check(unix_seconds)
        days = unix_seconds // _DAY
        rest = unix_seconds - days * _DAY
        year, month, day = civil_from_days(days)
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        self._rtc.datetime((year, month, day, weekday, rest // 3600, rest // 60 % 60,
                            rest % 60, 0))


class TicksClock:
    def __init__(self, clock=ticks_ms):
        self._clock = clock
        self._base = 0  # unix seconds when set() was called; 0 = never set
        self._elapsed_ms = 0
        self._last = clock()

    def now(self):
        if not self._base:
            return 0
        t = self._clock()
        self._elapsed_ms += ticks_diff(t, self._last)
        self._last = t
        return self._base + self._elapsed_ms // 1000

    def set(self, unix_seconds):
        unix_seconds = int(unix_seconds)
        _check(unix_seconds)
        self._base = unix_seconds
        self._elapsed_ms = 0
        self._last = self._clock()
