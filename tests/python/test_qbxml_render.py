# ruff: noqa: RUF001  (the character policy is tested with exactly these characters)
"""qbXML rendering: every message validates against Intuit's 13.0 schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from support.qbxml_schema import assert_valid

from qbwc_bridge.contract import ClaimedEvent, QueryRequest
from qbwc_bridge.qbxml import render
from qbwc_bridge.qbxml.text import to_qb_text, truncate
from qbwc_bridge.versions import QbxmlVersion

# 2024-03-10T03:30:00Z: still March 9th in California.
OCCURRED = 1710041400000.0
GUID_ADJ = "{0123ABCD-0000-4000-8000-000000000001}"
GUID_TR = "{0123ABCD-0000-4000-8000-000000000002}"


def adjustment(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": "evt_adj1",
        "claimToken": "evt_adj1:1",
        "mode": "send",
        "type": "adjustment",
        "refNumber": "AD-000001",
        "externalGuid": GUID_ADJ,
        "occurredAt": OCCURRED,
        "memo": "Cycle count",
        "retryCount": 0,
        "account": {"listId": None, "fullName": "Inventory Shrinkage"},
        "site": None,
        "reasonCode": "SHRINK",
        "locationCode": "WH-A",
        "lines": [{"sku": "SKU-1", "item": {"listId": None, "fullName": "SKU-1"}, "quantity": -2}],
    }
    event.update(overrides)
    return event


def transfer(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": "evt_tr1",
        "claimToken": "evt_tr1:1",
        "mode": "send",
        "type": "transfer",
        "refNumber": "TR-000001",
        "externalGuid": GUID_TR,
        "occurredAt": OCCURRED,
        "memo": None,
        "retryCount": 0,
        "fromSite": {"listId": None, "fullName": "Main"},
        "toSite": {"listId": None, "fullName": "Truck 1"},
        "fromLocationCode": "WH-A",
        "toLocationCode": "TRUCK-1",
        "lines": [{"sku": "SKU-1", "item": {"listId": None, "fullName": "SKU-1"}, "quantity": 5}],
    }
    event.update(overrides)
    return event


def claimed(payloads: Sequence[dict[str, Any]]) -> list[ClaimedEvent]:
    """The queue's payloads as the gateway hands them over: parsed once."""
    return [ClaimedEvent.from_payload(payload) for payload in payloads]


def batch_of(
    payloads: Sequence[dict[str, Any]], version: str = "13.0", **kwargs: Any
) -> render.RenderedBatch:
    kwargs.setdefault("tz", UTC)
    return render.render_batch(claimed(payloads), QbxmlVersion.parse(version), **kwargs)


def render_valid(
    events: list[dict[str, Any]], version: str = "13.0", **kwargs: Any
) -> etree._Element:
    batch = batch_of(events, version, **kwargs)
    assert batch.refusals == (), batch.refusals
    assert batch.xml is not None
    return assert_valid(batch.xml)


def request(root: etree._Element, index: int = 0) -> etree._Element:
    return root.find("QBXMLMsgsRq")[index]


# -- the envelope ------------------------------------------------------------------------


def test_message_has_declaration_version_instruction_and_continue_on_error() -> None:
    batch = batch_of([adjustment()])
    assert batch.xml is not None
    assert batch.xml.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>')
    root = assert_valid(batch.xml)
    assert root.tag == "QBXML"
    assert root.find("QBXMLMsgsRq").get("onError") == "continueOnError"


def test_stop_on_error_can_be_asked_for() -> None:
    root = render_valid([adjustment()], on_error="stopOnError")
    assert root.find("QBXMLMsgsRq").get("onError") == "stopOnError"


def test_request_id_is_the_claim_token_and_requests_are_reported() -> None:
    batch = batch_of([adjustment(), transfer()])
    root = assert_valid(batch.xml or "")
    assert [rq.get("requestID") for rq in root.find("QBXMLMsgsRq")] == ["evt_adj1:1", "evt_tr1:1"]
    assert [(r.event_id, r.claim_token, r.ref_number, r.mode, r.kind) for r in batch.requests] == [
        ("evt_adj1", "evt_adj1:1", "AD-000001", "send", "InventoryAdjustmentAdd"),
        ("evt_tr1", "evt_tr1:1", "TR-000001", "send", "TransferInventoryAdd"),
    ]


def test_a_request_id_used_twice_is_refused_the_second_time() -> None:
    # Answers are matched by requestID: a second request under one id would take the
    # first one's answer, whether the first is an event's or a read's.
    host = QueryRequest("q1", "HostQuery")
    twice = adjustment(eventId="evt_adj2", externalGuid=GUID_TR)  # evt_adj1's claim token
    read_id = transfer(claimToken="q1")
    batch = batch_of([adjustment(), twice, read_id], queries=[host])
    assert batch.request_ids == ("q1", "evt_adj1:1")
    assert [(r.event_id, r.claim_token) for r in batch.refusals] == [
        ("evt_adj2", "evt_adj1:1"),
        ("evt_tr1", "q1"),
    ]
    assert all("used twice" in r.reason and "queue bug" in r.reason for r in batch.refusals)


def test_older_version_goes_into_the_instruction() -> None:
    batch = batch_of([adjustment()], "12.0")
    assert '<?qbxml version="12.0"?>' in (batch.xml or "")


# -- adjustments ---------------------------------------------------------------------------


def test_adjustment_by_full_names_without_site() -> None:
    add = request(render_valid([adjustment()])).find("InventoryAdjustmentAdd")
    assert [child.tag for child in add] == [
        "AccountRef",
        "TxnDate",
        "RefNumber",
        "Memo",
        "ExternalGUID",
        "InventoryAdjustmentLineAdd",
    ]
    assert add.findtext("AccountRef/FullName") == "Inventory Shrinkage"
    assert add.findtext("TxnDate") == "2024-03-10"
    assert add.findtext("RefNumber") == "AD-000001"
    line = add.find("InventoryAdjustmentLineAdd")
    assert line.findtext("ItemRef/FullName") == "SKU-1"
    assert line.findtext("QuantityAdjustment/QuantityDifference") == "-2"


def test_adjustment_prefers_list_ids_and_names_the_site() -> None:
    event = adjustment(
        account={"listId": "8000001A-1600000000", "fullName": "Inventory Shrinkage"},
        site={"listId": "80000002-1600000001", "fullName": "Main"},
        lines=[
            {
                "sku": "SKU-1",
                "item": {"listId": "80000003-1600000002", "fullName": "SKU-1"},
                "quantity": 4,
            },
            {"sku": "SKU-2", "item": {"listId": None, "fullName": "Bolts:SKU-2"}, "quantity": -1.5},
            {"sku": "SKU-3", "item": None, "quantity": 7},
            {"sku": "SKU-4", "item": {"listId": None, "fullName": None}, "quantity": 1},
        ],
    )
    add = request(render_valid([event])).find("InventoryAdjustmentAdd")
    assert add.findtext("AccountRef/ListID") == "8000001A-1600000000"
    assert add.find("AccountRef/FullName") is None  # ListID alone: no mismatch to argue about
    assert add.findtext("InventorySiteRef/ListID") == "80000002-1600000001"
    lines = add.findall("InventoryAdjustmentLineAdd")
    assert [etree.tostring(line.find("ItemRef"), encoding="unicode") for line in lines] == [
        "<ItemRef><ListID>80000003-1600000002</ListID></ItemRef>",
        "<ItemRef><FullName>Bolts:SKU-2</FullName></ItemRef>",
        "<ItemRef><FullName>SKU-3</FullName></ItemRef>",  # no mapping: the SKU is the name
        "<ItemRef><FullName>SKU-4</FullName></ItemRef>",
    ]
    assert [line.findtext(".//QuantityDifference") for line in lines] == ["4", "-1.5", "7", "1"]


def test_txn_date_is_counted_in_the_given_timezone() -> None:
    batch = batch_of([adjustment()], tz=ZoneInfo("America/Los_Angeles"))
    assert "<TxnDate>2024-03-09</TxnDate>" in (batch.xml or "")


def test_absent_optional_keys_are_fine() -> None:
    event = {
        "eventId": "e9",
        "claimToken": "e9:3",
        "mode": "send",
        "type": "adjustment",
        "refNumber": "AD-000009",
        "externalGuid": GUID_ADJ,
        "occurredAt": OCCURRED,
        "account": {"fullName": "Shrinkage"},
        "lines": [{"sku": "SKU-9", "quantity": 1}],
    }
    add = request(render_valid([event])).find("InventoryAdjustmentAdd")
    assert add.find("Memo") is None
    assert add.find("InventorySiteRef") is None


@pytest.mark.parametrize("memo", [None, "", "   ", "\x00\x01"])
def test_empty_memo_is_left_out(memo: str | None) -> None:
    add = request(render_valid([adjustment(memo=memo)])).find("InventoryAdjustmentAdd")
    assert add.find("Memo") is None


# -- transfers ------------------------------------------------------------------------------


def test_transfer_between_sites() -> None:
    event = transfer(
        memo="Restock",
        lines=[
            {"sku": "SKU-1", "item": {"listId": None, "fullName": "SKU-1"}, "quantity": 5},
            {
                "sku": "SKU-2",
                "item": {"listId": "80000009-1", "fullName": "SKU-2"},
                "quantity": 0.25,
            },
        ],
    )
    add = request(render_valid([event])).find("TransferInventoryAdd")
    assert [child.tag for child in add] == [
        "TxnDate",
        "RefNumber",
        "FromInventorySiteRef",
        "ToInventorySiteRef",
        "Memo",
        "ExternalGUID",
        "TransferInventoryLineAdd",
        "TransferInventoryLineAdd",
    ]
    assert add.findtext("FromInventorySiteRef/FullName") == "Main"
    assert add.findtext("ToInventorySiteRef/FullName") == "Truck 1"
    lines = add.findall("TransferInventoryLineAdd")
    assert [line.findtext("QuantityToTransfer") for line in lines] == ["5", "0.25"]
    assert lines[1].findtext("ItemRef/ListID") == "80000009-1"


# -- lookups --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "tag"),
    [
        (adjustment(mode="lookup"), "InventoryAdjustmentQueryRq"),
        (transfer(mode="lookup"), "TransferInventoryQueryRq"),
    ],
)
def test_lookup_filters_by_ref_number_within_a_date_window(event: dict[str, Any], tag: str) -> None:
    rq = request(render_valid([event]))
    assert rq.tag == tag
    assert rq.get("requestID") == event["claimToken"]
    assert [child.tag for child in rq] == [
        "TxnDateRangeFilter",
        "RefNumberFilter",
        "IncludeLineItems",
    ]
    assert rq.findtext("TxnDateRangeFilter/FromTxnDate") == "2024-03-08"
    assert rq.findtext("TxnDateRangeFilter/ToTxnDate") == "2024-03-12"
    assert rq.findtext("RefNumberFilter/MatchCriterion") == "StartsWith"
    assert rq.findtext("RefNumberFilter/RefNumber") == event["refNumber"]
    # The matches come back with their lines, so Convex can tell ours from a namesake.
    assert rq.findtext("IncludeLineItems") == "true"
    assert rq.find(".//ExternalGUID") is None  # a query filters by RefNumber, never by GUID


def test_lookup_needs_no_mapping() -> None:
    """The mapping may have changed since the send; the RefNumber is all a lookup needs."""
    events = [
        adjustment(mode="lookup", account=None),
        transfer(mode="lookup", fromSite=None, toSite=None),
    ]
    root = render_valid(events)
    assert len(root.find("QBXMLMsgsRq")) == 2


def test_mixed_batch_keeps_order() -> None:
    events = [
        adjustment(eventId="a1", claimToken="a1:1"),
        transfer(eventId="t1", claimToken="t1:1", mode="lookup"),
        transfer(eventId="t2", claimToken="t2:2", refNumber="TR-000002"),
        adjustment(eventId="a2", claimToken="a2:1", mode="lookup", refNumber="AD-000002"),
    ]
    root = render_valid(events)
    assert [(rq.tag, rq.get("requestID")) for rq in root.find("QBXMLMsgsRq")] == [
        ("InventoryAdjustmentAddRq", "a1:1"),
        ("TransferInventoryQueryRq", "t1:1"),
        ("TransferInventoryAddRq", "t2:2"),
        ("InventoryAdjustmentQueryRq", "a2:1"),
    ]


# -- ExternalGUID --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "tag", "version"),
    [
        (adjustment(), "InventoryAdjustment", "9.0"),
        (adjustment(), "InventoryAdjustment", "13.0"),
        (transfer(memo="Restock"), "TransferInventory", "10.0"),
        (transfer(memo="Restock"), "TransferInventory", "13.0"),
    ],
)
def test_adds_carry_the_event_guid_from_qbxml_9(
    event: dict[str, Any], tag: str, version: str
) -> None:
    add = request(render_valid([event], version)).find(f"{tag}Add")
    assert add.findtext("ExternalGUID") == event["externalGuid"]
    tags = [child.tag for child in add]
    # Schema order (also checked by render_valid): right after Memo, right before the lines.
    guid = tags.index("ExternalGUID")
    assert (tags[guid - 1], tags[guid + 1]) == ("Memo", f"{tag}LineAdd")


def test_guid_follows_refs_when_there_is_no_memo() -> None:
    add = request(render_valid([adjustment(memo=None)])).find("InventoryAdjustmentAdd")
    assert [child.tag for child in add][3:5] == ["ExternalGUID", "InventoryAdjustmentLineAdd"]


@pytest.mark.parametrize("version", ["8.0", "7.0", "1.0"])
def test_no_guid_below_qbxml_9(version: str) -> None:
    """Before 9.0 QuickBooks does not know the element: it would refuse the whole message."""
    batch = batch_of([adjustment()], version)
    assert batch.refusals == ()
    add = request(assert_valid(batch.xml or "")).find("InventoryAdjustmentAdd")
    assert add.find("ExternalGUID") is None
    assert "ExternalGUID" not in (batch.xml or "")


def test_each_add_carries_its_own_guid() -> None:
    events = [
        adjustment(eventId="a1", claimToken="a1:1", externalGuid=GUID_ADJ),
        transfer(eventId="t1", claimToken="t1:1", externalGuid=GUID_TR),
    ]
    root = render_valid(events)
    assert [rq.findtext("*/ExternalGUID") for rq in root.find("QBXMLMsgsRq")] == [
        GUID_ADJ,
        GUID_TR,
    ]


@pytest.mark.parametrize(
    "guid",
    [
        "not-a-guid",
        "0123ABCD-0000-4000-8000-000000000001",  # no braces
        "{0123ABCD-0000-4000-8000-00000000001}",  # one digit short
        "{0123ABCD-0000-4000-8000-000000000001} ",
        "{0123ABCG-0000-4000-8000-000000000001}",
    ],
)
def test_a_guid_quickbooks_would_reject_is_refused(guid: str) -> None:
    """QuickBooks checks GUIDTYPE: one bad GUID would fail the whole message, every event in it."""
    reason = refusal_for(adjustment(externalGuid=guid)).reason
    assert "ExternalGUID" in reason
    assert "queue bug" in reason
    # Below 9.0 the GUID is not sent, so it cannot hurt.
    assert batch_of([adjustment(externalGuid=guid)], "8.0").refusals == ()


def test_lower_case_guid_is_a_guid() -> None:
    guid = GUID_ADJ.lower()
    add = request(render_valid([adjustment(externalGuid=guid)])).find("InventoryAdjustmentAdd")
    assert add.findtext("ExternalGUID") == guid


# -- quantities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5, "5"),
        (5.0, "5"),
        (-3, "-3"),
        (2.5, "2.5"),
        (2.50, "2.5"),
        (0.1 + 0.2, "0.3"),
        (1e-05, "0.00001"),
        (-0.0, "0"),
        (0, "0"),
        (1234567.125, "1234567.125"),
        (100000, "100000"),
        (9999999999.99999, "9999999999.99999"),
    ],
)
def test_quantities_have_no_float_artifacts(value: float, text: str) -> None:
    assert render.format_quantity(value) == text


@pytest.mark.parametrize("value", [0.123456, 1e11, -1e11, 1e300, float("nan"), float("inf")])
def test_quantities_quickbooks_cannot_hold_are_refused(value: float) -> None:
    with pytest.raises(render.Unrenderable):
        render.format_quantity(value)


def test_decimal_and_negative_quantities_validate() -> None:
    lines = [
        {"sku": f"SKU-{n}", "item": None, "quantity": quantity}
        for n, quantity in enumerate([-0.5, 12.75, -100, 0.00001, 3])
    ]
    add = request(render_valid([adjustment(lines=lines)])).find("InventoryAdjustmentAdd")
    assert [q.text for q in add.iter("QuantityDifference")] == [
        "-0.5",
        "12.75",
        "-100",
        "0.00001",
        "3",
    ]


# -- characters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("Crème brûlée Ñandú", "Crème brûlée Ñandú"),  # Latin-1 stays
        ("e\u0301", "é"),  # combining accent composes to Latin-1
        ("Łódź", "Lódz"),
        ("Gdańsk – Kraków", "Gdansk - Kraków"),
        ("Erdős", "Erdos"),
        ("“quoted” ‘single’ it’s", "\"quoted\" 'single' it's"),
        ("wait…", "wait..."),
        ("a — b", "a - b"),
        ("• item", "* item"),
        ("5 €", "5 EUR"),
        ("ACME™", "ACMETM"),
        ("ﬁle", "file"),
        ("ＡＢＣ", "ABC"),
        ("Œuvre", "OEuvre"),
        ("ok 👍", "ok ?"),
        ("ok 👍🏽", "ok ?"),  # skin tone is not a second character
        ("❤️", "?"),  # variation selector dropped
        ("👨\u200d👩\u200d👧", "???"),  # zero-width joiners dropped
        ("倉庫", "??"),
        ("Склад", "?????"),
        ("tab\tnew\nline\r", "tab\tnew\nline\r"),
        ("bell\x07 null\x00 del\x7f c1\x85", "bell null del c1"),
        ("one\u2028two\u2003three", "one\ntwo three"),
        ("lone \ud800 surrogate \ufffe", "lone ? surrogate ?"),
        ("a & b < c > d \" e ' f", "a & b < c > d \" e ' f"),  # lxml escapes these
    ],
)
def test_character_policy(raw: str, sent: str) -> None:
    assert to_qb_text(raw) == sent
    assert all(ord(char) <= 0xFF for char in to_qb_text(raw))


def test_truncate_marks_the_cut() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("abcdefg", 6) == "abc..."


TRICKY_NAMES = [
    "Nuts & Bolts",
    "<script>alert(1)</script>",
    'Pipe 3/4" "Heavy"',
    "O'Brien's Café",
    "Crème & <brûlée>",
    "Widget 🎉 Pro",
    "]]> CDATA end",
    "Broken \ud800 text\x0b",
]


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_tricky_names_validate_and_round_trip(name: str) -> None:
    event = adjustment(
        memo=f"Memo about {name}",
        account={"listId": None, "fullName": f"Shrink {name}"[:159]},
        lines=[{"sku": "SKU-1", "item": {"listId": None, "fullName": name}, "quantity": 1}],
    )
    batch = batch_of([event])
    assert batch.xml is not None
    assert all(ord(char) <= 0xFF for char in batch.xml)
    add = request(assert_valid(batch.xml)).find("InventoryAdjustmentAdd")
    assert add.findtext("InventoryAdjustmentLineAdd/ItemRef/FullName") == to_qb_text(name)
    assert add.findtext("Memo") == to_qb_text(f"Memo about {name}")


def test_transfer_site_names_with_markup_round_trip() -> None:
    event = transfer(fromSite={"fullName": "A&B <dock>"}, toSite={"fullName": 'Bay "7"'})
    add = request(render_valid([event])).find("TransferInventoryAdd")
    assert add.findtext("FromInventorySiteRef/FullName") == "A&B <dock>"
    assert add.findtext("ToInventorySiteRef/FullName") == 'Bay "7"'


def test_long_memo_is_truncated_to_4095() -> None:
    memo = "é" * 3000 + "—" * 2000  # 5000 characters; dashes map to "-"
    add = request(render_valid([adjustment(memo=memo)])).find("InventoryAdjustmentAdd")
    sent = add.findtext("Memo")
    assert len(sent) == 4095
    assert sent.startswith("é" * 3000)
    assert sent.endswith("-...")


def test_memo_growing_by_transliteration_still_fits() -> None:
    memo = "…" * 2000  # 2000 characters become 6000
    add = request(render_valid([adjustment(memo=memo)])).find("InventoryAdjustmentAdd")
    assert len(add.findtext("Memo")) == 4095


def test_transfer_memo_with_emoji_validates() -> None:
    add = request(render_valid([transfer(memo="Moved 🚚 “fast”")])).find("TransferInventoryAdd")
    assert add.findtext("Memo") == 'Moved ? "fast"'


# -- refusals ----------------------------------------------------------------------------------


def refusal_for(event: dict[str, Any], version: str = "13.0") -> render.Refusal:
    batch = batch_of([event], version)
    assert batch.xml is None
    assert batch.requests == ()
    (refusal,) = batch.refusals
    assert (refusal.event_id, refusal.claim_token, refusal.ref_number) == (
        event["eventId"],
        event["claimToken"],
        event["refNumber"],
    )
    return refusal


@pytest.mark.parametrize("mode", ["send", "lookup"])
def test_transfers_need_qbxml_10(mode: str) -> None:
    reason = refusal_for(transfer(mode=mode), version="9.0").reason
    assert "10.0" in reason
    assert "qbwc-bridge retry evt_tr1" in reason


def test_adjustments_still_render_below_10() -> None:
    batch = batch_of([adjustment(), transfer()], "8.0")
    assert [r.event_id for r in batch.requests] == ["evt_adj1"]
    assert [r.event_id for r in batch.refusals] == ["evt_tr1"]
    assert '<?qbxml version="8.0"?>' in (batch.xml or "")


def test_adjustment_site_needs_qbxml_10() -> None:
    reason = refusal_for(adjustment(site={"fullName": "Main"}), version="9.0").reason
    assert "site" in reason
    assert "10.0" in reason


@pytest.mark.parametrize(("missing", "code"), [("fromSite", "WH-A"), ("toSite", "TRUCK-1")])
def test_transfer_without_a_site_names_the_location(missing: str, code: str) -> None:
    reason = refusal_for(transfer(**{missing: None})).reason
    assert f"location {code} has no QuickBooks site mapped" in reason
    assert "qbwc-bridge retry evt_tr1" in reason


def test_transfer_site_with_neither_id_nor_name_counts_as_missing() -> None:
    reason = refusal_for(transfer(toSite={"listId": None, "fullName": None})).reason
    assert "location TRUCK-1 has no QuickBooks site mapped" in reason


def test_adjustment_without_account_names_the_reason_code() -> None:
    reason = refusal_for(adjustment(account=None)).reason
    assert "reason code SHRINK has no QuickBooks account mapped" in reason
    assert "qbwc-bridge retry evt_adj1" in reason


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"refNumber": "AD-0000000001"}, "11 characters"),
        ({"site": {"fullName": "S" * 32}}, "QuickBooks allows 31"),
        ({"account": {"fullName": "A" * 160}}, "QuickBooks allows 159"),
        ({"lines": [{"sku": "X", "item": {"fullName": "I" * 160}, "quantity": 1}]}, "SKU X"),
        ({"lines": [{"sku": "X", "item": {"listId": "8" * 37}, "quantity": 1}]}, "ListID"),
        ({"account": {"listId": "bad id with spaces"}}, "ListID"),
        ({"lines": [{"sku": "X", "item": None, "quantity": 0.1234567}]}, "5 decimals"),
        ({"lines": []}, "no lines"),
        ({"claimToken": "x" * 51}, "requestID"),
        ({"account": {"fullName": "   "}}, "empty QuickBooks name"),
    ],
)
def test_adjustments_quickbooks_would_reject_are_refused(
    overrides: dict[str, Any], needle: str
) -> None:
    assert needle in refusal_for(adjustment(**overrides)).reason


@pytest.mark.parametrize("quantity", [0, -1])
def test_transfer_quantities_must_be_positive(quantity: float) -> None:
    lines = [{"sku": "SKU-1", "item": None, "quantity": quantity}]
    assert "must be > 0" in refusal_for(transfer(lines=lines)).reason


def test_site_name_is_measured_after_transliteration() -> None:
    """31 characters of "…" are 93 once mapped: too long for a site."""
    assert "QuickBooks allows 31" in refusal_for(transfer(toSite={"fullName": "…" * 31})).reason


def test_refusals_leave_the_rest_of_the_batch_alone() -> None:
    events = [
        adjustment(eventId="ok1", claimToken="ok1:1"),
        transfer(eventId="bad", claimToken="bad:1", toSite=None),
        transfer(eventId="ok2", claimToken="ok2:1"),
    ]
    batch = batch_of(events)
    assert [r.event_id for r in batch.refusals] == ["bad"]
    root = assert_valid(batch.xml or "")
    assert [rq.get("requestID") for rq in root.find("QBXMLMsgsRq")] == ["ok1:1", "ok2:1"]
