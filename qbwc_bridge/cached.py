"""A value fetched from Convex at most once per `ttl`, by one thread at a time.

/healthz and /metrics answer anyone who asks (a load balancer, a scraper, an
attacker), so they must not turn requests into Convex calls: a burst of them
would load Convex and, with Convex slow, hold every server thread. With a
`CachedProbe` one thread refreshes the value while the others answer at once
with the last one (stale while the refresh runs), or with nothing while the
very first probe runs: nobody ever waits for another thread's probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Probed(Generic[T]):
    value: T
    at: float  # the clock's time when it was fetched


class CachedProbe(Generic[T]):
    """`probe` must not raise: it returns its own "down" value when the fetch fails."""

    def __init__(
        self,
        probe: Callable[[], T],
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self.ttl = ttl
        self._clock = clock
        self._refreshing = threading.Lock()
        self._latest: Probed[T] | None = None

    def age(self, probed: Probed[T]) -> float:
        """Seconds since `probed` was fetched."""
        return self._clock() - probed.at

    def get(self) -> Probed[T] | None:
        """The latest value (fresh or, while another thread refreshes it, stale);
        None while the first probe runs in another thread."""
        latest = self._latest
        if latest is not None and self._clock() - latest.at < self.ttl:
            return latest
        if not self._refreshing.acquire(blocking=False):
            return self._latest
        try:
            latest = self._latest
            if latest is not None and self._clock() - latest.at < self.ttl:
                return latest  # refreshed by another thread just now
            self._latest = Probed(self._probe(), self._clock())
            return self._latest
        finally:
            self._refreshing.release()
