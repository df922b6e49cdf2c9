"""exchange.py: conversion and redemption rules, table-driven."""

import pytest

from server_hub.creditbank import exchange
from server_hub.errors import ExchangeError, HubError, Insufficient

CASES = [
    # balance milli, consumed milli, price, rate -> consumed by this redemption or None (refused)
    (5000, 0, 50, 10, 5000),        # exactly everything
    (5000, 0, 51, 10, None),        # one point too many
    (5000, 4900, 1, 10, 100),       # 1 point at 10/credit = 0.1 credit
    (5000, 4901, 1, 10, None),      # 0.099 credit left is less than 1 point
    (1000, 0, 1, 3, 334),           # rounds the cost up: never gives points away
    (1000, 0, 3, 3, 1000),
    (0, 0, 1, 10, None),
    (-1000, 0, 1, 10, None),        # a reversed credit left the account negative
    (2500, 500, 20, 10, 2000),
]


@pytest.mark.parametrize("balance,consumed,price,rate,expect", CASES)
def test_decide(balance, consumed, price, rate, expect):
    if expect is None:
        with pytest.raises(Insufficient):
            exchange.decide(balance, consumed, price, rate)
    else:
        assert exchange.decide(balance, consumed, price, rate) == expect
        assert exchange.available_milli(balance, consumed + expect) >= 0


@pytest.mark.parametrize("milli,rate,points", [(5000, 10, 50), (999, 10, 9), (1, 1000, 1),
                                               (0, 10, 0), (-1, 10, -1), (333, 3, 0)])
def test_points_of(milli, rate, points):
    assert exchange.points_of(milli, rate) == points


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True, 10 ** 7])
def test_rate_checked(bad):
    with pytest.raises(ExchangeError):
        exchange.check_rate(bad)


@pytest.mark.parametrize("bad", [0, -5, 2.0, None, 10 ** 10])
def test_price_checked(bad):
    with pytest.raises(ExchangeError):
        exchange.check_price(bad)


@pytest.mark.parametrize("key,ok", [("0b7c7c9e-1b1a-4f0c", True), ("short", False),
                                    ("has space in it", False), ("x" * 101, False),
                                    ("a:b.c_d-e", True)])
def test_key_checked(key, ok):
    if ok:
        assert exchange.check_key(key) == key
    else:
        with pytest.raises(ExchangeError):
            exchange.check_key(key)


def test_exchange_errors_in_the_hub_tree():
    # one tree: a boundary that catches HubError catches a broken rule; not a ValueError
    assert issubclass(Insufficient, ExchangeError) and issubclass(ExchangeError, HubError)
    assert not issubclass(ExchangeError, ValueError)
