"""Point expiry, the pure rule (creditbank/exchange.py "point expiry"): oldest credits are
consumed first, a debit never uses credits that had expired on its day, what no credit
covers is a debt the next credit pays, and with expiry off it is exactly balance - consumed."""

import random

import pytest

from server_hub.creditbank import exchange as ex
from server_hub.errors import ExchangeError


@pytest.mark.parametrize("day,months,expect", [
    ("2024-02-29", 12, "2025-02-28"), ("2024-01-31", 1, "2024-02-29"),
    ("2023-01-31", 1, "2023-02-28"), ("2024-12-15", 1, "2025-01-15"),
    ("2024-11-30", 3, "2025-02-28"), ("2000-02-29", 48, "2004-02-29"),
    ("1899-02-28", 12, "1900-02-28"), ("2024-01-31", 24, "2026-01-31"),
    ("2026-06-01", 0, "2026-06-01")])
def test_add_months_clamps_to_the_month_end(day, months, expect):
    assert ex.add_months(day, months) == expect


# (credits, debits, today, months) -> (exchangeable milli, [(expiry day, milli)])
CASES = [
    ("off", [("2020-01-01", 5000)], [], "2026-01-01", 0, (5000, [])),
    ("the day before expiry it counts", [("2024-01-10", 5000)], [], "2025-01-09", 12,
     (5000, [("2025-01-10", 5000)])),
    ("on its expiry day it no longer counts", [("2024-01-10", 5000)], [], "2025-01-10", 12,
     (0, [])),
    ("oldest consumed first", [("2024-01-01", 3000), ("2024-06-01", 3000)],
     [("2024-07-01", 2000)], "2025-02-01", 12, (3000, [("2025-06-01", 3000)])),
    ("a debit after expiry uses only credits still counting",
     [("2024-01-01", 3000), ("2025-03-01", 3000)], [("2025-04-01", 2000)], "2025-04-02", 12,
     (1000, [("2026-03-01", 1000)])),
    ("a debit before any credit is a debt the next credit pays",
     [("2024-02-01", 3000)], [("2024-01-01", 1000)], "2024-03-01", 12,
     (2000, [("2025-02-01", 2000)])),
    ("overdrawn stays negative", [("2024-01-01", 1000)], [("2024-02-01", 3000)],
     "2024-03-01", 12, (-2000, [])),
    ("credit and debit on the same day", [("2024-01-01", 1000)], [("2024-01-01", 1000)],
     "2024-01-02", 12, (0, [])),
    ("lots expiring the same day are summed", [("2024-01-01", 1000), ("2024-01-01", 500)],
     [], "2024-06-01", 12, (1500, [("2025-01-01", 1500)])),
    ("a debit spanning two lots", [("2024-01-01", 1000), ("2024-02-01", 1000)],
     [("2024-03-01", 1500)], "2024-12-01", 12, (500, [("2025-02-01", 500)])),
]


@pytest.mark.parametrize("name,credits,debits,today,months,expect", CASES,
                         ids=[c[0] for c in CASES])
def test_expiring(name, credits, debits, today, months, expect):
    assert ex.expiring(credits, debits, today, months) == expect


def test_without_expiry_it_is_balance_minus_consumed():
    rng = random.Random(7)
    for _ in range(300):
        days = sorted(f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                      for _ in range(rng.randint(0, 12)))
        credits = [(d, rng.randint(1, 3000)) for d in days if rng.random() < 0.6]
        debits = [(d, rng.randint(1, 3000)) for d in days if rng.random() < 0.5]
        total = sum(m for _, m in credits) - sum(m for _, m in debits)
        assert ex.expiring(credits, debits, "2025-01-01", 0)[0] == total
        assert ex.expiring(credits, debits, "2025-01-01", 600)[0] == total   # none expired
        expired = ex.expiring(credits, debits, "2025-01-01", 1)[0]
        assert expired <= total                       # expiry only ever takes away


@pytest.mark.parametrize("bad", [{"months": -1}, {"months": 601}, {"months": "24"},
                                 {"months": True}, {}, {"months": 1, "days": 2}, None, 24])
def test_expiry_setting_refused_in_words(bad):
    with pytest.raises(ExchangeError, match="months"):
        ex.check_expiry(bad)


def test_expiry_setting_accepted():
    assert ex.check_expiry({"months": 0}) == {"months": 0}
    assert ex.check_expiry({"months": 24}) == {"months": 24}
