"""The global rate limit shared by every worker: ``build_limiter`` and ``RateGate``.

One ``pyrate_limiter.Limiter`` for all workers, consulted before every HTTP attempt
(retries included); see docs/execution.md, "Rate limit and workers".
"""

from __future__ import annotations

import math
import time
from fractions import Fraction

from pyrate_limiter import InMemoryBucket, Limiter, Rate, RateItem

__all__ = ["RateGate", "build_limiter"]


def build_limiter(rate_per_s: float) -> Limiter:
    """A limiter allowing ``rate_per_s`` calls per second, evenly spaced.

    Two pyrate-limiter rates (a window of N ms admits a new item when fewer than the
    limit were recorded in the last N + 1 milliseconds, hence the ``- 1``):

    - pace: ``k`` permits per ``k * 1000 / rate_per_s`` ms, ``k`` = ceil(rate_per_s / 100)
      (one every 20 ms at 50/s), so no burst of a whole second's permits that network
      jitter could push into the next second as OMEGA counts them;
    - cap: never more than ``rate_per_s`` (2.5/s: 5 per 2 s) in any sliding window, with
      one millisecond to spare.
    """
    group = max(1, math.ceil(rate_per_s / 100))
    pace_ms = max(2, round(group * 1000 / rate_per_s))
    fraction = Fraction(rate_per_s).limit_denominator(1000)
    cap = Rate(fraction.numerator, fraction.denominator * 1000)
    rates = [Rate(group, pace_ms - 1), cap] if group < fraction.numerator else [cap]
    return Limiter(InMemoryBucket(rates), buffer_ms=1)


class RateGate:
    """Blocks until the shared limiter grants one permit, stamped with the real time.

    pyrate-limiter's own blocking wait re-submits the permit with its *planned* time
    after sleeping, so a late wake-up is counted earlier than the call really went out.
    Here every attempt is a non-blocking acquisition at the current time and the wait
    in between is the bucket's own estimate: the limit holds in real time. Waits are
    real (time.sleep): the rate limit is about the wall clock, whatever sleep the
    client's retries are given.
    """

    def __init__(self, rate_per_s: float) -> None:
        self.limiter = build_limiter(rate_per_s)
        (self._bucket,) = self.limiter.buckets()

    def __call__(self, operation: str = "") -> None:
        while not self.limiter.try_acquire("omega", blocking=False):
            now: int = self._bucket.now()  # type: ignore[no-untyped-call]
            wait_ms = self._bucket.waiting(RateItem("omega", now))
            wait_s = (wait_ms if isinstance(wait_ms, int) else 1) / 1000
            time.sleep(max(0.0002, wait_s - 0.0008))  # wake just before the permit frees
