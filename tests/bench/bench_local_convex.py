"""Round-trip latency of the local Convex runtime through the stock ConvexHttpClient.

Run: `.venv/bin/python tests/bench/bench_local_convex.py [--calls 1000] [--events 500]`.
Measures `functions:ping` (a trivial public query: the floor of HTTP +
queue + convex-test) and `qbQueue:getNextPendingQbEvent` (internal query,
admin key) with `--events` pending events in the queue, so the bridge's most
frequent read is timed against a non-empty index. Prints p50/p99/max in ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from support.local_convex import LocalConvex

EMPLOYEE = "bench-employee"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(name: str, calls: int, call: Callable[[], Any]) -> None:
    for _ in range(min(50, calls)):  # warm-up: connection pool, JIT, module caches
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    print(
        f"{name:<42} n={calls}  p50={percentile(samples, 50):.2f} ms  "
        f"p99={percentile(samples, 99):.2f} ms  max={max(samples):.2f} ms  "
        f"mean={statistics.fmean(samples):.2f} ms"
    )


def seed(runtime: LocalConvex, events: int) -> None:
    runtime.admin_client().mutation("admins:grant", {"subject": EMPLOYEE})
    employee = runtime.client(EMPLOYEE)
    employee.mutation("inventory:upsertLocation", {"code": "WH", "qbSiteFullName": "Warehouse"})
    employee.mutation(
        "inventory:upsertReasonAccount", {"reasonCode": "COUNT", "qbAccountFullName": "Adj"}
    )
    runtime.admin_client().mutation(
        "parts:upsertBatch", {"parts": [{"sku": "B-1", "name": "Bolt", "qbItemFullName": "Bolt"}]}
    )
    for _ in range(events):
        employee.mutation(
            "inventory:createAdjustmentEvent",
            {"sku": "B-1", "location": "WH", "mode": "delta", "quantity": 1, "reasonCode": "COUNT"},
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--events", type=int, default=500)
    options = parser.parse_args()
    runtime = LocalConvex.start()
    try:
        anonymous = runtime.client()
        admin = runtime.admin_client()
        measure(
            "functions:ping (public query)",
            options.calls,
            lambda: anonymous.query("functions:ping"),
        )
        measure(
            "qbQueue:getNextPendingQbEvent (empty)",
            options.calls,
            lambda: admin.query("qbQueue:getNextPendingQbEvent", {}),
        )
        started = time.perf_counter()
        seed(runtime, options.events)
        seeded = time.perf_counter() - started
        print(f"seeded {options.events} pending events in {seeded:.1f} s")
        if admin.query("qbQueue:getNextPendingQbEvent", {}) is None:
            print("error: no pending event after seeding", file=sys.stderr)
            return 1
        measure(
            f"qbQueue:getNextPendingQbEvent ({options.events} pending)",
            options.calls,
            lambda: admin.query("qbQueue:getNextPendingQbEvent", {}),
        )
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
