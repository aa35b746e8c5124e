"""The QuickBooks simulator answers ItemSitesQuery like QuickBooks, and keeps its numbers right.

Pulls go through the bridge's own renderer and parser (as reconciliation
will run them); QuickBooks' own behaviour is checked with hand-written
requests.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from support.qb_simulator import (
    FEATURE_OFF_CODE,
    FEATURE_OFF_MESSAGE,
    INVALID_ITERATOR_CODE,
    PARSE_ERROR_HRESULT,
    QuickBooksSimulator,
    SimulatorError,
)
from support.qbwc_simulator import RequestRejected
from support.qbxml_schema import assert_valid, load_schema

from qbwc_bridge import contract
from qbwc_bridge.contract import ClaimedEvent, QueryRequest, SiteQuantity, SiteQuantityPage
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.versions import QbxmlVersion

V13 = QbxmlVersion(13, 0)
SITES = ("Main", "Truck 1", "Truck 2")


def ask(qb: QuickBooksSimulator, *queries: QueryRequest) -> list[Any]:
    """One message of reads; each answer as the bridge reads it, or (statusCode, message)."""
    batch = render.render_batch([], V13, queries=queries)
    assert batch.query_refusals == ()
    response = qb.process(batch.xml or "")
    assert_valid(response)
    found: list[Any] = []
    for answer in parse.parse_response(response):
        outcome = parse.query_outcome(answer)
        found.append(
            outcome if outcome is not None else (answer.status_code, answer.status_message)
        )
    return found


def start(size: int = 500) -> QueryRequest:
    return QueryRequest("start", "ItemSitesQuery", "Start", None, size)


def cont(iterator_id: str | None, size: int = 500) -> QueryRequest:
    return QueryRequest("next", "ItemSitesQuery", "Continue", iterator_id, size)


def page(qb: QuickBooksSimulator, query: QueryRequest) -> SiteQuantityPage:
    (answer,) = ask(qb, query)
    assert isinstance(answer, SiteQuantityPage), answer
    return answer


def pull(qb: QuickBooksSimulator, size: int = 500) -> list[SiteQuantityPage]:
    """The whole snapshot through one iterator, one message per page."""
    pages = [page(qb, start(size))]
    while pages[-1].remaining:
        pages.append(page(qb, cont(pages[-1].iterator_id, size)))
    return pages


def rows(qb: QuickBooksSimulator) -> list[SiteQuantity]:
    return [row for p in pull(qb) for row in p.rows]


def by_name(qb: QuickBooksSimulator) -> dict[tuple[str, str | None], Decimal]:
    """The snapshot as (item name, site name or None) -> quantity, summed like Convex sums."""
    names = {
        entry.list_id: entry.full_name
        for record, _ in qb.item_sites()
        for entry in (record.item, record.site)
        if entry is not None
    }
    found: Counter[tuple[str, str | None]] = Counter()
    for row in rows(qb):
        site = None if row.site_list_id is None else names[row.site_list_id]
        found[(names[row.item_list_id], site)] += Decimal(repr(row.quantity_on_hand))
    return dict(found)


def raw(qb: QuickBooksSimulator, body: str, version: str = "13.0") -> etree._Element:
    """A hand-written request; returns the (schema-valid) answer's first Rs."""
    xml = (
        f'<?xml version="1.0"?><?qbxml version="{version}"?><QBXML>'
        f'<QBXMLMsgsRq onError="continueOnError">{body}</QBXMLMsgsRq></QBXML>'
    )
    return assert_valid(qb.process(xml)).find("QBXMLMsgsRs")[0]


def company(**kwargs: Any) -> QuickBooksSimulator:
    return QuickBooksSimulator(
        load_schema(),
        items=["SKU-1", "SKU-2"],
        sites=["Main", "Truck 1"],
        accounts=["Shrinkage"],
        **kwargs,
    )


def send(qb: QuickBooksSimulator, *events: dict[str, Any]) -> None:
    """Events as the bridge sends them; every one must be saved."""
    claimed = [ClaimedEvent.from_payload(event) for event in events]
    batch = render.render_batch(claimed, V13, tz=UTC)
    assert batch.refusals == ()
    root = assert_valid(qb.process(batch.xml or ""))
    assert [rs.get("statusCode") for rs in root.find("QBXMLMsgsRs")] == ["0"] * len(events)


def adjustment(n: int, sku: str, quantity: float, site: str | None) -> dict[str, Any]:
    return {
        "eventId": f"a{n}",
        "claimToken": f"a{n}:1",
        "mode": "send",
        "type": "adjustment",
        "refNumber": f"AD-{n:06d}",
        "externalGuid": f"{{0123ABCD-0000-4000-8000-{n:012d}}}",
        "occurredAt": 1710041400000,
        "account": {"fullName": "Shrinkage"},
        "site": None if site is None else {"fullName": site},
        "lines": [{"sku": sku, "item": None, "quantity": quantity}],
    }


def transfer(n: int, sku: str, quantity: float, from_site: str, to_site: str) -> dict[str, Any]:
    return {
        "eventId": f"t{n}",
        "claimToken": f"t{n}:1",
        "mode": "send",
        "type": "transfer",
        "refNumber": f"TR-{n:06d}",
        "externalGuid": f"{{0123ABCD-0001-4000-8000-{n:012d}}}",
        "occurredAt": 1710041400000,
        "fromSite": {"fullName": from_site},
        "toSite": {"fullName": to_site},
        "lines": [{"sku": sku, "item": None, "quantity": quantity}],
    }


# -- paging -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big() -> QuickBooksSimulator:
    """20,000 parts with stock at 3 sites each: 60,000 item sites."""
    qb = QuickBooksSimulator(load_schema(), sites=SITES)
    for n in range(20_000):
        name = f"SKU-{n:05d}"
        qb.add_item(name)
        for s, site in enumerate(SITES):
            qb.set_qoh(name, (n + s) % 50, site)
    return qb


def test_60000_item_sites_come_in_120_pages_of_500_without_duplicates(
    big: QuickBooksSimulator,
) -> None:
    big.open_company()
    pages = pull(big)
    assert len(pages) == 120
    assert [len(p.rows) for p in pages] == [500] * 120
    assert [p.remaining for p in pages] == [60_000 - 500 * (n + 1) for n in range(120)]
    assert len({p.iterator_id for p in pages}) == 1  # one iterator throughout
    found = [row for p in pages for row in p.rows]
    assert len({row.row_id for row in found}) == 60_000
    # Every (item, site) exactly once, with its quantity.
    pairs = Counter((row.item_list_id, row.site_list_id) for row in found)
    assert len(pairs) == 60_000 and set(pairs.values()) == {1}
    site_ids = [big.site(site).list_id for site in SITES]
    expected = {
        (big.item(f"SKU-{n:05d}").list_id, site_ids[s]): float((n + s) % 50)
        for n in range(20_000)
        for s in range(3)
    }
    assert {(r.item_list_id, r.site_list_id): r.quantity_on_hand for r in found} == expected


def test_the_item_site_list_ids_are_stable(big: QuickBooksSimulator) -> None:
    big.open_company()
    first = page(big, start(size=1000)).rows
    big.open_company()
    again = page(big, start(size=1000)).rows
    assert [r.row_id for r in first] == [r.row_id for r in again]
    # Not the item's or the site's ListID: the record's own.
    assert {r.row_id for r in first}.isdisjoint({r.item_list_id for r in first})


def test_an_item_sites_iterator_is_gone_in_a_new_session_and_belongs_to_its_query(
    big: QuickBooksSimulator,
) -> None:
    big.open_company()
    opened = page(big, start())
    items = QueryRequest("i", "ItemInventoryQuery", "Continue", opened.iterator_id, 500)
    (answer,) = ask(big, items)
    assert answer[0] == INVALID_ITERATOR_CODE
    big.open_company()
    assert ask(big, cont(opened.iterator_id)) == [
        (INVALID_ITERATOR_CODE, f'The iteratorID "{opened.iterator_id}" is not valid.')
    ]


def test_a_page_shows_the_quantity_when_it_is_read() -> None:
    qb = company()
    qb.set_qoh("SKU-1", 5, "Main")
    qb.set_qoh("SKU-2", 7, "Main")
    opened = page(qb, start(size=1))
    qb.adjust_qoh_by_hand("SKU-2", -3, "Main")
    rest = page(qb, cont(opened.iterator_id))
    assert [(r.item_list_id, r.quantity_on_hand) for r in rest.rows] == [
        (qb.item("SKU-2").list_id, 4.0)
    ]


# -- which records, and their numbers -----------------------------------------------------------


def test_no_stock_anywhere_is_no_match() -> None:
    assert page(company(), start()) == SiteQuantityPage((), None, 0)


def test_records_come_with_the_first_quantity_and_stay_at_zero() -> None:
    qb = company()
    qb.set_qoh("SKU-1", 10, "Main")
    send(qb, transfer(1, "SKU-1", 10, "Main", "Truck 1"))  # creates SKU-1 @ Truck 1
    send(qb, adjustment(1, "SKU-2", 2.5, None))  # stock at no site
    assert by_name(qb) == {
        ("SKU-1", "Main"): 0,
        ("SKU-1", "Truck 1"): 10,
        ("SKU-2", None): Decimal("2.5"),
    }
    (none,) = [r for r in rows(qb) if r.site_list_id is None]
    assert none.item_list_id == qb.item("SKU-2").list_id


def test_bridge_transactions_move_item_sites_and_item_totals_alike() -> None:
    qb = company()
    qb.set_qoh("SKU-1", 10, "Main")
    before = {r.row_id for r in rows(qb)}
    send(
        qb,
        adjustment(1, "SKU-1", -2, "Main"),
        transfer(2, "SKU-1", 3, "Main", "Truck 1"),
        adjustment(3, "SKU-1", 0.5, "Truck 1"),
    )
    assert by_name(qb) == {("SKU-1", "Main"): 5, ("SKU-1", "Truck 1"): Decimal("3.5")}
    assert before < {r.row_id for r in rows(qb)}  # the Main record kept its ListID
    (item,) = [
        e
        for e in ask(qb, QueryRequest("i", "ItemInventoryQuery", "Start", None, 10))[0].entries
        if e.full_name == "SKU-1"
    ]
    assert item.quantity_on_hand == 8.5 == qb.total_qoh("SKU-1")


def test_hand_adjustments_reach_item_sites_item_totals_and_the_transaction_list() -> None:
    qb = company()
    qb.set_qoh("SKU-1", 10, "Main")
    qb.set_qoh("SKU-2", 4, "Truck 1")
    first = qb.adjust_qoh_by_hand("SKU-1", -3, "Main")
    second = qb.adjust_qoh_by_hand("SKU-2", Decimal("1.25"), "Main")  # a new item site
    assert by_name(qb) == {
        ("SKU-1", "Main"): 7,
        ("SKU-2", "Truck 1"): 4,
        ("SKU-2", "Main"): Decimal("1.25"),
    }
    items = {
        e.full_name: e.quantity_on_hand
        for e in ask(qb, QueryRequest("i", "ItemInventoryQuery", "Start", None, 10))[0].entries
    }
    assert items == {"SKU-1": 7.0, "SKU-2": 5.25}
    # In the books as QuickBooks saves a hand entry: an InventoryAdjustment without
    # ExternalGUID, under a RefNumber of QuickBooks' users, not one of the bridge's.
    assert qb.transactions == [first, second]
    for txn in (first, second):
        assert txn.kind == "InventoryAdjustment" and txn.external_guid is None
        assert txn.ref_number and not txn.ref_number.startswith(("AD-", "TR-"))
        assert txn.account is not None and txn.account.full_name == "Shrinkage"
    assert first.ref_number != second.ref_number
    assert [(line.item.full_name, line.quantity) for line in first.lines] == [
        ("SKU-1", Decimal(-3))
    ]
    assert first.site is not None and first.site.full_name == "Main"
    # QuickBooks lists it like any adjustment...
    listed = raw(
        qb,
        '<InventoryAdjustmentQueryRq requestID="q"><IncludeLineItems>true</IncludeLineItems>'
        "</InventoryAdjustmentQueryRq>",
    )
    assert [ret.findtext("RefNumber") for ret in listed] == [first.ref_number, second.ref_number]
    # ...and a lookup of the bridge's RefNumbers does not take it for an event's.
    lookup = raw(
        qb,
        '<InventoryAdjustmentQueryRq requestID="q"><RefNumberFilter>'
        "<MatchCriterion>StartsWith</MatchCriterion><RefNumber>AD-</RefNumber>"
        "</RefNumberFilter></InventoryAdjustmentQueryRq>",
    )
    assert lookup.get("statusCode") == "1"


def test_hand_adjustment_at_no_site_and_with_a_named_account() -> None:
    qb = company()
    qb.add_account("Cost of Goods Sold:Count corrections", "CostOfGoodsSold")
    txn = qb.adjust_qoh_by_hand(
        "SKU-1", 2, account="Cost of Goods Sold:Count corrections", ref_number="1042"
    )
    assert (txn.ref_number, txn.account and txn.account.full_name) == (
        "1042",
        "Cost of Goods Sold:Count corrections",
    )
    assert by_name(qb) == {("SKU-1", None): 2}


@pytest.mark.parametrize("ref", ["AD-000007", "tr-000001"])
def test_a_hand_adjustment_never_takes_a_bridge_ref_number(ref: str) -> None:
    qb = company()
    with pytest.raises(SimulatorError, match="enter_adjustment_by_hand"):
        qb.adjust_qoh_by_hand("SKU-1", 1, "Main", ref_number=ref)
    assert qb.transactions == [] and qb.item_sites() == []


def test_a_hand_adjustment_needs_an_account() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["SKU-1"], sites=["Main"])
    with pytest.raises(SimulatorError, match="account"):
        qb.adjust_qoh_by_hand("SKU-1", 1, "Main")
    assert qb.transactions == []


# -- QuickBooks' rules ----------------------------------------------------------------------------


def test_item_sites_need_multi_location_inventory() -> None:
    off = QuickBooksSimulator(
        load_schema(), items=["SKU-1"], advanced_inventory=False, advanced_inventory_available=True
    )
    off.set_qoh("SKU-1", 3)
    assert ask(off, start()) == [(FEATURE_OFF_CODE, FEATURE_OFF_MESSAGE)]
    assert ask(off, cont("{00000000-0000-4000-8000-000000000000}")) == [
        (FEATURE_OFF_CODE, FEATURE_OFF_MESSAGE)
    ]


def test_item_sites_do_not_parse_before_qbxml_10() -> None:
    qb = company()
    qb.set_qoh("SKU-1", 1, "Main")
    body = (
        '<ItemSitesQueryRq requestID="1" iterator="Start"><MaxReturned>5</MaxReturned>'
        "</ItemSitesQueryRq>"
    )
    with pytest.raises(RequestRejected) as caught:
        raw(qb, body, version="9.0")
    assert caught.value.hresult == PARSE_ERROR_HRESULT
    assert raw(qb, body, version="10.0").get("statusCode") == "0"


def test_a_whole_item_sites_ret_as_quickbooks_writes_it() -> None:
    qb = company()
    qb.add_item("Kits:Pump kit", assembly=True)
    qb.set_qoh("Kits:Pump kit", "2.5", "Truck 1")
    rs = raw(qb, '<ItemSitesQueryRq requestID="1"/>')
    (ret,) = rs.findall("ItemSitesRet")
    assert [child.tag for child in ret] == [
        "ListID",
        "TimeCreated",
        "TimeModified",
        "EditSequence",
        "ItemInventoryAssemblyRef",
        "InventorySiteRef",
        "QuantityOnHand",
        "QuantityOnPurchaseOrders",
        "QuantityOnSalesOrders",
        "QuantityToBeBuiltByPendingBuildTxns",
        "QuantityRequiredByPendingBuildTxns",
        "QuantityOnPendingTransfers",
    ]
    assert ret.findtext("ItemInventoryAssemblyRef/FullName") == "Kits:Pump kit"
    assert ret.findtext("InventorySiteRef/FullName") == "Truck 1"
    assert ret.findtext("QuantityOnHand") == "2.5"


def test_active_status_and_item_type_filter() -> None:
    qb = company()
    qb.add_item("Kit", assembly=True)
    for item in ("SKU-1", "SKU-2", "Kit"):
        qb.set_qoh(item, 1, "Main")
    qb.set_qoh("SKU-1", 1, "Truck 1")
    qb.set_item_active("SKU-2", False)
    qb.set_site_active("Truck 1", False)

    def names(criteria: str) -> list[tuple[str, str]]:
        rs = raw(qb, f'<ItemSitesQueryRq requestID="1">{criteria}</ItemSitesQueryRq>')
        return [
            (
                ret.findtext("ItemInventoryRef/FullName")
                or ret.findtext("ItemInventoryAssemblyRef/FullName")
                or "",
                ret.findtext("InventorySiteRef/FullName") or "",
            )
            for ret in rs.findall("ItemSitesRet")
        ]

    everything = [("SKU-1", "Main"), ("SKU-2", "Main"), ("Kit", "Main"), ("SKU-1", "Truck 1")]
    assert names("") == [("SKU-1", "Main"), ("Kit", "Main")]  # ActiveOnly by default
    assert names("<ActiveStatus>All</ActiveStatus>") == everything
    assert names("<ActiveStatus>InactiveOnly</ActiveStatus>") == [
        ("SKU-2", "Main"),
        ("SKU-1", "Truck 1"),
    ]
    assert names("<ItemTypeFilter>Assembly</ItemTypeFilter><ActiveStatus>All</ActiveStatus>") == [
        ("Kit", "Main")
    ]
    assert (
        names(
            "<ItemTypeFilter>InventoryAndAssembly</ItemTypeFilter><ActiveStatus>All</ActiveStatus>"
        )
        == everything
    )
    rs = raw(
        qb,
        '<ItemSitesQueryRq requestID="1"><ItemTypeFilter>Service</ItemTypeFilter></ItemSitesQueryRq>',
    )
    assert rs.get("statusCode") == "1"


@pytest.mark.parametrize(
    "criteria",
    [
        "<ListID>80000001-1600000001</ListID>",
        "<ItemSiteFilter><SiteFilter><FullName>Main</FullName></SiteFilter></ItemSiteFilter>",
    ],
    ids=["list-id", "item-site-filter"],
)
def test_item_sites_filters_it_does_not_model_fail_the_test(criteria: str) -> None:
    qb = company()
    with pytest.raises(SimulatorError, match="is not simulated"):
        raw(qb, f'<ItemSitesQueryRq requestID="1">{criteria}</ItemSitesQueryRq>')


def test_the_snapshot_agrees_with_the_simulator_s_own_books() -> None:
    """After a mix of opening stock, bridge events and hand changes, ItemSites == qoh()."""
    qb = company()
    qb.set_qoh("SKU-1", 10, "Main")
    qb.set_qoh("SKU-2", 3)
    send(qb, transfer(1, "SKU-1", 4, "Main", "Truck 1"), adjustment(2, "SKU-2", -1, "Main"))
    qb.adjust_qoh_by_hand("SKU-1", 2, "Truck 1")
    qb.adjust_qoh_by_hand("SKU-2", 1)
    expected = {
        (record.item.full_name, record.site.full_name if record.site else None): quantity
        for record, quantity in qb.item_sites()
    }
    assert (
        by_name(qb)
        == expected
        == {
            ("SKU-1", "Main"): 6,
            ("SKU-1", "Truck 1"): 6,
            ("SKU-2", None): 4,
            ("SKU-2", "Main"): -1,
        }
    )
    for (item, site), quantity in expected.items():
        assert qb.qoh(item, site) == quantity
    assert isinstance(rows(qb)[0], contract.SiteQuantity)
