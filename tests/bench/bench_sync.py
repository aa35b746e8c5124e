"""Sync throughput and Convex round trips: N events through QBWC simulator -> bridge -> local Convex.

Run: `.venv/bin/python tests/bench/bench_sync.py [--events 600] [--batch 25] [--delay-ms 0 50]`.
For each delay (every Convex call held that long, as a cloud deployment
30-100 ms away would), drains the queue in one QBWC session and prints:
Convex calls per SOAP method as the local runtime counted them (not the
bridge), QBWC exchanges, and wall time. Fails (exit 1) if any event is
missing or duplicated in QuickBooks.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support import qbwc_simulator
from support.bridge import PASSWORD, USERNAME, bridge_settings, serve_bridge
from support.local_convex import LocalConvex
from support.qbwc_simulator import QbwcSimulator
from support.world import build_world

from qbwc_bridge.logging import configure_logging


def counting_convex_calls(runtime: LocalConvex) -> defaultdict[str, Counter[str]]:
    """Wraps the simulator's SOAP client: after each SOAP call, what Convex ran for it."""
    per_method: defaultdict[str, Counter[str]] = defaultdict(Counter)
    original = qbwc_simulator.SoapClient.call

    def call(self: qbwc_simulator.SoapClient, method: str, **params: Any) -> Any:
        runtime.calls(reset=True)
        try:
            return original(self, method, **params)
        finally:
            per_method[method]["soap"] += 1
            for name, count in runtime.calls(reset=True).items():
                per_method[method][name] += count

    qbwc_simulator.SoapClient.call = call  # type: ignore[method-assign]
    return per_method


def drain(
    runtime: LocalConvex,
    per_method: defaultdict[str, Counter[str]],
    events: int,
    batch: int,
    delay_ms: int,
) -> bool:
    runtime.reset()
    per_method.clear()
    runtime.set_delay(0)
    world = build_world(runtime.url, runtime.admin_key)
    world.adjust("00123", "WH", events * 2, mode="set")
    for _ in range(events - 1):
        world.transfer("00123", "WH", "TRUCK-1", 1)
    settings = bridge_settings(runtime.url, runtime.admin_key, QBWC_BATCH_SIZE=str(batch))
    with serve_bridge(settings) as bridge:
        runtime.set_delay(delay_ms)
        started = time.perf_counter()
        report = QbwcSimulator(bridge.soap_url, USERNAME, PASSWORD, world.quickbooks).run_session()
        elapsed = time.perf_counter() - started
        runtime.set_delay(0)
    applied = int(world.queue()["counts"]["applied"])
    refs = [t.ref_number for t in world.quickbooks.transactions]
    exchanges = len(report.requests)
    print(f"\n-- {events} events, batch {batch}, every Convex call delayed {delay_ms} ms")
    print(
        f"{'SOAP method':<20}{'SOAP calls':>11}{'Convex calls':>14}{'per SOAP call':>15}  functions"
    )
    total_convex = 0
    for method, counts in per_method.items():
        soap = counts["soap"]
        convex = sum(v for k, v in counts.items() if k != "soap")
        total_convex += convex
        names = ", ".join(sorted(k.split(" ", 1)[1] for k in counts if k != "soap")) or "-"
        print(f"{method:<20}{soap:>11}{convex:>14}{convex / soap:>15.2f}  {names}")
    print(
        f"applied: {applied}  QuickBooks transactions: {len(refs)}  exchanges: {exchanges}  "
        f"Convex calls per exchange: {(total_convex) / max(exchanges, 1):.2f}"
    )
    print(f"wall time: {elapsed:.2f} s  ({events / elapsed:.0f} events/s, QuickBooks simulated)")
    return applied == events and len(refs) == len(set(refs)) == events


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--delay-ms", type=int, nargs="+", default=[0, 50])
    options = parser.parse_args()
    configure_logging("json", "error")
    runtime = LocalConvex.start("--test-clock")
    try:
        per_method = counting_convex_calls(runtime)
        results = [
            drain(runtime, per_method, options.events, options.batch, delay)
            for delay in options.delay_ms
        ]
        return 0 if all(results) else 1
    finally:
        runtime.stop()


if __name__ == "__main__":
    sys.exit(main())
