"""Learner sign-in rules, pure: what a PIN may be, and when wrong tries lock an account or a
client address (no clock, no store: the time and the counts are passed in).

Theory of operation. Two counters guard the learner portal's sign-in, each a `Guard`:

    per account   ACCOUNT: 5 wrong PINs in a row lock the account for 15 min; each further
                  lockout without a good sign-in in between doubles it (30 min, 1 h, ...,
                  at most 24 h). A good sign-in or a PIN reset at the desk clears it.
    per address   ADDRESS: 20 wrong tries (any account, known or not) within 10 min lock
                  the client address (IPv6: its /64) for 15 min, doubling the same way.

While a guard is locked nothing is checked (no PIN hash is computed), so a locked attacker
costs the hub nothing. Counting happens after a wrong PIN, inside the write transaction,
so parallel tries are all counted; a right PIN that arrives once the lock is set is refused.
"""

from __future__ import annotations

import ipaddress


class Policy:
    def __init__(self, max_failures: int, window_s: float, lock_s: float,
                 max_lock_s: float = 86400.0):
        self.max_failures = max_failures   # wrong tries that lock
        self.window_s = window_s           # ... within this long (0: in a row, no window)
        self.lock_s = lock_s               # the first lock; doubled per further lockout
        self.max_lock_s = max_lock_s


ACCOUNT = Policy(max_failures=5, window_s=0, lock_s=15 * 60)
ADDRESS = Policy(max_failures=20, window_s=10 * 60, lock_s=15 * 60)


class Guard:
    """One counter's state: wrong tries, when the window started, locked until, lockouts."""

    def __init__(self, failures: int = 0, window_start: float = 0.0,
                 locked_until: float = 0.0, lockouts: int = 0):
        self.failures = failures
        self.window_start = window_start
        self.locked_until = locked_until
        self.lockouts = lockouts

    def locked(self, now: float) -> bool:
        return self.locked_until > now

    def fail(self, policy: Policy, now: float) -> bool:
        """Count one wrong try; -> True when this try locks (locked_until is then set)."""
        if policy.window_s and now - self.window_start >= policy.window_s:
            self.failures, self.window_start = 0, now
        if self.locked_until and self.locked_until <= now and self.failures >= policy.max_failures:
            self.failures = 0                       # a lock that ran out starts a new count
        self.failures += 1
        if self.failures < policy.max_failures:
            return False
        self.lockouts += 1
        self.locked_until = now + min(policy.lock_s * 2 ** min(self.lockouts - 1, 16),
                                      policy.max_lock_s)
        return True

    def succeed(self) -> None:
        self.failures, self.window_start, self.locked_until, self.lockouts = 0, 0.0, 0.0, 0


def address_key(host: str | None) -> str:
    """The counter key of a client address: IPv4 as is, IPv6 by its /64 (one host owns a
    whole /64, so counting single v6 addresses would let it step around the limit)."""
    try:
        ip = ipaddress.ip_address((host or "").split("%")[0])
    except ValueError:
        return "other:" + (host or "?")[:60]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


MIN_PIN, MAX_PIN = 6, 64


def check_pin(pin: str, learner_id: str = "") -> str | None:
    """-> None when `pin` may be set, else the reason in words (for the person at the desk)."""
    if not isinstance(pin, str) or not MIN_PIN <= len(pin) <= MAX_PIN:
        return f"a PIN has {MIN_PIN} to {MAX_PIN} characters"
    if any(ord(ch) < 32 or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF for ch in pin):
        return "a PIN may not contain control characters"
    if len(set(pin)) == 1:
        return "a PIN of one repeated character is too easy to guess"
    if pin.isdigit():
        steps = {int(b) - int(a) for a, b in zip(pin, pin[1:])}
        if steps in ({1}, {-1}):
            return "a PIN of consecutive digits (123456, 654321) is too easy to guess"
    if learner_id and learner_id.lower() in pin.lower():
        return "a PIN may not contain the account number"
    return None
