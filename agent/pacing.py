"""Token bucket: paces the backlog drain so stations coming back together don't flatten the hub.

Pure: the caller passes the time. rate = tokens (records) per second, 0 = unlimited;
burst = the most tokens that accumulate. Tokens may start negative: a random head start
that spreads thousands of reconnecting stations over time.
"""


class TokenBucket:
    def __init__(self, rate, burst, now=0.0):
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    @property
    def unlimited(self):
        return self.rate <= 0

    def _refill(self, now):
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def reset(self, now, tokens):
        self.tokens = min(self.burst, float(tokens))
        self.stamp = now

    def available(self, now):
        if self.unlimited:
            return float("inf")
        self._refill(now)
        return self.tokens

    def ready(self, n, now):
        """n tokens available (with a hair of slack for float rounding)?"""
        return self.available(now) + 1e-6 >= min(n, self.burst)

    def take(self, n, now):
        if not self.unlimited:
            self._refill(now)
            self.tokens -= n

    def time_until(self, n, now):
        """Seconds until n tokens are available (0 if they are)."""
        if self.unlimited:
            return 0.0
        self._refill(now)
        missing = min(n, self.burst) - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate
