"""A small business, set up twice: in Convex (through the real functions) and
in the QuickBooks simulator (the same items, sites and accounts), plus the
check every end-to-end scenario ends with: QOH per item and site agree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from convex.http_client import ConvexHttpClient

from convex import ConvexError

from .qb_simulator import QuickBooksSimulator

EMPLOYEE = "emp-ana"
OPENING_COUNTS = {"00123": 500, "1E5": 40, "FLT-200": 120, "GSK-9": 35, "PMP-1": 12}
SITES = {
    "WH": "Main Warehouse",
    "WH-DOCK": "Main Warehouse",
    "TRUCK-1": "Truck 1",
    "STORE": "Store",
}
ACCOUNTS = {"COUNT": "Inventory Adjustments", "DAMAGE": "Shrinkage"}
ITEMS = {
    "00123": "Hardware:Hex bolt M8",
    "1E5": "Electrical:Fuse 5A",
    "FLT-200": "Filters:Oil filter",
    "GSK-9": "Gaskets:Gasket set Müller & Söhne",
    "PMP-1": "Pumps:Water pump",
}


@dataclass
class World:
    employee: ConvexHttpClient
    admin: ConvexHttpClient
    quickbooks: QuickBooksSimulator

    def transfer(
        self, sku: str, source: str, target: str, quantity: int, **extra: Any
    ) -> dict[str, Any]:
        args = {
            "sku": sku,
            "fromLocation": source,
            "toLocation": target,
            "quantity": quantity,
            **extra,
        }
        return dict(self.employee.mutation("inventory:createTransferEvent", args))

    def adjust(
        self,
        sku: str,
        location: str,
        quantity: int,
        mode: str = "delta",
        reason: str = "COUNT",
        **extra: Any,
    ) -> dict[str, Any]:
        args = {
            "sku": sku,
            "location": location,
            "mode": mode,
            "quantity": quantity,
            "reasonCode": reason,
            **extra,
        }
        return dict(self.employee.mutation("inventory:createAdjustmentEvent", args))

    def open_stock(self) -> None:
        """Opening counts at the warehouse (adjustments QuickBooks must see too): AD-000001..5."""
        for sku, count in OPENING_COUNTS.items():
            self.adjust(sku, "WH", count, mode="set", memo="Opening count")

    def refusal(self, path: str, **args: Any) -> dict[str, Any]:
        """The error data of an employee mutation that must be refused."""
        try:
            self.employee.mutation(path, args)
        except ConvexError as error:
            return dict(error.data)
        raise AssertionError(f"{path} was not refused")

    def state(self, ref_number: str) -> dict[str, Any]:
        return dict(self.admin.query("qbQueue:getEventState", {"refNumber": ref_number}))

    def queue(self) -> dict[str, Any]:
        return dict(self.admin.query("qbQueue:getQueueStatus", {}))

    def convex_qoh(self) -> dict[tuple[str, str | None], Decimal]:
        """Convex balances folded onto QuickBooks' (item, site) grid: per item only when
        QuickBooks has no sites (multi-location inventory off)."""
        sites = self.quickbooks.advanced_inventory
        table: defaultdict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
        cursor = None
        while True:
            page = self.employee.query(
                "inventory:getInventoryOverview",
                {"paginationOpts": {"numItems": 100, "cursor": cursor}},
            )
            for row in page["page"]:
                for balance in row["balances"]:
                    key = (ITEMS[row["sku"]], SITES[balance["location"]] if sites else None)
                    table[key] += Decimal(str(balance["onHand"]))
            if page["isDone"]:
                break
            cursor = page["continueCursor"]
        return {key: qty for key, qty in table.items() if qty != 0}

    def assert_books_agree(self) -> None:
        assert self.quickbooks.qoh_table() == self.convex_qoh()

    def assert_exactly_once(self) -> None:
        """Every event Convex calls applied is in QuickBooks once, under its TxnID."""
        page = self.employee.query(
            "inventory:listRecentEvents",
            {"paginationOpts": {"numItems": 500, "cursor": None}, "qbStatus": "applied"},
        )
        for event in page["page"]:
            found = self.quickbooks.find_by_ref(event["refNumber"])
            assert len(found) == 1, (event["refNumber"], len(found))
            assert found[0].txn_id == event["qbTxnId"]
        refs = [txn.ref_number for txn in self.quickbooks.transactions]
        assert len(refs) == len(set(refs)), "a RefNumber was posted twice"


def build_world(url: str, admin_key: str, *, multi_location: bool = True) -> World:
    """`multi_location` False: a QuickBooks Pro/Premier company, one quantity per item and no
    sites (the Convex locations keep their site names: QuickBooks simply has none)."""
    employee = ConvexHttpClient(url)
    employee.set_auth(EMPLOYEE)
    admin = ConvexHttpClient(url)
    admin.set_admin_auth(admin_key)
    # Locations and reason codes are admin-only: make the employee admin, as
    # an operator would with `qbwc-bridge grant-admin`.
    admin.mutation("admins:grant", {"subject": EMPLOYEE})
    for code, site in SITES.items():
        employee.mutation(
            "inventory:upsertLocation", {"code": code, "name": code, "qbSiteFullName": site}
        )
    for code, account in ACCOUNTS.items():
        employee.mutation(
            "inventory:upsertReasonAccount", {"reasonCode": code, "qbAccountFullName": account}
        )
    admin.mutation(
        "parts:upsertBatch",
        {
            "parts": [
                {"sku": sku, "name": name, "qbItemFullName": name} for sku, name in ITEMS.items()
            ]
        },
    )
    quickbooks = QuickBooksSimulator(
        items=ITEMS.values(),
        sites=set(SITES.values()) if multi_location else (),
        accounts=ACCOUNTS.values(),
        advanced_inventory=multi_location,
    )
    return World(employee=employee, admin=admin, quickbooks=quickbooks)
