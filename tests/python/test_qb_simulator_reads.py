"""The QuickBooks simulator answers reads like QuickBooks: lists, iterators, capabilities.

Requests are rendered by the bridge's renderer and answers read by its
parser where that is the point (the pull as it will run); where the point
is QuickBooks' own behaviour, requests are written by hand.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from support import qbwc_simulator
from support.qb_simulator import (
    FEATURE_OFF_CODE,
    INVALID_ITERATOR_CODE,
    PARSE_ERROR_HRESULT,
    QuickBooksSimulator,
    SimulatorError,
)
from support.qbwc_simulator import RequestRejected
from support.qbxml_schema import assert_valid, load_schema

from qbwc_bridge import contract
from qbwc_bridge.contract import QueryRequest
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.qbxml.hcp import read_hcp
from qbwc_bridge.versions import QbxmlVersion

V13 = QbxmlVersion(13, 0)


def ask(
    qb: QuickBooksSimulator, *queries: QueryRequest, version: QbxmlVersion = V13
) -> list[contract.QueryOutcome | tuple[int, str]]:
    """One message of reads; each answer as the bridge reads it, or (statusCode, message)."""
    batch = render.render_batch([], version, queries=queries)
    assert batch.query_refusals == ()
    response = qb.process(batch.xml or "")
    assert_valid(response)
    found: list[contract.QueryOutcome | tuple[int, str]] = []
    for answer in parse.parse_response(response):
        outcome = parse.query_outcome(answer)
        found.append(
            outcome if outcome is not None else (answer.status_code, answer.status_message)
        )
    return found


def page(qb: QuickBooksSimulator, query: QueryRequest) -> contract.ListPage:
    (answer,) = ask(qb, query)
    assert isinstance(answer, contract.ListPage), answer
    return answer


def start(kind: str = "ItemInventoryQuery", size: int = 500) -> QueryRequest:
    return QueryRequest("start", kind, "Start", None, size)  # type: ignore[arg-type]


def cont(
    iterator_id: str | None, kind: str = "ItemInventoryQuery", size: int = 500
) -> QueryRequest:
    return QueryRequest("next", kind, "Continue", iterator_id, size)  # type: ignore[arg-type]


def pull(
    qb: QuickBooksSimulator, kind: str = "ItemInventoryQuery", size: int = 500
) -> list[contract.ListPage]:
    """A whole list through an iterator, one message per page, as the bridge will pull it."""
    pages = [page(qb, start(kind, size))]
    while pages[-1].remaining:
        pages.append(page(qb, cont(pages[-1].iterator_id, kind, size)))
    return pages


def raw(qb: QuickBooksSimulator, body: str, version: str = "13.0") -> etree._Element:
    """A hand-written request; returns the (schema-valid) answer's first Rs."""
    xml = (
        f'<?xml version="1.0"?><?qbxml version="{version}"?><QBXML>'
        f'<QBXMLMsgsRq onError="continueOnError">{body}</QBXMLMsgsRq></QBXML>'
    )
    return assert_valid(qb.process(xml)).find("QBXMLMsgsRs")[0]


@pytest.fixture(scope="module")
def big() -> QuickBooksSimulator:
    """20,000 inventory parts under 40 parents, some assemblies and inactive items."""
    qb = QuickBooksSimulator(load_schema())
    for n in range(20_000):
        qb.add_item(f"Group {n % 40:02d}:SKU-{n:05d}")
    for n in range(7):
        qb.add_item(f"Kits:Kit {n}", assembly=True)
    return qb


# -- iterators ------------------------------------------------------------------------------


def test_20000_items_come_in_40_pages_of_500_without_duplicates(big: QuickBooksSimulator) -> None:
    big.open_company()
    pages = pull(big)
    # 20,000 parts and their 40 parent items ("Group 00" ...): 20,040 in all.
    assert len(pages) == 41
    assert [len(p.entries) for p in pages] == [500] * 40 + [40]
    assert [p.remaining for p in pages] == [20_040 - 500 * (n + 1) for n in range(40)] + [0]
    ids = [entry.list_id for p in pages for entry in p.entries]
    assert len(ids) == len(set(ids)) == 20_040
    assert len({p.iterator_id for p in pages}) == 1  # one iterator throughout
    assert all(p.list_name == "items" for p in pages)


def test_exactly_20000_items_make_exactly_40_pages() -> None:
    qb = QuickBooksSimulator(load_schema(), items=[f"SKU-{n:05d}" for n in range(20_000)])
    pages = pull(qb)
    assert len(pages) == 40
    assert pages[-1].remaining == 0 and len(pages[-1].entries) == 500
    assert len({e.list_id for p in pages for e in p.entries}) == 20_000


def test_assemblies_are_their_own_list(big: QuickBooksSimulator) -> None:
    big.open_company()
    (only,) = pull(big, "ItemInventoryAssemblyQuery")
    assert only.list_name == "assemblies"
    assert sorted(e.full_name for e in only.entries) == ["Kits"] + [
        f"Kits:Kit {n}" for n in range(7)
    ]


def test_an_iterator_does_not_survive_a_new_session(big: QuickBooksSimulator) -> None:
    big.open_company()
    first = page(big, start())
    big.open_company()  # QBWC's next session opens the company file again
    (answer,) = ask(big, cont(first.iterator_id))
    assert answer == (INVALID_ITERATOR_CODE, f'The iteratorID "{first.iterator_id}" is not valid.')


def test_a_finished_or_unknown_iterator_is_not_valid() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A", "B"])
    done = page(qb, start(size=5))
    assert (len(done.entries), done.remaining) == (2, 0)
    assert ask(qb, cont(done.iterator_id))[0][0] == INVALID_ITERATOR_CODE  # type: ignore[index]
    unknown = "{00000000-0000-4000-8000-000000000000}"
    assert ask(qb, cont(unknown)) == [
        (INVALID_ITERATOR_CODE, f'The iteratorID "{unknown}" is not valid.')
    ]


def test_an_iterator_belongs_to_its_own_query() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A", "B", "C"])
    opened = page(qb, start(size=1))
    (answer,) = ask(qb, cont(opened.iterator_id, kind="ItemInventoryAssemblyQuery"))
    assert answer[0] == INVALID_ITERATOR_CODE  # type: ignore[index]
    assert page(qb, cont(opened.iterator_id, size=1)).remaining == 1  # still open for its own


def test_continue_may_change_the_page_size() -> None:
    qb = QuickBooksSimulator(load_schema(), items=[f"S{n}" for n in range(10)])
    first = page(qb, start(size=2))
    second = page(qb, cont(first.iterator_id, size=5))
    assert (len(second.entries), second.remaining) == (5, 3)


def test_stop_closes_an_iterator() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A", "B", "C"])
    opened = page(qb, start(size=1))
    stop = raw(
        qb,
        f'<ItemInventoryQueryRq requestID="1" iterator="Stop" iteratorID="{opened.iterator_id}">'
        "<MaxReturned>1</MaxReturned></ItemInventoryQueryRq>",
    )
    assert (stop.get("statusCode"), len(stop)) == ("0", 0)
    assert ask(qb, cont(opened.iterator_id))[0][0] == INVALID_ITERATOR_CODE  # type: ignore[index]


def test_an_empty_list_is_no_match() -> None:
    qb = QuickBooksSimulator(load_schema())
    assert page(qb, start()) == contract.ListPage("items", (), None, 0)


def test_iterators_need_qbxml_5() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A"])
    body = (
        '<ItemInventoryQueryRq iterator="Start"><MaxReturned>5</MaxReturned></ItemInventoryQueryRq>'
    )
    with pytest.raises(RequestRejected) as caught:
        raw(qb, body, version="4.1")
    assert caught.value.hresult == PARSE_ERROR_HRESULT
    assert raw(qb, body, version="5.0").get("iteratorRemainingCount") == "0"


def test_a_page_holds_what_the_list_held_when_the_iterator_started() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A", "B", "C"])
    opened = page(qb, start(size=1))
    qb.add_item("D")
    qb.rename_item("C", "C renamed")
    rest = page(qb, cont(opened.iterator_id, size=10))
    assert [e.full_name for e in rest.entries] == ["B", "C renamed"]


# -- entries --------------------------------------------------------------------------------


def test_quantity_on_hand_is_the_sum_over_every_site() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["Pump"], sites=["Main", "Truck"])
    qb.set_qoh("Pump", 10, "Main")
    qb.set_qoh("Pump", Decimal("2.5"), "Truck")
    qb.set_qoh("Pump", -1)  # not at any site
    (entry,) = page(qb, start()).entries
    assert entry.quantity_on_hand == 11.5
    assert qb.total_qoh("Pump") == Decimal("11.5")


def test_renames_keep_the_list_id_and_move_sub_items_too() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["Hardware:Bolt M8", "Hardware:Nut M8"])
    before = {e.full_name: e.list_id for e in page(qb, start()).entries}
    qb.rename_item("Hardware:Bolt M8", "Fasteners:Bolts:Hex bolt M8")
    qb.rename_item("Hardware", "Metalware")
    after = {e.full_name: e for e in page(qb, start()).entries}
    assert after["Fasteners:Bolts:Hex bolt M8"].list_id == before["Hardware:Bolt M8"]
    assert after["Fasteners:Bolts:Hex bolt M8"].name == "Hex bolt M8"
    assert after["Metalware:Nut M8"].list_id == before["Hardware:Nut M8"]
    assert after["Metalware"].list_id == before["Hardware"]
    assert {"Fasteners", "Fasteners:Bolts"} <= set(after)  # new parents, as in QuickBooks


def test_a_transaction_shows_the_current_name_of_its_item() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["SKU-1"], accounts=["Shrinkage"])
    qb.enter_adjustment_by_hand("AD-1", "Shrinkage", [("SKU-1", 1)])
    qb.rename_item("SKU-1", "Parts:SKU-1")
    (txn,) = qb.transactions
    assert txn.lines[0].item.full_name == "Parts:SKU-1"
    assert qb.qoh("Parts:SKU-1") == 1


def test_renames_follow_quickbooks_rules() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A:B", "C"])
    qb.add_item("K", assembly=True)
    with pytest.raises(SimulatorError, match="already"):
        qb.rename_item("C", "a:b")  # names are case-insensitive
    with pytest.raises(SimulatorError, match="under itself"):
        qb.rename_item("A", "A:B:A")
    with pytest.raises(SimulatorError, match="own type"):
        qb.rename_item("C", "K:C")
    with pytest.raises(SimulatorError, match="characters"):
        qb.rename_item("C", "x" * 32)


def test_deactivation_reaches_sub_items_and_active_status_filters() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["Old:One", "Old:Two", "New"])
    qb.set_item_active("Old", False)
    everything = {e.full_name: e.is_active for e in page(qb, start()).entries}
    assert everything == {"Old": False, "Old:One": False, "Old:Two": False, "New": True}

    def names(status: str | None) -> list[str]:
        element = f"<ActiveStatus>{status}</ActiveStatus>" if status else ""
        rs = raw(qb, f'<ItemInventoryQueryRq requestID="1">{element}</ItemInventoryQueryRq>')
        return [ret.findtext("FullName") or "" for ret in rs]

    assert names(None) == ["New"]  # ActiveOnly unless asked otherwise
    assert names("ActiveOnly") == ["New"]
    assert names("InactiveOnly") == ["Old", "Old:One", "Old:Two"]
    assert len(names("All")) == 4


def test_include_ret_element_returns_only_those_fields() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["Pumps:Water pump"])
    full = raw(qb, '<ItemInventoryQueryRq requestID="1"/>')
    assert [c.tag for c in full[1]][:10] == [
        "ListID",
        "TimeCreated",
        "TimeModified",
        "EditSequence",
        "Name",
        "FullName",
        "IsActive",
        "ParentRef",
        "Sublevel",
        "QuantityOnHand",
    ]
    rendered = render.render_batch([], V13, queries=[start()]).xml or ""
    trimmed = assert_valid(qb.process(rendered)).find("QBXMLMsgsRs/ItemInventoryQueryRs")
    assert [c.tag for c in trimmed[1]] == [
        "ListID",
        "Name",
        "FullName",
        "IsActive",
        "QuantityOnHand",
    ]


def test_a_transaction_against_an_inactive_item_is_not_modelled() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["SKU-1"], accounts=["Shrinkage"])
    qb.set_item_active("SKU-1", False)
    body = (
        '<InventoryAdjustmentAddRq requestID="1"><InventoryAdjustmentAdd>'
        "<AccountRef><FullName>Shrinkage</FullName></AccountRef>"
        "<InventoryAdjustmentLineAdd><ItemRef><FullName>SKU-1</FullName></ItemRef>"
        "<QuantityAdjustment><QuantityDifference>1</QuantityDifference></QuantityAdjustment>"
        "</InventoryAdjustmentLineAdd></InventoryAdjustmentAdd></InventoryAdjustmentAddRq>"
    )
    with pytest.raises(SimulatorError, match="inactive"):
        raw(qb, body)
    assert qb.transactions == []


def test_item_filters_it_does_not_model_fail_the_test() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A"])
    with pytest.raises(SimulatorError, match="FullName is not simulated"):
        raw(qb, '<ItemInventoryQueryRq requestID="1"><FullName>A</FullName></ItemInventoryQueryRq>')


# -- sites, accounts, capabilities -----------------------------------------------------------


def test_sites_need_multi_location_inventory() -> None:
    off = QuickBooksSimulator(
        load_schema(), advanced_inventory=False, advanced_inventory_available=True
    )
    assert ask(off, QueryRequest("s", "InventorySiteQuery")) == [
        (
            FEATURE_OFF_CODE,
            "This feature is not enabled or not available in this version of QuickBooks.",
        )
    ]
    on = QuickBooksSimulator(load_schema(), sites=["Main", "Truck 1"])
    on.set_site_active("Truck 1", False)
    sites = page(on, QueryRequest("s", "InventorySiteQuery"))
    assert [(e.name, e.full_name, e.is_active) for e in sites.entries] == [
        ("Main", "Main", True),
        ("Truck 1", "Truck 1", False),
    ]


def test_site_references_without_multi_location_inventory_get_3250() -> None:
    qb = QuickBooksSimulator(
        load_schema(), items=["SKU-1"], accounts=["Shrinkage"], advanced_inventory=False
    )
    qb.add_site("Main")
    rs = raw(
        qb,
        '<InventoryAdjustmentAddRq requestID="1"><InventoryAdjustmentAdd>'
        "<AccountRef><FullName>Shrinkage</FullName></AccountRef>"
        "<InventorySiteRef><FullName>Main</FullName></InventorySiteRef>"
        "<InventoryAdjustmentLineAdd><ItemRef><FullName>SKU-1</FullName></ItemRef>"
        "<QuantityAdjustment><QuantityDifference>1</QuantityDifference></QuantityAdjustment>"
        "</InventoryAdjustmentLineAdd></InventoryAdjustmentAdd></InventoryAdjustmentAddRq>",
    )
    assert rs.get("statusCode") == str(FEATURE_OFF_CODE)
    assert qb.transactions == []


@pytest.mark.parametrize(
    "body",
    [
        '<InventorySiteQueryRq requestID="1"/>',
        '<TransferInventoryQueryRq requestID="1"/>',
    ],
)
def test_multi_location_requests_do_not_parse_before_qbxml_10(body: str) -> None:
    qb = QuickBooksSimulator(load_schema())
    with pytest.raises(RequestRejected):
        raw(qb, body, version="9.0")


def test_accounts_carry_their_type() -> None:
    qb = QuickBooksSimulator(load_schema(), accounts=["Shrinkage"])
    qb.add_account("Cost of Goods Sold:Inventory Shrinkage", "CostOfGoodsSold")
    qb.add_account("Old write-offs", active=False)
    accounts = page(qb, QueryRequest("a", "AccountQuery"))
    assert [(e.full_name, e.account_type, e.is_active) for e in accounts.entries] == [
        ("Shrinkage", "Expense", True),
        ("Cost of Goods Sold", "Expense", True),
        ("Cost of Goods Sold:Inventory Shrinkage", "CostOfGoodsSold", True),
        ("Old write-offs", "Expense", False),
    ]
    with pytest.raises(SimulatorError, match="AccountType"):
        qb.add_account("Nope", "Expenses")


@pytest.mark.parametrize(
    ("on", "available", "version", "expected"),
    [
        (True, True, V13, contract.PreferencesInfo(True, True)),
        (False, True, V13, contract.PreferencesInfo(True, False)),
        (False, False, V13, contract.PreferencesInfo(False, False)),
        (True, True, QbxmlVersion(9, 0), contract.PreferencesInfo(None, None)),
    ],
)
def test_preferences_tell_multi_location_inventory(
    on: bool, available: bool, version: QbxmlVersion, expected: contract.PreferencesInfo
) -> None:
    qb = QuickBooksSimulator(
        load_schema(), advanced_inventory=on, advanced_inventory_available=available
    )
    assert ask(qb, QueryRequest("p", "PreferencesQuery"), version=version) == [expected]


def test_on_without_available_is_a_test_bug() -> None:
    with pytest.raises(SimulatorError):
        QuickBooksSimulator(
            load_schema(), advanced_inventory=True, advanced_inventory_available=False
        )


def test_host_and_company() -> None:
    qb = QuickBooksSimulator(load_schema(), company_name="Harbor & Sons")
    host, company = ask(qb, QueryRequest("h", "HostQuery"), QueryRequest("c", "CompanyQuery"))
    assert isinstance(host, contract.HostInfo)
    assert (host.product_name, host.major_version, host.supported_versions[-1]) == (
        "QuickBooks Enterprise Solutions 14.0",
        24,
        "13.0",
    )
    assert company == contract.CompanyInfo("Harbor & Sons")


def test_faults_apply_to_reads_too() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A"])
    qb.fail_next(3175, "locked", request_kind="ItemInventoryQuery")
    assert ask(qb, start()) == [(3175, "locked")]
    assert page(qb, start()).entries[0].full_name == "A"


def test_the_web_connector_passes_the_company_s_own_hcp_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QBWC opens the company file, asks it, and hands its answers to the first sendRequestXML."""
    qb = QuickBooksSimulator(load_schema(), advanced_inventory=False)
    opened: list[bool] = []
    original_open = qb.open_company

    def open_company() -> None:
        opened.append(True)
        original_open()

    monkeypatch.setattr(qb, "open_company", open_company)
    sent: list[dict[str, Any]] = []
    answers = {
        "serverVersion": "",
        "clientVersion": "",
        "authenticate": ["ticket", ""],
        "sendRequestXML": "",
        "getLastError": "nothing to do",
        "closeConnection": "OK",
    }

    def call(self: qbwc_simulator.SoapClient, method: str, **params: Any) -> Any:
        sent.append({"method": method, **params})
        return answers[method]

    monkeypatch.setattr(qbwc_simulator.SoapClient, "call", call)
    qbwc_simulator.QbwcSimulator("http://bridge.invalid/qbwc", "u", "p", qb).run_session()
    (send,) = [c for c in sent if c["method"] == "sendRequestXML"]
    assert opened == [True]
    assert send["strHCPResponse"] == qb.hcp_response()
    assert read_hcp(send["strHCPResponse"])[-1] == contract.PreferencesInfo(False, False)


def test_without_its_own_hcp_the_constant_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Plain:
        def process(self, request_xml: str) -> str:
            raise AssertionError("nothing should be sent")

    sent: list[str] = []

    def call(self: qbwc_simulator.SoapClient, method: str, **params: Any) -> Any:
        if method == "sendRequestXML":
            sent.append(params["strHCPResponse"])
        return {"authenticate": ["ticket", ""]}.get(method, "")

    monkeypatch.setattr(qbwc_simulator.SoapClient, "call", call)
    qbwc_simulator.QbwcSimulator("http://bridge.invalid/qbwc", "u", "p", Plain()).run_session()
    assert sent == [qbwc_simulator.HCP_RESPONSE]


def test_qbwc_s_own_questions_do_not_use_up_injected_faults() -> None:
    qb = QuickBooksSimulator(load_schema(), items=["A"])
    qb.fail_next(1000, "Internal error")
    qb.hcp_response()
    assert ask(qb, start()) == [(1000, "Internal error")]
