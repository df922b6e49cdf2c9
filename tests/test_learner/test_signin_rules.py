"""The pure sign-in rules (server_hub/core/signin.py): lockout per account and per address,
doubling locks, address keys, which PINs may be set."""

from server_hub.core import signin


def test_account_locks_after_five_in_a_row_and_doubles():
    g, p = signin.Guard(), signin.ACCOUNT
    assert [g.fail(p, 100) for _ in range(5)] == [False] * 4 + [True]
    assert g.locked(100) and g.locked_until == 100 + 15 * 60
    after = g.locked_until
    assert not g.locked(after)
    assert [g.fail(p, after + 1) for _ in range(5)][-1]       # the second lockout
    assert g.locked_until == after + 1 + 30 * 60
    g.succeed()
    assert not g.locked(after + 2) and g.failures == 0 and g.lockouts == 0


def test_lock_never_exceeds_a_day():
    g = signin.Guard(lockouts=40)
    for _ in range(5):
        g.fail(signin.ACCOUNT, 0)
    assert g.locked_until == 86400


def test_address_counts_within_its_window():
    g, p = signin.Guard(), signin.ADDRESS
    for i in range(19):
        assert not g.fail(p, 1000 + i)
    assert not g.fail(p, 1000 + 600)          # the window ran out: a new count starts
    assert g.failures == 1
    for i in range(18):
        g.fail(p, 1700 + i)
    assert g.fail(p, 1720) and g.locked(1720)


def test_address_key():
    assert signin.address_key("192.0.2.7") == "192.0.2.7"
    assert signin.address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert signin.address_key("2001:db8:1:2:aaaa::1") == signin.address_key("2001:db8:1:2::99") \
        == "2001:db8:1:2::/64"
    assert signin.address_key(None) == "other:?"
    assert len(signin.address_key("x" * 500)) <= 66


def test_check_pin():
    ok = ["482915", "kite-lantern-77", "x" * 5 + "y"]
    bad = {"12345": "6 to 64", "1" * 65: "6 to 64", "000000": "repeated", "123456": "consecutive",
           "987654": "consecutive", "ab\ncdef": "control", "xxL-0001xx": "account number"}
    for pin in ok:
        assert signin.check_pin(pin, "L-0001") is None, pin
    for pin, why in bad.items():
        assert why in signin.check_pin(pin, "L-0001"), pin
