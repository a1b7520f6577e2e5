"""Beyond the tutorial: what one client may send (RateLimit, used by
chat/consumers.py). What the server holds for one client under Daphne is
bounded in chat/daphne_flow_control.py."""

import time

# Frames refused per second, at most, to one client over its rate limit: the
# rest wait, unread, so that a flood costs the server little.
REFUSED_PER_SECOND = 100


class RateLimit:
    """A token bucket: `burst` at once, then `rate` a second on average."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.last = time.monotonic()

    def allows(self):
        """Take one token if there is one; False if the limit is reached."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
