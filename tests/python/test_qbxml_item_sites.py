"""ItemSitesQuery: quantity on hand per item and site, for reconciliation.

Rendered requests are validated against Intuit's qbXML 13.0 schema; the
answers are written the way QuickBooks writes them and validated too, except
where the point is an answer the schema would not allow.
"""

from __future__ import annotations

import pytest
from support.qbxml_queries import V13, children, refusal, rendered
from support.qbxml_schema import assert_valid

from qbwc_bridge import contract
from qbwc_bridge.contract import QueryRequest, SiteQuantity, SiteQuantityPage
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.versions import QbxmlVersion

ITERATOR_ID = "{0B5A7C3E-1F2D-4E5A-9B8C-7D6E5F4A3B2C}"
CRITERIA = [
    ("ItemTypeFilter", "InventoryAndAssembly"),
    ("MaxReturned", "500"),
    ("ActiveStatus", "All"),
]


def start(page: int | None = 500, rid: str = "snap:0.0") -> QueryRequest:
    return QueryRequest(rid, "ItemSitesQuery", "Start", None, page)


def cont(iterator_id: str | None = ITERATOR_ID, page: int | None = 500) -> QueryRequest:
    return QueryRequest("snap:0.1", "ItemSitesQuery", "Continue", iterator_id, page)


# -- rendering ------------------------------------------------------------------------------


def test_start_opens_an_iterator_over_inventory_and_assemblies_active_or_not() -> None:
    request = rendered(start())
    assert request.tag == "ItemSitesQueryRq"
    assert dict(request.attrib) == {"requestID": "snap:0.0", "iterator": "Start"}
    # The schema's order: the filter choice, MaxReturned, ActiveStatus. No IncludeRetElement:
    # the whole ItemSitesRet is asked for (see render._item_sites_query).
    assert children(request) == CRITERIA


def test_continue_repeats_the_criteria_with_the_iterator_id() -> None:
    first, then = rendered(start()), rendered(cont())
    assert dict(then.attrib) == {
        "requestID": "snap:0.1",
        "iterator": "Continue",
        "iteratorID": ITERATOR_ID,
    }
    assert children(then) == children(first) == CRITERIA


def test_the_largest_page_is_rendered_and_one_more_is_refused() -> None:
    largest = render.MAX_ITEM_SITES_PAGE_SIZE
    assert ("MaxReturned", str(largest)) in children(rendered(start(largest)))
    assert "page size" in refusal(start(largest + 1))
    assert f"1-{largest}" in refusal(start(largest + 1))


def test_item_sites_need_qbxml_10() -> None:
    """Intuit's OSR: ItemSitesQuery is qbXML 10.0 (multi-location inventory)."""
    reason = refusal(start(), QbxmlVersion(9, 0))
    assert "10.0" in reason and "ItemSitesQuery" in reason
    assert rendered(start(), QbxmlVersion(10, 0)).get("iterator") == "Start"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (QueryRequest("s", "ItemSitesQuery"), "pages"),
        (start(page=None), "page size"),
        (start(page=0), "page size"),
        (cont(iterator_id=None), "iteratorID"),
        (cont(iterator_id="not an id"), "iteratorID"),
        (cont(iterator_id="x" * 51), "iteratorID"),
    ],
    ids=["unpaged", "no-page-size", "zero-page-size", "no-id", "bad-id", "long-id"],
)
def test_item_sites_queries_the_bridge_refuses(query: QueryRequest, reason: str) -> None:
    assert reason in refusal(query)


def test_item_sites_go_with_other_reads_and_events_in_one_valid_message() -> None:
    batch = render.render_batch(
        [],
        V13,
        queries=[QueryRequest("h", "HostQuery"), start(rid="s"), QueryRequest("a", "AccountQuery")],
    )
    root = assert_valid(batch.xml or "")
    assert [r.tag for r in root.find("QBXMLMsgsRq")] == [
        "HostQueryRq",
        "ItemSitesQueryRq",
        "AccountQueryRq",
    ]
    assert batch.request_ids == ("h", "s", "a")


# -- reading answers ------------------------------------------------------------------------

STATUS_OK = 'statusCode="0" statusSeverity="Info" statusMessage="Status OK"'
NO_MATCH = (
    'statusCode="1" statusSeverity="Info" '
    'statusMessage="A query request did not find a matching object in QuickBooks"'
)


def ref(tag: str, list_id: str | None, full_name: str | None) -> str:
    inner = (f"<ListID>{list_id}</ListID>" if list_id else "") + (
        f"<FullName>{full_name}</FullName>" if full_name else ""
    )
    return f"<{tag}>{inner}</{tag}>"


def item_site(
    own: str | None = "80000101-1600000101",
    item: str | None = ref("ItemInventoryRef", "80000001-1600000001", "Hardware:Hex bolt M8"),
    site: str | None = ref("InventorySiteRef", "80000010-1600000010", "Main"),
    bin_ref: str | None = None,
    qoh: str | None = "47",
) -> str:
    """An ItemSitesRet in the schema's order, with the fields QuickBooks writes around ours."""
    parts = [f"<ListID>{own}</ListID>"] if own else []
    parts += [
        "<TimeCreated>2024-03-01T09:00:00-05:00</TimeCreated>",
        "<TimeModified>2024-03-01T09:00:00-05:00</TimeModified>",
        "<EditSequence>1709301600</EditSequence>",
    ]
    parts += [part for part in (item, site, bin_ref) if part is not None]
    parts.append("<ReorderLevel>5</ReorderLevel>")
    if qoh is not None:
        parts.append(f"<QuantityOnHand>{qoh}</QuantityOnHand>")
    parts += [
        "<QuantityOnPurchaseOrders>12</QuantityOnPurchaseOrders>",
        "<QuantityOnSalesOrders>3</QuantityOnSalesOrders>",
        "<QuantityOnPendingTransfers>0</QuantityOnPendingTransfers>",
    ]
    return f"<ItemSitesRet>{''.join(parts)}</ItemSitesRet>"


def document(*rets: str, attributes: str = STATUS_OK, validate: bool = True) -> str:
    text = (
        '<?xml version="1.0" ?>\n<QBXML><QBXMLMsgsRs>'
        f'<ItemSitesQueryRs requestID="snap:0.0" {attributes}>{"".join(rets)}</ItemSitesQueryRs>'
        "</QBXMLMsgsRs></QBXML>"
    )
    if validate:
        assert_valid(text)
    return text


def outcome(text: str) -> contract.QueryOutcome | None:
    (answer,) = parse.parse_response(text)
    assert parse.is_read(answer)
    assert (answer.transactions, answer.txn_id) == ((), None)
    return parse.query_outcome(answer)


def test_a_page_of_quantities_per_item_and_site() -> None:
    page = outcome(
        document(
            item_site(),
            item_site(
                "80000102-1600000102",
                item=ref("ItemInventoryAssemblyRef", "80000002-1600000002", "Kits:Pump kit"),
                site=ref("InventorySiteRef", "80000011-1600000011", "Truck 1"),
                qoh="-2.5",
            ),
            # Stock QuickBooks holds at no site: no InventorySiteRef.
            item_site("80000103-1600000103", site=None, qoh="0"),
            attributes=f'{STATUS_OK} iteratorRemainingCount="59997" iteratorID="{ITERATOR_ID}"',
        )
    )
    assert page == SiteQuantityPage(
        rows=(
            SiteQuantity(
                "80000101-1600000101",
                "80000001-1600000001",
                "80000010-1600000010",
                47,
                "Hardware:Hex bolt M8",
                "Main",
            ),
            SiteQuantity(
                "80000102-1600000102",
                "80000002-1600000002",
                "80000011-1600000011",
                -2.5,
                "Kits:Pump kit",
                "Truck 1",
            ),
            SiteQuantity(
                "80000103-1600000103", "80000001-1600000001", None, 0, "Hardware:Hex bolt M8"
            ),
        ),
        iterator_id=ITERATOR_ID,
        remaining=59997,
    )


def test_bins_are_rows_of_their_own_for_convex_to_sum() -> None:
    main = ref("InventorySiteRef", "80000010-1600000010", "Main")
    page = outcome(
        document(
            item_site("80000201-1600000201", site=main, qoh="4"),
            item_site(
                "80000202-1600000202",
                site=main,
                bin_ref=ref("InventorySiteLocationRef", "80000030-1600000030", "Aisle 3"),
                qoh="6",
            ),
            item_site(
                "80000203-1600000203",
                site=main,
                bin_ref=ref("InventorySiteLocationRef", "80000031-1600000031", "Aisle 4"),
                qoh="0.125",
            ),
        )
    )
    assert isinstance(page, SiteQuantityPage)
    assert [(r.row_id, r.site_list_id, r.quantity_on_hand) for r in page.rows] == [
        ("80000201-1600000201", "80000010-1600000010", 4),
        ("80000202-1600000202", "80000010-1600000010", 6),
        ("80000203-1600000203", "80000010-1600000010", 0.125),
    ]
    assert sum(r.quantity_on_hand for r in page.rows) == 10.125
    assert (page.iterator_id, page.remaining) == (None, 0)


def test_no_match_is_an_empty_page() -> None:
    assert outcome(document(attributes=NO_MATCH)) == SiteQuantityPage((), None, 0)


@pytest.mark.parametrize(
    "attributes",
    [
        'statusCode="3250" statusSeverity="Error" '
        'statusMessage="This feature is not enabled or not available in this version of QuickBooks."',
        'statusCode="3391" statusSeverity="Error" statusMessage="The iteratorID &quot;{X}&quot; is not valid."',
        'statusCode="500" statusSeverity="Warn" statusMessage="One or more objects cannot be found"',
    ],
    ids=["multi-location-off", "bad-iterator", "warning"],
)
def test_failures_are_left_to_the_status_table(attributes: str) -> None:
    assert outcome(document(attributes=attributes)) is None


NO_QOH_ITEM = ref("ItemInventoryRef", "80000002-1600000002", "Hardware:Washer")


@pytest.mark.parametrize(
    ("ret", "problem", "valid"),
    [
        (item_site(own=None), "has no ListID of its own", True),
        (
            item_site(item=ref("ItemInventoryRef", None, "Hardware:Washer")),
            "ItemInventoryRef/ListID",
            True,
        ),
        (
            item_site(item=ref("ItemInventoryAssemblyRef", "", "Kits:Washer kit")),
            "ItemInventoryAssemblyRef/ListID",
            True,
        ),
        (item_site(item=None), "names no item", False),
        (
            item_site(
                item=NO_QOH_ITEM
                + ref("ItemInventoryAssemblyRef", "80000003-1600000003", "Kits:Washer kit")
            ),
            "names two items",
            False,
        ),
        (item_site(item=NO_QOH_ITEM, qoh=None), "has no QuantityOnHand", True),
        (item_site(item=NO_QOH_ITEM, qoh=""), "has no QuantityOnHand", False),
        (item_site(item=NO_QOH_ITEM, qoh="1e5"), "unreadable QuantityOnHand", False),
        (
            item_site(item=NO_QOH_ITEM, site=ref("InventorySiteRef", None, "Main")),
            "InventorySiteRef without a ListID",
            True,
        ),
    ],
    ids=[
        "no-own-list-id",
        "item-by-name-only",
        "assembly-empty-list-id",
        "no-item",
        "two-items",
        "no-qoh",
        "empty-qoh",
        "bad-qoh",
        "site-by-name-only",
    ],
)
def test_an_unreadable_record_fails_its_page_naming_it(ret: str, problem: str, valid: bool) -> None:
    """A wrong row would be a wrong drift: nothing is guessed, the record is named."""
    page = document(item_site(), ret, validate=valid)
    with pytest.raises(parse.QbxmlParseError) as caught:
        outcome(page)
    message = str(caught.value)
    assert problem in message
    assert message.startswith("ItemSitesQuery: ItemSitesRet #2")
    if "Washer" in ret:
        assert "Washer" in message  # the item is named, so the operator can find it


def test_the_problem_survives_the_longest_names() -> None:
    long_item = ":".join(["P" * 31] * 4 + ["x" * 31])
    ret = item_site(
        item=ref("ItemInventoryRef", "80000002-1600000002", long_item),
        bin_ref=ref("InventorySiteLocationRef", "80000030-1600000030", "B" * 31),
        qoh=None,
    )
    with pytest.raises(parse.QbxmlParseError) as caught:
        outcome(document(ret))
    assert str(caught.value).startswith("ItemSitesQuery: ItemSitesRet #1 has no QuantityOnHand (")
    assert len(str(caught.value)) <= 300


def test_an_unreadable_remaining_count_fails_the_page() -> None:
    with pytest.raises(parse.QbxmlParseError, match="iteratorRemainingCount"):
        outcome(document(attributes=f'{STATUS_OK} iteratorRemainingCount="many"', validate=False))


def test_one_unreadable_page_does_not_hide_the_events_answered_with_it() -> None:
    answers = parse.parse_response(
        "<QBXML><QBXMLMsgsRs>"
        f'<ItemSitesQueryRs requestID="s" {STATUS_OK}>{item_site(qoh=None)}</ItemSitesQueryRs>'
        f'<InventoryAdjustmentAddRs requestID="e1:1" {STATUS_OK}><InventoryAdjustmentRet>'
        "<TxnID>1A-1700000026</TxnID><RefNumber>AD-000001</RefNumber></InventoryAdjustmentRet>"
        "</InventoryAdjustmentAddRs></QBXMLMsgsRs></QBXML>"
    )
    sites, event = answers
    with pytest.raises(parse.QbxmlParseError):
        parse.query_outcome(sites)
    assert (event.request_id, event.txn_id) == ("e1:1", "1A-1700000026")


def test_the_page_reaches_convex_as_the_contract_says() -> None:
    page = outcome(
        document(
            item_site(),
            item_site("80000103-1600000103", site=None, qoh="1.5"),
            attributes=f'{STATUS_OK} iteratorRemainingCount="2" iteratorID="{ITERATOR_ID}"',
        )
    )
    assert isinstance(page, SiteQuantityPage)
    assert page.to_payload() == {
        "kind": "siteQuantities",
        "rows": [
            {
                "rowId": "80000101-1600000101",
                "itemListId": "80000001-1600000001",
                "siteListId": "80000010-1600000010",
                "quantityOnHand": 47.0,
                # QuickBooks' current names travel too: a report can name an item no pull has seen.
                "itemName": "Hardware:Hex bolt M8",
                "siteName": "Main",
            },
            {
                "rowId": "80000103-1600000103",
                "itemListId": "80000001-1600000001",
                "siteListId": None,
                "quantityOnHand": 1.5,
                "itemName": "Hardware:Hex bolt M8",
            },
        ],
        "remaining": 2,
        "iteratorId": ITERATOR_ID,
    }
