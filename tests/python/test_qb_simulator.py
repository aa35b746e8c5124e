"""The QuickBooks simulator behaves like QuickBooks, faults included."""

from __future__ import annotations

import re
from datetime import UTC, date
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree
from support.qb_simulator import (
    LOCKED_CODE,
    NOT_RUNNING_HRESULT,
    PARSE_ERROR_HRESULT,
    PARSE_ERROR_MESSAGE,
    QuickBooksSimulator,
    SimulatorError,
)
from support.qbwc_simulator import QuickBooksUnavailable, RequestRejected, ResponseLost
from support.qbxml_schema import assert_valid, load_schema

from qbwc_bridge.contract import ClaimedEvent
from qbwc_bridge.qbxml import render
from qbwc_bridge.qbxml.render import OnError
from qbwc_bridge.versions import QbxmlVersion

OCCURRED = 1710041400000  # 2024-03-10 UTC
TXN_ID = re.compile(r"^[0-9A-F]+-\d{10}$")


def guid(n: int, kind: int = 0) -> str:
    """A GUID per test event, e.g. {0123ABCD-0000-4000-8000-000000000001}."""
    return f"{{0123ABCD-000{kind}-4000-8000-{n:012d}}}"


@pytest.fixture
def qb() -> QuickBooksSimulator:
    sim = QuickBooksSimulator(
        load_schema(),
        items=["SKU-1", "SKU-2"],
        sites=["Main", "Truck"],
        accounts=["Shrinkage"],
    )
    sim.set_qoh("SKU-1", 10, "Main")
    return sim


def adjustment(n: int = 1, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": f"a{n}",
        "claimToken": f"a{n}:1",
        "mode": "send",
        "type": "adjustment",
        "refNumber": f"AD-{n:06d}",
        "externalGuid": guid(n),
        "occurredAt": OCCURRED,
        "memo": "count & <fix>",
        "account": {"fullName": "Shrinkage"},
        "site": {"fullName": "Main"},
        "lines": [{"sku": "SKU-1", "item": None, "quantity": -2}],
    }
    event.update(overrides)
    return event


def transfer(n: int = 1, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": f"t{n}",
        "claimToken": f"t{n}:1",
        "mode": "send",
        "type": "transfer",
        "refNumber": f"TR-{n:06d}",
        "externalGuid": guid(n, kind=1),
        "occurredAt": OCCURRED,
        "fromSite": {"fullName": "Main"},
        "toSite": {"fullName": "Truck"},
        "lines": [{"sku": "SKU-1", "item": None, "quantity": 3}],
    }
    event.update(overrides)
    return event


def message(*events: dict[str, Any], on_error: OnError = "continueOnError") -> str:
    claimed = [ClaimedEvent.from_payload(event) for event in events]
    batch = render.render_batch(claimed, QbxmlVersion(13, 0), tz=UTC, on_error=on_error)
    assert batch.refusals == ()
    assert batch.xml is not None
    return batch.xml


def run(
    qb: QuickBooksSimulator, *events: dict[str, Any], on_error: OnError = "continueOnError"
) -> list[etree._Element]:
    """Sends one message; returns the Rs elements of the (schema-valid) answer."""
    root = assert_valid(qb.process(message(*events, on_error=on_error)))
    return list(root.find("QBXMLMsgsRs"))


def status(rs: etree._Element) -> tuple[str | None, int, str]:
    return rs.get("requestID"), int(rs.get("statusCode", "-1")), rs.get("statusSeverity", "")


# -- saving -------------------------------------------------------------------------------


def test_adjustment_is_saved_with_a_txn_id_and_moves_qoh(qb: QuickBooksSimulator) -> None:
    (rs,) = run(qb, adjustment())
    assert status(rs) == ("a1:1", 0, "Info")
    txn_id = rs.findtext("InventoryAdjustmentRet/TxnID")
    assert TXN_ID.match(txn_id)
    assert rs.findtext("InventoryAdjustmentRet/RefNumber") == "AD-000001"
    assert rs.findtext("InventoryAdjustmentRet/Memo") == "count & <fix>"
    assert rs.findtext("InventoryAdjustmentRet/ExternalGUID") == guid(1)
    assert qb.qoh("SKU-1", "Main") == Decimal(8)
    assert qb.count_by_ref("AD-000001") == 1
    (txn,) = qb.transactions
    assert (txn.txn_id, txn.kind, str(txn.txn_date)) == (
        txn_id,
        "InventoryAdjustment",
        "2024-03-10",
    )
    assert [(line.item.full_name, line.quantity) for line in txn.lines] == [("SKU-1", Decimal(-2))]
    assert txn.external_guid == guid(1)


def test_adjustment_without_site_counts_at_no_site(qb: QuickBooksSimulator) -> None:
    run(qb, adjustment(site=None, lines=[{"sku": "SKU-2", "item": None, "quantity": 1.5}]))
    assert qb.qoh("SKU-2") == Decimal("1.5")
    assert qb.qoh("SKU-2", "Main") == 0


def test_transfer_moves_stock_between_sites(qb: QuickBooksSimulator) -> None:
    (rs,) = run(qb, transfer())
    assert status(rs) == ("t1:1", 0, "Info")
    assert rs.findtext("TransferInventoryRet/TransferInventoryLineRet/QuantityTransferred") == "3"
    assert rs.findtext("TransferInventoryRet/ExternalGUID") == guid(1, kind=1)
    assert qb.transactions[0].external_guid == guid(1, kind=1)
    assert (qb.qoh("SKU-1", "Main"), qb.qoh("SKU-1", "Truck")) == (7, 3)
    assert qb.qoh_table() == {("SKU-1", "Main"): 7, ("SKU-1", "Truck"): 3}


def test_list_ids_and_case_insensitive_names_resolve(qb: QuickBooksSimulator) -> None:
    item = qb.add_item("Bolts:M8", list_id="8000ABCD-1700000000")
    event = adjustment(
        account={"fullName": "SHRINKAGE"},
        site={"fullName": "main"},
        lines=[{"sku": "M8", "item": {"listId": item.list_id}, "quantity": 4}],
    )
    (rs,) = run(qb, event)
    assert status(rs)[1] == 0
    assert qb.qoh("Bolts:M8", "Main") == 4
    assert qb.qoh(item.list_id, "Main") == 4


def test_new_quantity_sets_the_count(qb: QuickBooksSimulator) -> None:
    xml = message(adjustment()).replace(
        "<QuantityDifference>-2</QuantityDifference>", "<NewQuantity>3</NewQuantity>"
    )
    assert_valid(qb.process(xml))
    assert qb.qoh("SKU-1", "Main") == 3
    assert qb.transactions[0].lines[0].quantity == -7


# -- refusing requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "object_name", "name"),
    [
        (adjustment(account={"fullName": "Nope"}), "Account", "Nope"),
        (adjustment(site={"fullName": "Attic"}), "Inventory Site", "Attic"),
        (adjustment(lines=[{"sku": "GHOST", "item": None, "quantity": 1}]), "Item", "GHOST"),
        (transfer(toSite={"listId": "80FFFFFF-1"}), "Inventory Site", "80FFFFFF-1"),
        (transfer(lines=[{"sku": "GHOST", "item": None, "quantity": 1}]), "Item", "GHOST"),
    ],
)
def test_unknown_references_get_3140_and_save_nothing(
    qb: QuickBooksSimulator, event: dict[str, Any], object_name: str, name: str
) -> None:
    (rs,) = run(qb, event)
    assert status(rs)[1:] == (3140, "Error")
    assert rs.get("statusMessage").startswith(
        f'There is an invalid reference to QuickBooks {object_name} "{name}"'
    )
    assert len(rs) == 0
    assert qb.transactions == []
    assert qb.qoh_table() == {("SKU-1", "Main"): 10}


def test_one_bad_line_saves_nothing_of_the_transaction(qb: QuickBooksSimulator) -> None:
    lines = [
        {"sku": "SKU-1", "item": None, "quantity": 5},
        {"sku": "GHOST", "item": None, "quantity": 1},
    ]
    (rs,) = run(qb, adjustment(lines=lines))
    assert status(rs)[1] == 3140
    assert qb.qoh("SKU-1", "Main") == 10


def test_without_advanced_inventory_sites_and_transfers_get_3250() -> None:
    qb = QuickBooksSimulator(
        items=["SKU-1"], sites=["Main", "Truck"], accounts=["Shrinkage"], advanced_inventory=False
    )
    answers = run(
        qb,
        transfer(),
        adjustment(2),
        adjustment(3, site=None),
        transfer(4, mode="lookup"),
    )
    assert [status(rs)[1] for rs in answers] == [3250, 3250, 0, 3250]
    assert [txn.ref_number for txn in qb.transactions] == ["AD-000003"]


def test_continue_on_error_runs_everything(qb: QuickBooksSimulator) -> None:
    answers = run(qb, adjustment(1), adjustment(2, account={"fullName": "Nope"}), transfer(3))
    assert [status(rs)[:2] for rs in answers] == [("a1:1", 0), ("a2:1", 3140), ("t3:1", 0)]
    assert len(qb.transactions) == 2


def test_stop_on_error_stops_at_the_first_error(qb: QuickBooksSimulator) -> None:
    events = (adjustment(1), adjustment(2, account={"fullName": "Nope"}), transfer(3))
    answers = run(qb, *events, on_error="stopOnError")
    assert [status(rs)[:2] for rs in answers] == [("a1:1", 0), ("a2:1", 3140)]
    assert qb.count_by_ref("TR-000003") == 0


# -- lookups ----------------------------------------------------------------------------------


def test_lookup_finds_a_saved_transaction_by_ref_number(qb: QuickBooksSimulator) -> None:
    (saved,) = run(qb, transfer())
    (found,) = run(qb, transfer(mode="lookup"))
    assert status(found) == ("t1:1", 0, "Info")
    rets = found.findall("TransferInventoryRet")
    assert [ret.findtext("TxnID") for ret in rets] == [saved.findtext("TransferInventoryRet/TxnID")]
    # What tells our transaction from a namesake: its GUID, sites and lines (IncludeLineItems).
    assert rets[0].findtext("ExternalGUID") == guid(1, kind=1)
    assert rets[0].findtext("FromInventorySiteRef/FullName") == "Main"
    assert rets[0].findtext("ToInventorySiteRef/FullName") == "Truck"
    lines = rets[0].findall("TransferInventoryLineRet")
    assert [
        (ln.findtext("ItemRef/FullName"), ln.findtext("QuantityTransferred")) for ln in lines
    ] == [("SKU-1", "3")]


def test_query_without_include_line_items_returns_no_lines(qb: QuickBooksSimulator) -> None:
    run(qb, transfer())
    query = message(transfer(mode="lookup")).replace(
        "<IncludeLineItems>true</IncludeLineItems>", ""
    )
    assert "IncludeLineItems" not in query
    rs = assert_valid(qb.process(query)).find("QBXMLMsgsRs/TransferInventoryQueryRs")
    (ret,) = rs.findall("TransferInventoryRet")
    assert ret.find("TransferInventoryLineRet") is None
    assert ret.findtext("ExternalGUID") == guid(1, kind=1)  # header fields still come back


def test_lookup_without_match_answers_status_1(qb: QuickBooksSimulator) -> None:
    run(qb, adjustment(1))
    (rs,) = run(qb, adjustment(2, mode="lookup"))
    assert status(rs) == ("a2:1", 1, "Info")
    assert rs.get("statusMessage") == "A query request did not find a matching object in QuickBooks"


def test_lookup_respects_the_date_window(qb: QuickBooksSimulator) -> None:
    run(qb, adjustment(1))
    ten_days_later = adjustment(1, mode="lookup", occurredAt=OCCURRED + 10 * 86_400_000)
    (rs,) = run(qb, ten_days_later)
    assert status(rs)[1] == 1


def test_lookup_does_not_confuse_kinds(qb: QuickBooksSimulator) -> None:
    run(qb, adjustment(1, refNumber="X-1"))
    (rs,) = run(qb, transfer(1, mode="lookup", refNumber="X-1"))
    assert status(rs)[1] == 1


def test_hand_entered_adjustment_has_no_guid_and_moves_stock(qb: QuickBooksSimulator) -> None:
    txn = qb.enter_adjustment_by_hand(
        "AD-000001", "Shrinkage", [("SKU-1", -4)], site="Main", txn_date=date(2024, 3, 10)
    )
    assert txn.external_guid is None
    assert qb.qoh("SKU-1", "Main") == 6
    assert qb.count_by_ref("AD-000001") == 1
    # The event's lookup finds it by RefNumber: no ExternalGUID, the content to compare.
    (rs,) = run(qb, adjustment(1, mode="lookup"))
    assert status(rs) == ("a1:1", 0, "Info")
    (ret,) = rs.findall("InventoryAdjustmentRet")
    assert ret.findtext("TxnID") == txn.txn_id
    assert ret.find("ExternalGUID") is None
    assert ret.findtext("AccountRef/FullName") == "Shrinkage"
    assert ret.findtext("InventorySiteRef/FullName") == "Main"
    assert ret.findtext("InventoryAdjustmentLineRet/QuantityDifference") == "-4"


def test_hand_entered_and_bridge_sent_namesakes_differ_by_guid(qb: QuickBooksSimulator) -> None:
    """RefNumbers are not unique in QuickBooks: a lookup returns both, the GUID tells them apart."""
    qb.enter_adjustment_by_hand(
        "AD-000001", "Shrinkage", [("SKU-1", 1)], txn_date=date(2024, 3, 10)
    )
    run(qb, adjustment(1))
    (rs,) = run(qb, adjustment(1, mode="lookup"))
    assert [ret.findtext("ExternalGUID") for ret in rs.findall("InventoryAdjustmentRet")] == [
        None,
        guid(1),
    ]


@pytest.mark.parametrize(
    ("account", "site", "item"),
    [("Nope", None, "SKU-1"), ("Shrinkage", "Attic", "SKU-1"), ("Shrinkage", None, "GHOST")],
)
def test_entering_by_hand_unknown_names_is_a_test_bug(
    qb: QuickBooksSimulator, account: str, site: str | None, item: str
) -> None:
    with pytest.raises(SimulatorError):
        qb.enter_adjustment_by_hand("AD-1", account, [(item, 1)], site=site)
    assert qb.transactions == []
    assert qb.qoh_table() == {("SKU-1", "Main"): 10}


def test_exact_ref_number_and_line_items_queries(qb: QuickBooksSimulator) -> None:
    run(qb, adjustment(1), adjustment(12))
    query = (
        '<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML>'
        '<QBXMLMsgsRq onError="continueOnError"><InventoryAdjustmentQueryRq requestID="q">'
        "<RefNumber>ad-000001</RefNumber><RefNumber>AD-000012</RefNumber>"
        "<IncludeLineItems>true</IncludeLineItems></InventoryAdjustmentQueryRq></QBXMLMsgsRq></QBXML>"
    )
    rs = assert_valid(qb.process(query)).find("QBXMLMsgsRs/InventoryAdjustmentQueryRs")
    rets = rs.findall("InventoryAdjustmentRet")
    assert [ret.findtext("RefNumber") for ret in rets] == ["AD-000001", "AD-000012"]
    assert rets[0].findtext("InventoryAdjustmentLineRet/QuantityDifference") == "-2"


# -- faults -------------------------------------------------------------------------------------


def test_lock_fault_hits_the_next_n_requests_for_that_ref(qb: QuickBooksSimulator) -> None:
    qb.lock_next("AD-000001", times=2)
    for _ in range(2):
        (locked, other) = run(qb, adjustment(1), adjustment(2))
        assert status(locked)[1] == LOCKED_CODE
        assert "in use" in locked.get("statusMessage")
        assert status(other)[1] == 0
    (rs,) = run(qb, adjustment(1))
    assert status(rs)[1] == 0
    assert qb.count_by_ref("AD-000001") == 1
    assert qb.count_by_ref("AD-000002") == 2  # the test resent it: QuickBooks does not dedupe


def test_any_status_can_be_injected_per_kind(qb: QuickBooksSimulator) -> None:
    qb.fail_next(
        3180,
        "There was an error when saving. Insufficient quantity.",
        request_kind="TransferInventoryAdd",
    )
    answers = run(qb, adjustment(1), transfer(1), transfer(2))
    assert [status(rs)[1] for rs in answers] == [0, 3180, 0]
    assert [txn.ref_number for txn in qb.transactions] == ["AD-000001", "TR-000002"]


def test_lookups_can_fail_too(qb: QuickBooksSimulator) -> None:
    qb.fail_next(
        1010, "System not available", ref_number="TR-000001", request_kind="TransferInventoryQuery"
    )
    (rs,) = run(qb, transfer(mode="lookup"))
    assert status(rs)[1] == 1010


def test_lost_response_saves_but_never_answers(qb: QuickBooksSimulator) -> None:
    qb.lose_next_response()
    with pytest.raises(ResponseLost):
        qb.process(message(transfer()))
    assert qb.count_by_ref("TR-000001") == 1
    assert qb.responses == []
    # What the bridge does next: ask before sending again. Found, so no duplicate.
    (rs,) = run(qb, transfer(mode="lookup"))
    assert rs.findtext("TransferInventoryRet/TxnID") == qb.transactions[0].txn_id
    assert qb.count_by_ref("TR-000001") == 1


def test_rejected_message_runs_nothing(qb: QuickBooksSimulator) -> None:
    qb.reject_next_message()
    with pytest.raises(RequestRejected) as caught:
        qb.process(message(adjustment()))
    assert (caught.value.hresult, caught.value.message) == (
        PARSE_ERROR_HRESULT,
        PARSE_ERROR_MESSAGE,
    )
    assert qb.transactions == []
    run(qb, adjustment())
    assert len(qb.transactions) == 1


def test_not_running_is_a_connection_error(qb: QuickBooksSimulator) -> None:
    qb.stop()
    with pytest.raises(QuickBooksUnavailable) as caught:
        qb.open_company()
    assert caught.value.hresult == NOT_RUNNING_HRESULT
    with pytest.raises(QuickBooksUnavailable):
        qb.process(message(adjustment()))
    assert qb.transactions == []
    qb.start()
    qb.open_company()
    run(qb, adjustment())


GOOD = message(adjustment())


@pytest.mark.parametrize(
    "bad",
    [
        "this is not xml",
        GOOD.replace("</QBXML>", ""),
        # element order matters to QuickBooks: TxnDate before RefNumber
        GOOD.replace(
            "<TxnDate>2024-03-10</TxnDate><RefNumber>AD-000001</RefNumber>",
            "<RefNumber>AD-000001</RefNumber><TxnDate>2024-03-10</TxnDate>",
        ),
        GOOD.replace("AD-000001", "AD-0000000001"),  # RefNumber > 11
        GOOD.replace("count &amp; &lt;fix&gt;", "count ✓"),  # outside ISO-8859-1
        GOOD.replace(guid(1), "{not-a-guid}"),  # GUIDTYPE
        GOOD.replace('<?qbxml version="13.0"?>', ""),
        GOOD.replace('<?qbxml version="13.0"?>', '<?qbxml version="14.0"?>'),
    ],
    ids=[
        "garbage",
        "unclosed",
        "order",
        "length",
        "non-latin1",
        "bad-guid",
        "no-version",
        "future-version",
    ],
)
def test_invalid_messages_fail_whole_with_0x80040400(qb: QuickBooksSimulator, bad: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        qb.process(bad)
    assert caught.value.hresult == PARSE_ERROR_HRESULT
    assert qb.transactions == []
    assert qb.messages == [bad]


def test_every_answer_is_schema_valid_and_kept(qb: QuickBooksSimulator) -> None:
    run(qb, adjustment(1), transfer(1), adjustment(2, mode="lookup"), transfer(2, mode="lookup"))
    assert len(qb.responses) == 1
    assert_valid(qb.responses[0])


def test_unsimulated_requests_fail_the_test_not_quickbooks(qb: QuickBooksSimulator) -> None:
    xml = (
        '<?xml version="1.0"?><?qbxml version="13.0"?>'
        '<QBXML><QBXMLMsgsRq onError="continueOnError">'
        '<CustomerQueryRq requestID="1"/></QBXMLMsgsRq></QBXML>'
    )
    with pytest.raises(SimulatorError, match="CustomerQueryRq"):
        qb.process(xml)


def test_lists_refuse_duplicates(qb: QuickBooksSimulator) -> None:
    with pytest.raises(SimulatorError):
        qb.add_site("MAIN")


def test_inspecting_unknown_items_is_a_test_bug(qb: QuickBooksSimulator) -> None:
    with pytest.raises(SimulatorError):
        qb.qoh("nope")
