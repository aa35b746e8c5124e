"""/metrics in Prometheus text format, for operators only.

Off (404) unless METRICS_TOKEN is set; then every scrape must carry
`Authorization: Bearer <token>` (compared in constant time; 401 otherwise).
What it shows:

- queue figures from `qbQueue:getQueueStatus` (events by qbStatus, due
  events, the oldest due event's age, open sessions), read through a
  `CachedProbe`, so however often it is scraped Convex sees at most one
  read per QUEUE_TTL_SECONDS;
- SOAP calls by QBWC method and outcome, and their duration;
- Convex call latency by function path and outcome (retries included).

Label values come from fixed sets (QBWC's method names, our function
paths), so no caller can grow the number of series.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from qbwc_bridge.cached import CachedProbe
from qbwc_bridge.contract import QueueStatus
from qbwc_bridge.convex_gateway import ConvexCallError, ConvexUnavailable
from qbwc_bridge.logging import get_logger

log = get_logger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUE_TTL_SECONDS = 10.0
QBWC_METHODS = frozenset(
    {
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "connectionError",
        "getLastError",
        "closeConnection",
    }
)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def soap_method_label(method: str | None) -> str:
    return method if method in QBWC_METHODS else "unknown"


class _QueueCollector(Collector):
    def __init__(self, probe: CachedProbe[QueueStatus | None]) -> None:
        self._probe = probe

    def describe(self) -> Iterator[Metric]:
        # Without this the registry would collect (read Convex) to learn the names.
        return iter(())

    def collect(self) -> Iterator[Metric]:
        probed = self._probe.get()
        status = probed.value if probed is not None else None
        up = GaugeMetricFamily(
            "qbwc_bridge_queue_status_up", "1 when the last read of the queue status worked"
        )
        up.add_metric([], 0 if status is None else 1)
        yield up
        if probed is None or status is None:
            return
        age = GaugeMetricFamily(
            "qbwc_bridge_queue_status_age_seconds", "Age of the queue figures (they are cached)"
        )
        age.add_metric([], max(0.0, self._probe.age(probed)))
        yield age
        events = GaugeMetricFamily(
            "qbwc_bridge_queue_events", "Events by qbStatus", labels=["qb_status"]
        )
        for qb_status, count in sorted(status.counts.items()):
            events.add_metric([qb_status], count)
        yield events
        due = GaugeMetricFamily("qbwc_bridge_queue_due_events", "Events due to be sent now")
        due.add_metric([], status.due_count)
        yield due
        oldest = GaugeMetricFamily(
            "qbwc_bridge_queue_oldest_due_age_seconds",
            "How long the oldest due event has waited (0 when none is due)",
        )
        oldest.add_metric([], status.oldest_due_age_seconds or 0.0)
        yield oldest
        sessions = GaugeMetricFamily("qbwc_bridge_open_sessions", "Open Web Connector sessions")
        sessions.add_metric([], len(status.open_sessions))
        yield sessions


class BridgeMetrics:
    """The bridge's counters; `render()` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._soap_calls = Counter(
            "qbwc_bridge_soap_calls",
            "SOAP calls by QBWC method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self._soap_seconds = Histogram(
            "qbwc_bridge_soap_call_seconds",
            "Time to answer one SOAP call, by QBWC method",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._convex_seconds = Histogram(
            "qbwc_bridge_convex_call_seconds",
            "Convex call latency by function path and outcome, retries included",
            ["function", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch_queue(self, read: Callable[[], QueueStatus]) -> None:
        """Adds the queue figures, read with `read` (cached; failures show as up=0)."""

        def probe() -> QueueStatus | None:
            try:
                return read()
            except (ConvexUnavailable, ConvexCallError) as error:
                log.warning("metrics_queue_status_failed", error=str(error))
                return None

        self.registry.register(_QueueCollector(CachedProbe(probe, QUEUE_TTL_SECONDS)))

    def observe_soap(self, method: str | None, outcome: str, seconds: float) -> None:
        label = soap_method_label(method)
        self._soap_calls.labels(label, outcome).inc()
        self._soap_seconds.labels(label).observe(seconds)

    def observe_convex(self, path: str, seconds: float, outcome: str) -> None:
        self._convex_seconds.labels(path, outcome).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def authorized(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    )
