"""`make demo`: the whole loop with no QuickBooks, in under a minute.

Local Convex runtime (controllable clock) + the sample data set + the bridge
+ the QBWC and QuickBooks simulators from the test suite. Faults are
injected on purpose (a locked record, a lost response, an unmapped item) so
the retry and lookup paths show up; the clock is advanced instead of waiting
for backoffs. Ends with a table: QOH in QuickBooks vs Convex per SKU/site.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from convex.http_client import ConvexHttpClient
from support.bridge import PASSWORD, USERNAME, bridge_settings, serve_bridge
from support.qb_simulator import QuickBooksSimulator
from support.qbwc_simulator import QbwcSimulator

from qbwc_bridge import sample_data
from qbwc_bridge.local_runtime import start_local_runtime
from qbwc_bridge.logging import configure_logging

SITES = {loc["code"]: loc["qbSiteFullName"] for loc in sample_data.LOCATIONS}
ITEMS = {part["sku"]: part["qbItemFullName"] for part in sample_data.PARTS}


def advance_clock(url: str, ms: int) -> None:
    request = urllib.request.Request(
        f"{url}/_test/clock",
        data=json.dumps({"advanceMs": ms}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def counts(admin: ConvexHttpClient) -> dict[str, int]:
    return {k: int(v) for k, v in admin.query("qbQueue:getQueueStatus", {})["counts"].items()}


def convex_qoh(employee: ConvexHttpClient) -> dict[tuple[str, str], Decimal]:
    table: dict[tuple[str, str], Decimal] = {}
    page = employee.query(
        "inventory:getInventoryOverview", {"paginationOpts": {"numItems": 200, "cursor": None}}
    )
    for row in page["page"]:
        for balance in row["balances"]:
            key = (row["sku"], SITES[balance["location"]])
            table[key] = table.get(key, Decimal(0)) + Decimal(str(int(balance["onHand"])))
    return {k: v for k, v in table.items() if v}


def main() -> int:
    configure_logging("console", "warning")
    started = time.monotonic()
    runtime = start_local_runtime(test_clock=True)
    try:
        seeded = sample_data.seed(runtime.url, runtime.admin_key)
        admin = ConvexHttpClient(runtime.url)
        admin.set_admin_auth(runtime.admin_key)
        employee = ConvexHttpClient(runtime.url)
        employee.set_auth(sample_data.SAMPLE_USER)
        # One part QuickBooks does not know yet: it goes dead until mapped.
        admin.mutation(
            "parts:upsertBatch",
            {
                "parts": [
                    {"sku": "NEW-7", "name": "Brand-new part", "qbItemFullName": "Misc:New part"}
                ]
            },
        )
        employee.mutation(
            "inventory:createAdjustmentEvent",
            {
                "sku": "NEW-7",
                "location": "STORE",
                "mode": "set",
                "quantity": 6,
                "reasonCode": "COUNT",
            },
        )
        for i in range(20):
            employee.mutation(
                "inventory:createTransferEvent",
                {
                    "sku": "FLT-200",
                    "fromLocation": "WH",
                    "toLocation": "TRUCK-1",
                    "quantity": 1,
                    "memo": f"Van top-up {i + 1}",
                },
            )
        print(f"Loaded sample data: {seeded['parts'] + 1} parts, {seeded['events'] + 21} events.")

        quickbooks = QuickBooksSimulator(
            items=ITEMS.values(),
            sites=set(SITES.values()),
            accounts=[r["qbAccountFullName"] for r in sample_data.REASONS],
        )
        quickbooks.lock_next("TR-000020")
        quickbooks.lose_next_response()

        settings = bridge_settings(
            runtime.url, runtime.admin_key, QBWC_BATCH_SIZE="8", QBWC_LEASE_SECONDS="120"
        )
        with serve_bridge(settings) as bridge:
            qbwc = QbwcSimulator(bridge.soap_url, USERNAME, PASSWORD, quickbooks)
            lookups = 0
            for run in range(1, 12):
                report = qbwc.run_session()
                lookups += sum(request.count("QueryRq requestID") for request in report.requests)
                c = counts(admin)
                outcome = (
                    "response lost!"
                    if report.interrupted
                    else (report.close_message or report.authenticate_result[1])
                )
                print(
                    f"run {run:>2}: exchanges={len(report.requests)} progress={report.percents} | pending={c['pending']} in_flight={c['in_flight']} failed={c['failed']} dead={c['dead']} applied={c['applied']} | {outcome}"
                )
                if run == 3:
                    print(
                        "        operator creates the missing item 'Misc:New part' in QuickBooks, then: qbwc-bridge retry --all-dead"
                    )
                    quickbooks.add_item("Misc:New part")
                    ITEMS["NEW-7"] = "Misc:New part"
                    admin.mutation("qbQueue:retryAllDead", {})
                if c["pending"] + c["in_flight"] + c["failed"] == 0 and c["dead"] == 0:
                    break
                advance_clock(runtime.url, 5 * 60 * 1000)  # the Web Connector's next scheduled run

        c = counts(admin)
        applied = employee.query(
            "inventory:listRecentEvents",
            {"paginationOpts": {"numItems": 500, "cursor": None}, "qbStatus": "applied"},
        )["page"]
        retried = sum(1 for event in applied if event["retryCount"] > 0)
        qb = {
            (sku, site): qty
            for (item, site), qty in quickbooks.qoh_table().items()
            for sku in [next(s for s, n in ITEMS.items() if n == item)]
        }
        convex = convex_qoh(employee)
        print()
        print(
            f"Events applied: {c['applied']} (retried after an error: {retried}, confirmed by a RefNumber lookup after a lost response: {lookups})   not required: {c['not_required']}   dead: {c['dead']}   QuickBooks transactions: {len(quickbooks.transactions)}"
        )
        print(f"{'SKU':<10}{'Site':<16}{'QuickBooks':>12}{'Convex':>10}  ")
        equal = True
        for key in sorted(set(qb) | set(convex)):
            same = qb.get(key) == convex.get(key)
            equal &= same
            print(
                f"{key[0]:<10}{key[1]:<16}{qb.get(key, 0)!s:>12}{convex.get(key, 0)!s:>10}  {'=' if same else 'MISMATCH'}"
            )
        duplicates = len(quickbooks.transactions) - len(
            {t.ref_number for t in quickbooks.transactions}
        )
        print(
            f"\nDuplicate postings: {duplicates}.  QOH equal: {'yes' if equal else 'NO'}.  Took {time.monotonic() - started:.1f} s."
        )
        return 0 if equal and duplicates == 0 and c["dead"] == 0 else 1
    finally:
        runtime.stop()


if __name__ == "__main__":
    sys.exit(main())
