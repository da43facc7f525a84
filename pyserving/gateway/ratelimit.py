"""Per-key token buckets: ``rate_per_s`` refill, ``burst`` capacity, Retry-After on refusal.

Why a token bucket: it allows the short bursts a front end produces (a page
load firing a few calls) while holding the long-run rate. Buckets live in the
process: with ``--workers N`` each worker holds its own, so a key can get up
to N x its rate in total (documented in docs/gateway.md; set rates per worker).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Not thread-safe: used from the event loop only."""

    rate_per_s: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Takes one token; returns 0 if granted, else seconds until one is available."""
        if math.isinf(self.rate_per_s):
            return 0.0
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """One bucket per key id, rebuilt when the key's limits change (keys file reload).

    Not thread-safe: used from the event loop only.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key_id: str, rate_per_s: float, burst: float) -> float:
        """0 if the call may go ahead, else the seconds to wait (for Retry-After)."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate_per_s != rate_per_s or bucket.burst != burst:
            bucket = self._buckets[key_id] = TokenBucket(rate_per_s, burst, burst, now)
        return bucket.take(now)

    def forget_except(self, key_ids: set[str]) -> None:
        """Drops buckets of keys that no longer exist (after a keys file reload)."""
        for key_id in set(self._buckets) - key_ids:
            del self._buckets[key_id]


def retry_after_header(wait_s: float) -> str:
    """HTTP Retry-After is whole seconds; round up so a client that obeys it succeeds."""
    return str(max(1, math.ceil(wait_s)))
