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
    cost = credits_for(check_price(price_points), check_rate(rate))
    left = available_milli(balance_milli, consumed_milli)
    if cost > left:
        raise Insufficient(f"not enough points: the service costs {price_points} points, the "
                           f"learner has {max(points_of(left, rate), 0)} available")
    return cost
