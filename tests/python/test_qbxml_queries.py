"""Reads: rendering the queries Convex asks for, and reading QuickBooks' answers to them.

Every rendered message is validated against Intuit's qbXML 13.0 schema;
the answers are written the way QuickBooks writes them (and validated too,
so a test cannot feed the parser something QuickBooks never sends).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from support.qbxml_queries import V13, children, refusal, rendered
from support.qbxml_schema import assert_valid

from qbwc_bridge import contract
from qbwc_bridge.contract import ClaimedEvent, QueryRequest
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.qbxml.model import Answer
from qbwc_bridge.versions import QbxmlVersion

ITEM_FIELDS = ["ListID", "Name", "FullName", "IsActive", "QuantityOnHand"]


def start(
    kind: str = "ItemInventoryQuery", page: int | None = 500, rid: str = "q1"
) -> QueryRequest:
    return QueryRequest(rid, kind, "Start", None, page)  # type: ignore[arg-type]


def cont(
    iterator_id: str | None = "{0B5A7C3E-1F2D-4E5A-9B8C-7D6E5F4A3B2C}",
    kind: str = "ItemInventoryQuery",
    page: int | None = 500,
) -> QueryRequest:
    return QueryRequest("q2", kind, "Continue", iterator_id, page)  # type: ignore[arg-type]


def one(kind: str, rid: str = "q1") -> QueryRequest:
    return QueryRequest(rid, kind)  # type: ignore[arg-type]


# -- rendering ------------------------------------------------------------------------------


def test_item_pages_start_with_an_iterator_and_ask_only_for_what_is_read() -> None:
    request = rendered(start())
    assert request.tag == "ItemInventoryQueryRq"
    assert dict(request.attrib) == {"requestID": "q1", "iterator": "Start"}
    assert children(request) == [
        ("MaxReturned", "500"),
        ("ActiveStatus", "All"),
        *[("IncludeRetElement", name) for name in ITEM_FIELDS],
    ]


def test_continue_repeats_the_criteria_with_the_iterator_id() -> None:
    """Intuit: every request of an iterator sends the same criteria as its Start."""
    first, then = rendered(start()), rendered(cont())
    assert dict(then.attrib) == {
        "requestID": "q2",
        "iterator": "Continue",
        "iteratorID": "{0B5A7C3E-1F2D-4E5A-9B8C-7D6E5F4A3B2C}",
    }
    assert children(then) == children(first)


def test_assemblies_page_like_items() -> None:
    request = rendered(start("ItemInventoryAssemblyQuery"))
    assert request.tag == "ItemInventoryAssemblyQueryRq"
    assert request.get("iterator") == "Start"
    assert [text for tag, text in children(request) if tag == "IncludeRetElement"] == ITEM_FIELDS


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("HostQuery", []),
        ("CompanyQuery", [("IncludeRetElement", "CompanyName")]),
        ("PreferencesQuery", [("IncludeRetElement", "MultiLocationInventoryPreferences")]),
        (
            "InventorySiteQuery",
            [("ActiveStatus", "All")]
            + [("IncludeRetElement", name) for name in ("ListID", "Name", "IsActive")],
        ),
        (
            "AccountQuery",
            [("ActiveStatus", "All")]
            + [
                ("IncludeRetElement", name)
                for name in ("ListID", "Name", "FullName", "IsActive", "AccountType")
            ],
        ),
    ],
)
def test_one_shot_reads(kind: str, expected: list[tuple[str, str]]) -> None:
    request = rendered(one(kind))
    assert request.tag == f"{kind}Rq"
    assert dict(request.attrib) == {"requestID": "q1"}
    assert children(request) == expected


def test_below_10_preferences_are_read_whole_and_sites_are_refused() -> None:
    """Sites and the multi-location aggregate came with qbXML 10.0."""
    assert children(rendered(one("PreferencesQuery"), QbxmlVersion(9, 0))) == []
    assert "10.0" in refusal(one("InventorySiteQuery"), QbxmlVersion(9, 0))
    assert rendered(one("InventorySiteQuery"), QbxmlVersion(10, 0)) is not None


def test_iterators_need_qbxml_5() -> None:
    assert "5.0" in refusal(start(), QbxmlVersion(4, 1))
    request = rendered(start(), QbxmlVersion(5, 0))
    assert request.get("iterator") == "Start"


def test_include_ret_element_is_left_out_before_4() -> None:
    request = rendered(one("AccountQuery"), QbxmlVersion(3, 0))
    assert children(request) == [("ActiveStatus", "All")]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (one("ItemInventoryQuery"), "pages"),
        (start(page=None), "page size"),
        (start(page=0), "page size"),
        (start(page=render.MAX_PAGE_SIZE + 1), "page size"),
        (cont(iterator_id=None), "iteratorID"),
        (cont(iterator_id="bad id with spaces"), "iteratorID"),
        (start("AccountQuery"), "iterator"),
        (start("InventorySiteQuery"), "iterator"),
        (QueryRequest("x" * 51, "HostQuery"), "requestID"),
        (QueryRequest("", "HostQuery"), "requestID"),
    ],
    ids=[
        "unpaged-items",
        "no-page-size",
        "zero-page-size",
        "huge-page",
        "continue-without-id",
        "continue-bad-id",
        "accounts-iterator",
        "sites-iterator",
        "long-request-id",
        "empty-request-id",
    ],
)
def test_queries_the_bridge_refuses_to_render(query: QueryRequest, reason: str) -> None:
    assert reason in refusal(query)


def test_queries_go_first_and_the_batch_names_every_request() -> None:
    event = ClaimedEvent.from_payload(
        {
            "eventId": "e1",
            "claimToken": "e1:1",
            "mode": "send",
            "type": "adjustment",
            "refNumber": "AD-000001",
            "externalGuid": "{0123ABCD-0000-4000-8000-000000000001}",
            "occurredAt": 1710041400000.0,
            "account": {"fullName": "Shrinkage"},
            "lines": [{"sku": "SKU-1", "item": None, "quantity": -1}],
        }
    )
    batch = render.render_batch(
        [event],
        V13,
        queries=[one("HostQuery", "h"), start(rid="i"), one("AccountQuery", "a")],
        tz=UTC,
    )
    root = assert_valid(batch.xml or "")
    tags = [(r.tag, r.get("requestID")) for r in root.find("QBXMLMsgsRq")]
    assert tags == [
        ("HostQueryRq", "h"),
        ("ItemInventoryQueryRq", "i"),
        ("AccountQueryRq", "a"),
        ("InventoryAdjustmentAddRq", "e1:1"),
    ]
    assert batch.request_ids == ("h", "i", "a", "e1:1")
    assert [(q.request_id, q.kind) for q in batch.queries] == [
        ("h", "HostQuery"),
        ("i", "ItemInventoryQuery"),
        ("a", "AccountQuery"),
    ]


def test_a_refused_query_leaves_the_rest_of_the_message() -> None:
    batch = render.render_batch(
        [], QbxmlVersion(9, 0), queries=[one("InventorySiteQuery", "s"), one("AccountQuery", "a")]
    )
    assert batch.request_ids == ("a",)
    assert [r.request_id for r in batch.query_refusals] == ["s"]
    assert_valid(batch.xml or "")


def test_a_request_id_used_twice_is_refused_the_second_time() -> None:
    batch = render.render_batch([], V13, queries=[one("HostQuery", "x"), one("CompanyQuery", "x")])
    assert batch.request_ids == ("x",)
    (refused,) = batch.query_refusals
    assert refused.kind == "CompanyQuery" and "twice" in refused.reason


def test_no_queries_and_no_events_is_no_message() -> None:
    batch = render.render_batch([], V13)
    assert (batch.xml, batch.request_ids) == (None, ())


# -- reading answers ------------------------------------------------------------------------

STATUS_OK = 'statusCode="0" statusSeverity="Info" statusMessage="Status OK"'
NO_MATCH = (
    'statusCode="1" statusSeverity="Info" '
    'statusMessage="A query request did not find a matching object in QuickBooks"'
)


def response(*answers: str) -> str:
    """A whole response document as QuickBooks writes it, checked against the schema."""
    document = '<?xml version="1.0" ?>\n<QBXML><QBXMLMsgsRs>' + "".join(answers)
    document += "</QBXMLMsgsRs></QBXML>"
    assert_valid(document)
    return document


def item_ret(
    list_id: str = "80000001-1600000001",
    full_name: str = "Hardware:Hex bolt M8",
    active: str = "true",
    qoh: str | None = "47",
    tag: str = "ItemInventoryRet",
    name: str | None = "",
) -> str:
    name_text = full_name.rsplit(":", 1)[-1] if name == "" else name
    parts = [f"<ListID>{list_id}</ListID>"] if list_id else []
    if name_text is not None:
        parts.append(f"<Name>{name_text}</Name>")
    if full_name:
        parts.append(f"<FullName>{full_name}</FullName>")
    if active is not None:
        parts.append(f"<IsActive>{active}</IsActive>")
    if qoh is not None:
        parts.append(f"<QuantityOnHand>{qoh}</QuantityOnHand>")
    return f"<{tag}>{''.join(parts)}</{tag}>"


def read(document: str) -> list[Answer]:
    return parse.parse_response(document)


def outcome(document: str) -> contract.QueryOutcome | None:
    (answer,) = read(document)
    assert parse.is_read(answer)
    return parse.query_outcome(answer)


def test_an_item_page_with_its_iterator() -> None:
    page = outcome(
        response(
            f'<ItemInventoryQueryRs requestID="q1" {STATUS_OK} iteratorRemainingCount="1500" '
            'iteratorID="{E1C0D3A2-0000-4000-8000-00000000000A}">'
            + item_ret()
            + item_ret("80000002-1600000002", "Old stock", active="false", qoh="-2.5")
            + "</ItemInventoryQueryRs>"
        )
    )
    assert page == contract.ListPage(
        list_name="items",
        entries=(
            contract.ListEntry(
                "80000001-1600000001", "Hex bolt M8", "Hardware:Hex bolt M8", True, 47
            ),
            contract.ListEntry("80000002-1600000002", "Old stock", "Old stock", False, -2.5),
        ),
        iterator_id="{E1C0D3A2-0000-4000-8000-00000000000A}",
        remaining=1500,
    )


def test_the_last_page_has_nothing_remaining() -> None:
    page = outcome(
        response(
            f'<ItemInventoryAssemblyQueryRs requestID="q1" {STATUS_OK} iteratorRemainingCount="0" '
            'iteratorID="{E1C0D3A2-0000-4000-8000-00000000000A}">'
            + item_ret(tag="ItemInventoryAssemblyRet", full_name="Kits:Pump kit", qoh="3.25")
            + "</ItemInventoryAssemblyQueryRs>"
        )
    )
    assert isinstance(page, contract.ListPage)
    assert (page.list_name, page.remaining) == ("assemblies", 0)
    assert [(e.name, e.quantity_on_hand) for e in page.entries] == [("Pump kit", 3.25)]


def test_no_match_is_an_empty_page() -> None:
    page = outcome(response(f'<ItemInventoryQueryRs requestID="q1" {NO_MATCH}/>'))
    assert page == contract.ListPage("items", (), None, 0)


def test_sites_are_named_by_their_name_and_accounts_carry_their_type() -> None:
    sites, accounts = (
        parse.query_outcome(answer)
        for answer in read(
            response(
                f'<InventorySiteQueryRs requestID="s" {STATUS_OK}><InventorySiteRet>'
                "<ListID>80000010-1600000010</ListID><Name>Truck 1</Name>"
                "<IsActive>true</IsActive></InventorySiteRet></InventorySiteQueryRs>",
                f'<AccountQueryRs requestID="a" {STATUS_OK}><AccountRet>'
                "<ListID>80000020-1600000020</ListID><Name>Shrinkage</Name>"
                "<FullName>Cost of Goods Sold:Shrinkage</FullName><IsActive>false</IsActive>"
                "<AccountType>CostOfGoodsSold</AccountType></AccountRet></AccountQueryRs>",
            )
        )
    )
    assert sites == contract.ListPage(
        "sites", (contract.ListEntry("80000010-1600000010", "Truck 1", "Truck 1", True),)
    )
    assert accounts == contract.ListPage(
        "accounts",
        (
            contract.ListEntry(
                "80000020-1600000020",
                "Shrinkage",
                "Cost of Goods Sold:Shrinkage",
                False,
                account_type="CostOfGoodsSold",
            ),
        ),
    )


def test_host_company_and_preferences() -> None:
    host, company, preferences = (
        parse.query_outcome(answer)
        for answer in read(
            response(
                f'<HostQueryRs requestID="h" {STATUS_OK}><HostRet>'
                "<ProductName>QuickBooks Pro 2014</ProductName><MajorVersion>24</MajorVersion>"
                "<MinorVersion>0</MinorVersion><Country>US</Country>"
                "<SupportedQBXMLVersion>12.0</SupportedQBXMLVersion>"
                "<SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>"
                "<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode>"
                "</HostRet></HostQueryRs>",
                f'<CompanyQueryRs requestID="c" {STATUS_OK}><CompanyRet>'
                "<CompanyName>Harbor &amp; Sons</CompanyName></CompanyRet></CompanyQueryRs>",
                f'<PreferencesQueryRs requestID="p" {STATUS_OK}><PreferencesRet>'
                "<MultiLocationInventoryPreferences>"
                "<IsMultiLocationInventoryAvailable>true</IsMultiLocationInventoryAvailable>"
                "<IsMultiLocationInventoryEnabled>false</IsMultiLocationInventoryEnabled>"
                "</MultiLocationInventoryPreferences></PreferencesRet></PreferencesQueryRs>",
            )
        )
    )
    assert host == contract.HostInfo(
        "QuickBooks Pro 2014", 24, 0, "US", ("12.0", "13.0"), "SingleUser"
    )
    assert company == contract.CompanyInfo("Harbor & Sons")
    assert preferences == contract.PreferencesInfo(True, False)


def test_preferences_without_the_aggregate_say_nothing_about_sites() -> None:
    """Before qbXML 10.0 QuickBooks has no such aggregate: unknown, not "off"."""
    preferences = outcome(
        response(
            f'<PreferencesQueryRs requestID="p" {STATUS_OK}><PreferencesRet/></PreferencesQueryRs>'
        )
    )
    assert preferences == contract.PreferencesInfo(None, None)


@pytest.mark.parametrize(
    "answer",
    [
        '<ItemInventoryQueryRs requestID="q1" statusCode="3391" statusSeverity="Error" '
        'statusMessage="The iteratorID &quot;{X}&quot; is not valid."/>',
        '<InventorySiteQueryRs requestID="q1" statusCode="3250" statusSeverity="Error" '
        'statusMessage="This feature is not enabled or not available in this version of QuickBooks."/>',
        '<ItemInventoryQueryRs requestID="q1" statusCode="500" statusSeverity="Warn" '
        'statusMessage="One or more objects cannot be found"/>',
        f'<HostQueryRs requestID="q1" {NO_MATCH}/>',
        '<AccountQueryRs requestID="q1" statusCode="3175" statusSeverity="Error" '
        'statusMessage="locked"/>',
    ],
    ids=["bad-iterator", "sites-off", "warning", "host-no-match", "locked"],
)
def test_failures_are_left_to_the_status_table(answer: str) -> None:
    """None: the caller classifies the status like an event's (retry, dead, ...)."""
    assert outcome(response(answer)) is None


@pytest.mark.parametrize(
    ("ret", "named"),
    [
        (item_ret(list_id=""), "has no ListID"),
        (item_ret(full_name=""), "has no FullName"),
        (item_ret(active=None), "IsActive"),  # type: ignore[arg-type]
        (item_ret(active=""), "IsActive"),
        (item_ret(qoh=""), None),
        (item_ret(qoh="1e5"), "QuantityOnHand"),
    ],
    ids=["no-list-id", "no-full-name", "no-is-active", "empty-is-active", "empty-qoh", "bad-qoh"],
)
def test_an_unreadable_entry_fails_its_page_naming_the_entry(ret: str, named: str | None) -> None:
    document = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
        f'<ItemInventoryQueryRs requestID="q1" {STATUS_OK}>{item_ret()}{ret}</ItemInventoryQueryRs>'
        "</QBXMLMsgsRs></QBXML>"
    )
    (answer,) = read(document)
    if named is None:  # an empty QUANTYPE is "not said", not an error
        page = parse.query_outcome(answer)
        assert isinstance(page, contract.ListPage)
        assert page.entries[1].quantity_on_hand is None
        return
    with pytest.raises(parse.QbxmlParseError) as caught:
        parse.query_outcome(answer)
    assert named in str(caught.value)
    assert "ItemInventoryRet #2" in str(caught.value)


def test_an_entry_without_name_takes_the_last_segment_of_its_full_name() -> None:
    page = outcome(
        response(f"<ItemInventoryQueryRs {STATUS_OK}>{item_ret(name=None)}</ItemInventoryQueryRs>")
    )
    assert isinstance(page, contract.ListPage)
    assert page.entries[0].name == "Hex bolt M8"


def test_a_site_without_name_fails() -> None:
    document = response(
        f'<InventorySiteQueryRs requestID="s" {STATUS_OK}><InventorySiteRet>'
        "<ListID>80000010-1600000010</ListID><IsActive>true</IsActive>"
        "</InventorySiteRet></InventorySiteQueryRs>"
    )
    with pytest.raises(parse.QbxmlParseError, match=r"InventorySiteRet #1 .*has no Name"):
        outcome(document)


@pytest.mark.parametrize("count", ["-1", "many", ""])
def test_an_unreadable_remaining_count_fails_the_page(count: str) -> None:
    document = (
        '<QBXML><QBXMLMsgsRs><ItemInventoryQueryRs requestID="q1" '
        f'{STATUS_OK} iteratorRemainingCount="{count}"/></QBXMLMsgsRs></QBXML>'
    )
    with pytest.raises(parse.QbxmlParseError, match="iteratorRemainingCount"):
        outcome(document)


def test_one_unreadable_page_does_not_hide_the_events_answered_with_it() -> None:
    answers = read(
        "<QBXML><QBXMLMsgsRs>"
        f'<ItemInventoryQueryRs requestID="q1" {STATUS_OK}>{item_ret(list_id="")}</ItemInventoryQueryRs>'
        f'<InventoryAdjustmentAddRs requestID="e1:1" {STATUS_OK}><InventoryAdjustmentRet>'
        "<TxnID>1A-1700000026</TxnID><RefNumber>AD-000001</RefNumber></InventoryAdjustmentRet>"
        "</InventoryAdjustmentAddRs></QBXMLMsgsRs></QBXML>"
    )
    page, event = answers
    with pytest.raises(parse.QbxmlParseError):
        parse.query_outcome(page)
    assert not parse.is_read(event)
    assert (event.request_id, event.txn_id) == ("e1:1", "1A-1700000026")


def test_list_entries_are_not_taken_for_transactions() -> None:
    (answer,) = read(
        response(f"<ItemInventoryQueryRs {STATUS_OK}>{item_ret()}</ItemInventoryQueryRs>")
    )
    assert (answer.transactions, answer.txn_id) == ((), None)


def test_only_reads_have_a_query_outcome() -> None:
    (answer,) = read(response(f'<InventoryAdjustmentQueryRs requestID="e1:1" {NO_MATCH}/>'))
    assert not parse.is_read(answer)
    with pytest.raises(ValueError, match="not the answer to a read"):
        parse.query_outcome(answer)


def test_outcomes_reach_convex_as_the_contract_says() -> None:
    page: Any = outcome(
        response(
            f'<ItemInventoryQueryRs requestID="q1" {STATUS_OK} iteratorRemainingCount="2" '
            'iteratorID="{E1C0D3A2-0000-4000-8000-00000000000A}">'
            + item_ret()
            + "</ItemInventoryQueryRs>"
        )
    )
    assert page.to_payload() == {
        "kind": "listPage",
        "list": "items",
        "entries": [
            {
                "listId": "80000001-1600000001",
                "name": "Hex bolt M8",
                "fullName": "Hardware:Hex bolt M8",
                "isActive": True,
                "quantityOnHand": 47.0,
            }
        ],
        "remaining": 2,
        "iteratorId": "{E1C0D3A2-0000-4000-8000-00000000000A}",
    }
