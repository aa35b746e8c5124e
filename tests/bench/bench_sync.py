"""Sync throughput: N events through QBWC simulator -> bridge -> local Convex.

Run: `.venv/bin/python tests/bench/bench_sync.py [--events 500] [--batch 25]`.
Prints events per QBWC exchange, SOAP round trips per 100 events and wall
time; fails (exit 1) if any event is missing or duplicated in QuickBooks.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.bridge import PASSWORD, USERNAME, bridge_settings, serve_bridge
from support.local_convex import LocalConvex
from support.qbwc_simulator import QbwcSimulator
from support.world import build_world

from qbwc_bridge.logging import configure_logging


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--batch", type=int, default=25)
    options = parser.parse_args()
    configure_logging("json", "error")
    runtime = LocalConvex.start("--test-clock")
    try:
        world = build_world(runtime.url, runtime.admin_key)
        world.adjust("00123", "WH", options.events * 2, mode="set")
        for _ in range(options.events - 1):
            world.transfer("00123", "WH", "TRUCK-1", 1)
        settings = bridge_settings(
            runtime.url, runtime.admin_key, QBWC_BATCH_SIZE=str(options.batch)
        )
        with serve_bridge(settings) as bridge:
            started = time.perf_counter()
            report = QbwcSimulator(
                bridge.soap_url, USERNAME, PASSWORD, world.quickbooks
            ).run_session()
            elapsed = time.perf_counter() - started
        applied = int(world.queue()["counts"]["applied"])
        refs = [t.ref_number for t in world.quickbooks.transactions]
        exchanges = len(report.requests)
        print(
            f"events: {options.events}  batch: {options.batch}  applied: {applied}  QuickBooks transactions: {len(refs)}"
        )
        print(
            f"QBWC exchanges (send+receive pairs): {exchanges}  events per exchange: {applied / max(exchanges, 1):.1f}"
        )
        print(
            f"SOAP round trips: {len(report.calls)}  per 100 events: {len(report.calls) * 100 / options.events:.1f}"
        )
        print(
            f"wall time: {elapsed:.2f} s  ({options.events / elapsed:.0f} events/s, excluding QuickBooks itself)"
        )
        ok = applied == options.events and len(refs) == len(set(refs)) == options.events
        return 0 if ok else 1
    finally:
        runtime.stop()


if __name__ == "__main__":
    sys.exit(main())
