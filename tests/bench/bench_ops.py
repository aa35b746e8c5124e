"""The operator page (/ops) under a realistic backlog: render time and page weight.

Run from the repo root: `.venv/bin/python tests/bench/bench_ops.py [--events 10000]
[--dead 500] [--held 200] [--loads 100]`.

Set-up, on the local Convex runtime, with the bridge serving /ops over real HTTP:

- the test world (5 parts, 4 locations on 3 QuickBooks sites), the installation's first
  QBWC run (capabilities, lists);
- a drift report through the real flow: 60 items only in QuickBooks plus hand changes,
  `qbRecon:requestSnapshot`, one QBWC run (the snapshot), one page load (builds the report),
  so the page carries its longest drift table (50 rows);
- the backlog, inserted in bulk through the runtime's test route, directly in the states
  a queue reaches over time (the functions create pending events; the other states come
  from QBWC runs): `--events` events with one line each, of which `--dead` dead
  (QuickBooks' 3140 message with the bridge's hint), `--held` held for a mapping on 40
  parts (the page's 40 mapping forms), 100 failed and due, the rest half pending, half
  applied; the per-status counters the real mutations keep; 72 hours of hourly figures.

Measured: `--loads` page loads by a signed-in client (server time: request sent to last
byte received, on localhost), p50 and p99, and of that the bridge's own work (the load
minus its `ops:overview` call: parsing, the verdict, the charts, the template); the page's
one Convex query (`ops:overview`) alone, called directly, to show what the local runtime
costs (its index lookups, local_convex/indexes.ts, read every event of a status, e.g. all
pending ones, and sort them before taking the first few, so this part grows with the
backlog there and not on Convex, where the query reads the same few hundred documents
whatever the size: tests/convex/ops.test.ts); the page's weight in KB (uncompressed, and
gzipped as deploy/Caddyfile serves it). Targets: p99 < 300 ms on the local runtime,
< 100 KB per page. Fails (exit 1) when a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.bridge import qbwc, read_quickbooks, serve_bridge
from support.local_convex import LocalConvex
from support.ops import MESSAGE_3140, ops_settings, signed_in
from support.world import ITEMS, SITES, build_world

from qbwc_bridge.convex_gateway import ConvexGateway
from qbwc_bridge.logging import configure_logging

P99_TARGET_MS = 300.0
WEIGHT_TARGET_KB = 100.0
HOUR_MS = 3_600_000
CHUNK = 2_500
HINT = (
    "QuickBooks does not know an item/site/account this event references: map it in Convex "
    "(qbItemListId/qbItemFullName, qbSiteFullName, qbAccountFullName) so it matches QuickBooks "
    "exactly, then `qbwc-bridge retry EVENT_ID` (or `--all-dead`)"
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def backlog(runtime: LocalConvex, world: Any, events: int, dead: int, held: int) -> None:
    """The backlog, inserted in bulk (see the module's doc)."""
    held_parts = [f"HELD-{n:02d}" for n in range(40)]
    world.admin.mutation("parts:upsertBatch", {"parts": [{"sku": sku} for sku in held_parts]})
    overview = world.employee.query(
        "inventory:getInventoryOverview", {"paginationOpts": {"numItems": 100, "cursor": None}}
    )
    part_ids = {row["sku"]: row["partId"] for row in overview["page"]}
    # The backlog's own location and reason code (the functions do not hand out their ids).
    (location_id,) = runtime.insert(
        "inventory_locations", [{"code": "BENCH", "name": "Bench", "active": True}]
    )
    (reason_id,) = runtime.insert(
        "inventory_reason_accounts",
        [{"reasonCode": "BENCH", "active": True, "qbAccountFullName": "Inventory Adjustments"}],
    )
    now = runtime.clock()
    counts: dict[str, int] = {}
    skus = list(ITEMS)
    for start in range(0, events, CHUNK):
        docs, lines_for = [], []
        for i in range(start, min(start + CHUNK, events)):
            n = i + 1
            sku = skus[i % len(skus)]
            fields: dict[str, Any]
            if i < dead:
                fields = {
                    "qbStatus": "dead",
                    "lastError": f"QuickBooks error 3140: {MESSAGE_3140} -> {HINT}",
                    "lastStatusCode": "3140",
                }
            elif i < dead + held:
                sku = held_parts[i % len(held_parts)]
                fields = {
                    "qbStatus": "held",
                    "holdKind": "mapping",
                    "holdKeys": [f"item:{part_ids[sku]}"],
                    "holdReason": f'Waiting for a mapping: the item of SKU {sku} "{sku}" is not in QuickBooks\' items list.',
                    "lastError": "Waiting for a mapping.",
                }
            elif i < dead + held + 100:
                fields = {"qbStatus": "failed", "retryCount": 2, "lastError": "QuickBooks is busy"}
            elif i % 2 == 0:
                fields = {"qbStatus": "pending"}
            else:
                fields = {"qbStatus": "applied", "qbTxnId": f"TX-{n}", "appliedAt": now - HOUR_MS}
            counts[fields["qbStatus"]] = counts.get(fields["qbStatus"], 0) + 1
            docs.append(
                {
                    "type": "adjustment",
                    "status": "posted",
                    "refNumber": f"AD-{900_000 + n}",
                    "occurredAt": now - 2 * HOUR_MS,
                    "createdBy": "bench",
                    "lineCount": 1,
                    "locationId": location_id,
                    "reasonCode": "BENCH",
                    "reasonAccountId": reason_id,
                    "mode": "delta",
                    "retryCount": 0,
                    "nextAttemptAt": now - 2 * HOUR_MS + i,
                    "claimCount": 0,
                    **fields,
                }
            )
            lines_for.append(part_ids[sku])
        event_ids = runtime.insert("inventory_events", docs)
        runtime.insert(
            "inventory_event_lines",
            [
                {"eventId": event_id, "lineNo": 1, "partId": part_id, "quantity": 1}
                for event_id, part_id in zip(event_ids, lines_for, strict=True)
            ],
        )
    runtime.insert(
        "inventory_counters",
        [{"name": f"qbStatus:{status}", "value": count} for status, count in counts.items()],
    )
    hour = now - now % HOUR_MS
    runtime.insert(
        "sync_stats_hourly",
        [
            {
                "hour": hour - h * HOUR_MS,
                "applied": 20 + (h * 7) % 30,
                "failed": h % 4,
                "dead": 1 if h % 9 == 0 else 0,
                "samples": 12,
                "depthMax": 30 + (h * 13) % 50,
                "oldestDueAgeMaxSec": 60 * ((h * 5) % 40),
            }
            for h in range(1, 72)
        ],
    )


def drift_report(world: Any, bridge: Any, client: Any) -> None:
    for n in range(60):
        name = f"Bulk:ONLY-{n:03d}"
        world.quickbooks.add_item(name)
        world.quickbooks.adjust_qoh_by_hand(name, 1 + n, site=SITES["WH"])
    world.quickbooks.adjust_qoh_by_hand(ITEMS["FLT-200"], -7, site=SITES["WH"])
    world.admin.mutation("qbRecon:requestSnapshot", {})
    qbwc(bridge, world.quickbooks).run_session()
    for _ in range(20):  # the page builds the report, a bounded time per load
        if "still being compared" not in client.page():
            return
    raise SystemExit("the drift report was not built")


def timing_overview_calls() -> list[float]:
    """Times every ops:overview call the bridge makes (ms), to split a page load into
    Convex's part and the bridge's own (parse, verdict, charts, template)."""
    calls: list[float] = []
    original = ConvexGateway.ops_overview

    def timed(self: ConvexGateway) -> Any:
        started = time.perf_counter()
        try:
            return original(self)
        finally:
            calls.append((time.perf_counter() - started) * 1000)

    ConvexGateway.ops_overview = timed  # type: ignore[method-assign]
    return calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--dead", type=int, default=500)
    parser.add_argument("--held", type=int, default=200)
    parser.add_argument("--loads", type=int, default=100)
    args = parser.parse_args()
    configure_logging("json", "warning")
    runtime = LocalConvex.start("--test-clock")
    try:
        world = build_world(runtime.url, runtime.admin_key)
        with serve_bridge(ops_settings(runtime.url, runtime.admin_key)) as bridge:
            read_quickbooks(bridge, world.quickbooks)
            client = signed_in(bridge)
            drift_report(world, bridge, client)
            started = time.perf_counter()
            backlog(runtime, world, args.events, args.dead, args.held)
            print(
                f"backlog: {args.events:,} events ({args.dead} dead, {args.held} held for a "
                f"mapping) inserted in {time.perf_counter() - started:.1f} s"
            )
            client.page()  # warm: templates compiled, connections open
            page_ms: list[float] = []
            own_ms: list[float] = []
            convex_ms = timing_overview_calls()
            body = b""
            for _ in range(args.loads):
                convex_ms.clear()
                t0 = time.perf_counter()
                response = client.get("/ops")
                body = response.content
                page_ms.append((time.perf_counter() - t0) * 1000)
                own_ms.append(page_ms[-1] - sum(convex_ms))
                assert response.status_code == 200, response.status_code
            query_ms = []
            admin = runtime.admin_client()
            for _ in range(args.loads):
                t0 = time.perf_counter()
                admin.query("ops:overview", {})
                query_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        runtime.stop()
    text = body.decode("utf-8")
    assert text.count('<button form="retry"') == 50, "expected the 50 latest dead events"
    assert text.count('action="/ops/map"') == 40, "expected 40 mapping forms"
    drift = text[text.index('<table id="drift"') :]
    assert drift[: drift.index("</table>")].count("<tr><td>") == 50, "expected 50 drift rows"
    kb = len(body) / 1024
    gz = len(gzip.compress(body)) / 1024
    p50, p99 = statistics.median(page_ms), percentile(page_ms, 0.99)
    q50, q99 = statistics.median(query_ms), percentile(query_ms, 0.99)
    print(f"\n| measure ({args.loads} loads) | p50 | p99 | max |")
    print("|---|---|---|---|")
    print(f"| GET /ops, server time | {p50:.1f} ms | {p99:.1f} ms | {max(page_ms):.1f} ms |")
    o50, o99 = statistics.median(own_ms), percentile(own_ms, 0.99)
    print(
        f"| of which the bridge's own work | {o50:.1f} ms | {o99:.1f} ms | {max(own_ms):.1f} ms |"
    )
    print(
        f"| ops:overview alone (local runtime) | {q50:.1f} ms | {q99:.1f} ms | {max(query_ms):.1f} ms |"
    )
    print(f"\npage weight: {kb:.1f} KB ({gz:.1f} KB gzipped)")
    print(
        f"targets: p99 < {P99_TARGET_MS:.0f} ms: {'ok' if p99 < P99_TARGET_MS else 'MISSED'}; "
        f"< {WEIGHT_TARGET_KB:.0f} KB: {'ok' if kb < WEIGHT_TARGET_KB else 'MISSED'}"
    )
    return 0 if p99 < P99_TARGET_MS and kb < WEIGHT_TARGET_KB else 1


if __name__ == "__main__":
    sys.exit(main())
