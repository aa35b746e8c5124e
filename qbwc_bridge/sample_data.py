"""A small, realistic data set for the local runtime (`make run`, `make demo`).

Three QuickBooks sites, two reason accounts, six parts, opening counts and a
few movements: enough for a Web Connector pointed at the bridge to have
transfers and adjustments to sync. Loaded through the real Convex functions
with a Bearer identity (which only the local runtime accepts) that is first
made admin with the admin key, as an operator would with `grant-admin`:
locations and reason codes are admin-only. Loading twice adds nothing: it
stops if the parts already exist.
"""

from __future__ import annotations

from typing import Any

from convex.http_client import ConvexHttpClient

SAMPLE_USER = "sample-data-loader"

LOCATIONS: list[dict[str, Any]] = [
    {"code": "WH", "name": "Main warehouse", "qbSiteFullName": "Main Warehouse"},
    {"code": "WH-DOCK", "name": "Warehouse dock", "qbSiteFullName": "Main Warehouse"},
    {"code": "TRUCK-1", "name": "Service truck 1", "qbSiteFullName": "Truck 1"},
    {"code": "STORE", "name": "Retail store", "qbSiteFullName": "Store"},
]
REASONS: list[dict[str, Any]] = [
    {
        "reasonCode": "COUNT",
        "description": "Cycle count correction",
        "qbAccountFullName": "Inventory Adjustments",
    },
    {
        "reasonCode": "DAMAGE",
        "description": "Damaged or scrapped",
        "qbAccountFullName": "Shrinkage",
    },
]
PARTS: list[dict[str, Any]] = [
    {"sku": "00123", "name": "Hex bolt M8 x 40", "qbItemFullName": "Hardware:Hex bolt M8"},
    {"sku": "1E5", "name": "Fuse 5A (box of 10)", "qbItemFullName": "Electrical:Fuse 5A"},
    {"sku": "FLT-200", "name": "Oil filter", "qbItemFullName": "Filters:Oil filter"},
    {
        "sku": "GSK-9",
        "name": "Gasket set, Müller & Söhne",
        "qbItemFullName": "Gaskets:Gasket set MS",
    },
    {"sku": "HOSE-3/4", "name": 'Hose 3/4" (per metre)', "qbItemFullName": "Hoses:Hose 3-4"},
    {"sku": "PMP-1", "name": "Water pump", "qbItemFullName": "Pumps:Water pump"},
]
OPENING_COUNTS = {
    "00123": 500,
    "1E5": 40,
    "FLT-200": 120,
    "GSK-9": 35,
    "HOSE-3/4": 300,
    "PMP-1": 12,
}
MOVEMENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "inventory:createTransferEvent",
        {
            "sku": "00123",
            "fromLocation": "WH",
            "toLocation": "TRUCK-1",
            "quantity": 50,
            "memo": "Restock truck 1",
        },
    ),
    (
        "inventory:createTransferEvent",
        {
            "lines": [{"sku": "FLT-200", "quantity": 10}, {"sku": "PMP-1", "quantity": 2}],
            "fromLocation": "WH",
            "toLocation": "STORE",
            "memo": "Store shelf fill",
        },
    ),
    (
        "inventory:createTransferEvent",
        {
            "sku": "HOSE-3/4",
            "fromLocation": "WH",
            "toLocation": "WH-DOCK",
            "quantity": 30,
            "memo": "Staging (same QuickBooks site: not synced)",
        },
    ),
    (
        "inventory:createAdjustmentEvent",
        {
            "sku": "GSK-9",
            "location": "WH",
            "mode": "delta",
            "quantity": -3,
            "reasonCode": "DAMAGE",
            "memo": "Crushed in delivery",
        },
    ),
    (
        "inventory:createAdjustmentEvent",
        {
            "sku": "00123",
            "location": "TRUCK-1",
            "mode": "set",
            "quantity": 47,
            "reasonCode": "COUNT",
            "memo": "Truck count",
        },
    ),
]


def seed(url: str, admin_key: str) -> dict[str, int]:
    """Loads the sample set; returns what was created."""
    employee = ConvexHttpClient(url)
    employee.set_auth(SAMPLE_USER)
    admin = ConvexHttpClient(url)
    admin.set_admin_auth(admin_key)
    report = admin.mutation("parts:upsertBatch", {"parts": PARTS})
    if report["created"] == 0:
        return {"parts": 0, "events": 0}
    admin.mutation("admins:grant", {"subject": SAMPLE_USER, "note": "sample data loader"})
    for location in LOCATIONS:
        employee.mutation("inventory:upsertLocation", location)
    for reason in REASONS:
        employee.mutation("inventory:upsertReasonAccount", reason)
    events = 0
    for sku, count in OPENING_COUNTS.items():
        employee.mutation(
            "inventory:createAdjustmentEvent",
            {
                "sku": sku,
                "location": "WH",
                "mode": "set",
                "quantity": count,
                "reasonCode": "COUNT",
                "memo": "Opening count",
            },
        )
        events += 1
    for path, args in MOVEMENTS:
        employee.mutation(path, args)
        events += 1
    return {"parts": int(report["created"]), "events": events}
