"""exchange: the pure rules of 兑换 (credits for services). No database, clock or network.

Credits are integer thousandths (`*_milli`, as in the ledger). A configured rate says how many
exchangeable points one credit is worth (`points_per_credit`, a whole number >= 1). A
redemption of a service priced P points consumes ceil(P * 1000 / rate) milli-credits, fixed at
the moment of redemption, so a later change of rate never rewrites a redemption:

    available credits = ledger balance - credits consumed by redemptions (net of reversals)
    available points  = floor(available credits * rate / 1000)

A redemption is allowed only when it leaves available credits >= 0, decided under the
learner's lock (bank.py), so concurrent redemptions can never overdraw. A credit reversal in
the ledger after a redemption can make the available amount negative; then nothing can be
redeemed until new credits arrive (the redemption itself stands: it is undone only by an
explicit reversal entry).
"""

from __future__ import annotations

from server_hub.errors import ExchangeError, Insufficient  # the hub's error tree (errors.py)

MILLI = 1000
MAX_POINTS = 10 ** 9
KEY_MAX = 100

def check_rate(points_per_credit) -> int:
    if isinstance(points_per_credit, bool) or not isinstance(points_per_credit, int) \
            or not 1 <= points_per_credit <= 1_000_000:
        raise ExchangeError("points_per_credit must be a whole number from 1 to 1000000 "
                            "(e.g. 10: one credit is worth 10 points)")
    return points_per_credit


def check_price(price_points) -> int:
    if isinstance(price_points, bool) or not isinstance(price_points, int) \
            or not 1 <= price_points <= MAX_POINTS:
        raise ExchangeError(f"price_points must be a whole number from 1 to {MAX_POINTS}")
    return price_points


def check_key(key) -> str:
    if not isinstance(key, str) or not 8 <= len(key) <= KEY_MAX \
            or not all(c.isalnum() or c in "-_.:" for c in key):
        raise ExchangeError("the idempotency key must be 8-100 letters, digits, '-', '_', '.' "
                            "or ':' (a client-generated UUID is a good key); send the same key "
                            "again to retry the same redemption safely")
    return key


def credits_for(price_points: int, rate: int) -> int:
    """Milli-credits a redemption of `price_points` consumes at `rate` points per credit."""
    return -(-price_points * MILLI // rate)


def points_of(credits_milli: int, rate: int) -> int:
    """Whole points the milli-credits are worth (floor; negative stays negative)."""
    return (credits_milli * rate) // MILLI


def available_milli(balance_milli: int, consumed_milli: int) -> int:
    """consumed_milli: the net credits held by redemptions (>= 0)."""
    return balance_milli - consumed_milli


def decide(balance_milli: int, consumed_milli: int, price_points: int, rate: int) -> int:
    """-> milli-credits to consume, or raise Insufficient (nothing may go negative)."""
    return decide_available(available_milli(balance_milli, consumed_milli), price_points, rate)


def decide_available(available: int, price_points: int, rate: int) -> int:
    """-> milli-credits to consume from `available` milli-credits, or raise Insufficient."""
    cost = credits_for(check_price(price_points), check_rate(rate))
    if cost > available:
        raise Insufficient(f"not enough points: the service costs {price_points} points, the "
                           f"learner has {max(points_of(available, rate), 0)} available")
    return cost


# --- point expiry --------------------------------------------------------------------------
#
# A district may let credits stop counting toward *exchangeable* points some months after the
# day they were earned ({"months": 24}; {"months": 0}, the default, is off). The credits stay
# on the ledger and the transcript; only what they can buy ends. Theory of operation: replay
# the learner's history day by day. A credit earned on day D is a lot that counts from D
# until expires(D) = D + months (exclusive). A debit (a redemption not reversed, or a
# negative ledger entry) on day T consumes the oldest lots still counting on T first; what
# no lot covers is a debt the next lot pays first. Today's exchangeable credits are the
# lots still counting today, less any debt. With expiry off, or nothing expired, this is
# exactly ledger balance - credits consumed (available_milli).

MAX_EXPIRY_MONTHS = 600


def check_expiry(spec) -> dict:
    months = spec.get("months") if isinstance(spec, dict) and set(spec) == {"months"} else None
    if isinstance(months, bool) or not isinstance(months, int) \
            or not 0 <= months <= MAX_EXPIRY_MONTHS:
        raise ExchangeError('point expiry is {"months": 24} (credits stop counting toward '
                            'exchangeable points 24 months after the day they were earned; '
                            f'1-{MAX_EXPIRY_MONTHS}) or {{"months": 0}} (off)')
    return {"months": months}


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def add_months(day: str, months: int) -> str:
    """"2024-02-29" + 12 -> "2025-02-28": the same day of the month, clamped to its end."""
    year, month, dom = int(day[0:4]), int(day[5:7]), int(day[8:10])
    total = year * 12 + month - 1 + months
    year, month = total // 12, total % 12 + 1
    last = (31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return "{:04d}-{:02d}-{:02d}".format(year, month, min(dom, last))


def expiring(credits, debits, today: str, months: int):
    """credits: [(day, milli > 0)]; debits: [(day, milli > 0)] (days "YYYY-MM-DD").
    -> (exchangeable milli-credits today, [(expiry day, milli still counting)] soonest first).
    months == 0: nothing expires."""
    events = sorted([(d, 0, m) for d, m in credits] + [(d, 1, m) for d, m in debits])
    lots = []                      # [expires, remaining] oldest first
    debt = 0
    for day, kind, milli in events:
        if kind == 0:
            paid = min(debt, milli)
            debt -= paid
            if milli > paid:
                lots.append([add_months(day, months) if months else None, milli - paid])
            continue
        for lot in lots:
            if milli == 0:
                break
            if lot[1] and (lot[0] is None or lot[0] > day):
                take = min(lot[1], milli)
                lot[1] -= take
                milli -= take
        debt += milli
    upcoming: dict = {}
    left = 0
    for expires, remaining in lots:
        if remaining and (expires is None or expires > today):
            left += remaining
            if expires is not None:
                upcoming[expires] = upcoming.get(expires, 0) + remaining
    return left - debt, sorted(upcoming.items())
