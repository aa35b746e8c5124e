"""Reading QuickBooks' responses: lenient about form, strict about trust."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from support.qb_simulator import QuickBooksSimulator
from support.qbxml_schema import assert_valid, load_schema

from qbwc_bridge.contract import ClaimedEvent
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.qbxml.model import FoundLine, FoundTransaction, QbRef
from qbwc_bridge.versions import QbxmlVersion

ADD_OK = """<?xml version="1.0" ?>
<QBXML>
<QBXMLMsgsRs>
<InventoryAdjustmentAddRs requestID="evt_a:1" statusCode="0" statusSeverity="Info"
  statusMessage="Status OK">
<InventoryAdjustmentRet>
<TxnID>1A2B-1234567890</TxnID>
<TimeCreated>2024-03-10T09:00:00-05:00</TimeCreated>
<TimeModified>2024-03-10T09:00:00-05:00</TimeModified>
<EditSequence>1234567890</EditSequence>
<TxnNumber>42</TxnNumber>
<AccountRef><ListID>80000001-1</ListID><FullName>Shrinkage</FullName></AccountRef>
<TxnDate>2024-03-10</TxnDate>
<RefNumber>AD-000001</RefNumber>
<InventoryAdjustmentLineRet>
<TxnLineID>1A2C-1234567890</TxnLineID>
<ItemRef><ListID>80000002-1</ListID><FullName>SKU-1</FullName></ItemRef>
<QuantityDifference>-2</QuantityDifference>
<ValueDifference>-10.00</ValueDifference>
</InventoryAdjustmentLineRet>
</InventoryAdjustmentRet>
</InventoryAdjustmentAddRs>
<TransferInventoryAddRs requestID="evt_t:1" statusCode="3140" statusSeverity="Error"
  statusMessage="There is an invalid reference to QuickBooks Inventory Site &quot;Truck&quot;
  in the Transfer Inventory."/>
<TransferInventoryQueryRs requestID="evt_q:2" statusCode="0" statusSeverity="Info"
  statusMessage="Status OK">
<TransferInventoryRet><TxnID>1-1</TxnID><TxnDate>2024-03-09</TxnDate><RefNumber>TR-0000012</RefNumber></TransferInventoryRet>
<TransferInventoryRet><TxnID>2-2</TxnID><TxnDate>2024-03-10</TxnDate><RefNumber>TR-000001</RefNumber></TransferInventoryRet>
</TransferInventoryQueryRs>
<InventoryAdjustmentQueryRs requestID="evt_q:3" statusCode="1" statusSeverity="Info"
  statusMessage="A query request did not find a matching object in QuickBooks"/>
</QBXMLMsgsRs>
</QBXML>
"""


def test_the_fixture_is_a_real_qbxml_response() -> None:
    assert_valid(ADD_OK)


def test_each_rs_becomes_an_answer_in_order() -> None:
    answers = parse.parse_response(ADD_OK)
    assert [(a.kind, a.request_id, a.status_code, a.status_severity) for a in answers] == [
        ("InventoryAdjustmentAdd", "evt_a:1", 0, "Info"),
        ("TransferInventoryAdd", "evt_t:1", 3140, "Error"),
        ("TransferInventoryQuery", "evt_q:2", 0, "Info"),
        ("InventoryAdjustmentQuery", "evt_q:3", 1, "Info"),
    ]


def test_add_answer_carries_the_new_txn_id() -> None:
    added = parse.parse_response(ADD_OK)[0]
    assert not added.is_query
    assert added.txn_id == "1A2B-1234567890"
    assert added.status_message == "Status OK"
    (txn,) = added.transactions
    assert (txn.txn_id, txn.ref_number, txn.txn_date) == (
        "1A2B-1234567890",
        "AD-000001",
        "2024-03-10",
    )


def test_error_answer_has_message_and_no_txn() -> None:
    refused = parse.parse_response(ADD_OK)[1]
    assert refused.txn_id is None
    assert refused.transactions == ()
    assert refused.status_message.startswith(
        'There is an invalid reference to QuickBooks Inventory Site "Truck"'
    )


def test_query_answer_lists_matches_and_no_txn_id() -> None:
    query = parse.parse_response(ADD_OK)[2]
    assert query.is_query
    assert query.txn_id is None  # which match is ours is the caller's call (exact RefNumber)
    assert [(t.txn_id, t.ref_number) for t in query.transactions] == [
        ("1-1", "TR-0000012"),
        ("2-2", "TR-000001"),
    ]


def test_query_without_match_is_status_one() -> None:
    empty = parse.parse_response(ADD_OK)[3]
    assert empty.status_code == parse.QUERY_NO_MATCH
    assert empty.transactions == ()


LOOKUPS = """<?xml version="1.0" ?>
<QBXML>
<QBXMLMsgsRs>
<InventoryAdjustmentQueryRs requestID="evt_a:2" statusCode="0" statusSeverity="Info"
  statusMessage="Status OK">
<InventoryAdjustmentRet>
<TxnID>5-1710000000</TxnID>
<TimeCreated>2024-03-10T09:00:00-05:00</TimeCreated>
<TimeModified>2024-03-10T09:00:00-05:00</TimeModified>
<EditSequence>1710000000</EditSequence>
<TxnNumber>5</TxnNumber>
<AccountRef><ListID>80000001-1</ListID><FullName>Shrinkage</FullName></AccountRef>
<InventorySiteRef><FullName>Main</FullName></InventorySiteRef>
<TxnDate>2024-03-10</TxnDate>
<RefNumber>AD-000001</RefNumber>
<Memo>Cycle count</Memo>
<ExternalGUID>{0123ABCD-0000-4000-8000-000000000001}</ExternalGUID>
<InventoryAdjustmentLineRet>
<TxnLineID>6-1710000000</TxnLineID>
<ItemRef><ListID>80000002-1</ListID><FullName>SKU-1</FullName></ItemRef>
<QuantityDifference>-2.5</QuantityDifference>
<ValueDifference>-10.00</ValueDifference>
</InventoryAdjustmentLineRet>
<InventoryAdjustmentLineRet>
<TxnLineID>7-1710000000</TxnLineID>
<ItemRef><FullName>Bolts:SKU-2</FullName></ItemRef>
<QuantityDifference>4</QuantityDifference>
<ValueDifference>8.00</ValueDifference>
</InventoryAdjustmentLineRet>
</InventoryAdjustmentRet>
</InventoryAdjustmentQueryRs>
<TransferInventoryQueryRs requestID="evt_t:2" statusCode="0" statusSeverity="Info"
  statusMessage="Status OK">
<TransferInventoryRet>
<TxnID>8-1710000000</TxnID>
<TimeCreated>2024-03-10T09:00:00-05:00</TimeCreated>
<TimeModified>2024-03-10T09:00:00-05:00</TimeModified>
<EditSequence>1710000000</EditSequence>
<TxnNumber>8</TxnNumber>
<TxnDate>2024-03-10</TxnDate>
<RefNumber>TR-000001</RefNumber>
<FromInventorySiteRef><ListID>80000003-1</ListID><FullName>Main</FullName></FromInventorySiteRef>
<ToInventorySiteRef><ListID>80000004-1</ListID></ToInventorySiteRef>
<TransferInventoryLineRet>
<TxnLineID>9-1710000000</TxnLineID>
<ItemRef><ListID>80000002-1</ListID><FullName>SKU-1</FullName></ItemRef>
<QuantityTransferred>3</QuantityTransferred>
</TransferInventoryLineRet>
<TransferInventoryLineRet>
<TxnLineID>A-1710000000</TxnLineID>
<ItemRef><FullName>SKU-3</FullName></ItemRef>
<QuantityTransferred>0.25</QuantityTransferred>
</TransferInventoryLineRet>
</TransferInventoryRet>
</TransferInventoryQueryRs>
</QBXMLMsgsRs>
</QBXML>
"""


def test_the_lookup_fixture_is_a_real_qbxml_response() -> None:
    assert_valid(LOOKUPS)


def test_adjustment_match_carries_guid_refs_and_line_quantities() -> None:
    (adjustment, _) = parse.parse_response(LOOKUPS)
    assert adjustment.transactions == (
        FoundTransaction(
            txn_id="5-1710000000",
            ref_number="AD-000001",
            txn_date="2024-03-10",
            external_guid="{0123ABCD-0000-4000-8000-000000000001}",
            account=QbRef(list_id="80000001-1", full_name="Shrinkage"),
            site=QbRef(list_id=None, full_name="Main"),
            from_site=None,
            to_site=None,
            lines=(
                FoundLine(item=QbRef(list_id="80000002-1", full_name="SKU-1"), quantity=-2.5),
                FoundLine(item=QbRef(list_id=None, full_name="Bolts:SKU-2"), quantity=4.0),
            ),
        ),
    )


def test_transfer_match_carries_sites_and_quantities_transferred() -> None:
    (_, transfer) = parse.parse_response(LOOKUPS)
    (txn,) = transfer.transactions
    assert (txn.txn_id, txn.ref_number, txn.external_guid) == ("8-1710000000", "TR-000001", None)
    assert txn.from_site == QbRef(list_id="80000003-1", full_name="Main")
    assert txn.to_site == QbRef(list_id="80000004-1", full_name=None)
    assert (txn.account, txn.site) == (None, None)
    assert txn.lines == (
        FoundLine(item=QbRef(list_id="80000002-1", full_name="SKU-1"), quantity=3.0),
        FoundLine(item=QbRef(list_id=None, full_name="SKU-3"), quantity=0.25),
    )


def test_a_match_without_line_items_has_no_lines() -> None:
    (query,) = parse.parse_response(
        '<QBXML><QBXMLMsgsRs><TransferInventoryQueryRs requestID="q" statusCode="0" '
        'statusSeverity="Info"><TransferInventoryRet><TxnID>1-1</TxnID>'
        "<ExternalGUID> {0123ABCD-0000-4000-8000-000000000009} </ExternalGUID>"
        "</TransferInventoryRet></TransferInventoryQueryRs></QBXMLMsgsRs></QBXML>"
    )
    (txn,) = query.transactions
    assert txn.lines == ()
    assert txn.external_guid == "{0123ABCD-0000-4000-8000-000000000009}"  # trimmed
    assert (txn.from_site, txn.to_site) == (None, None)


def test_empty_refs_read_as_none_and_a_line_without_quantity_as_zero() -> None:
    (answer,) = parse.parse_response(
        '<QBXML><QBXMLMsgsRs><InventoryAdjustmentQueryRs requestID="q" statusCode="0" '
        'statusSeverity="Info"><InventoryAdjustmentRet><TxnID>1-1</TxnID>'
        "<AccountRef><ListID> </ListID><FullName/></AccountRef>"
        "<InventoryAdjustmentLineRet><ItemRef/><ValueDifference>5.00</ValueDifference>"
        "</InventoryAdjustmentLineRet>"
        "</InventoryAdjustmentRet></InventoryAdjustmentQueryRs></QBXMLMsgsRs></QBXML>"
    )
    (txn,) = answer.transactions
    assert txn.account is None
    assert txn.lines == (FoundLine(item=None, quantity=0.0),)


def test_other_line_kinds_are_not_taken_for_inventory_lines() -> None:
    (answer,) = parse.parse_response(
        '<QBXML><QBXMLMsgsRs><InventoryAdjustmentQueryRs requestID="q" statusCode="0" '
        'statusSeverity="Info"><InventoryAdjustmentRet><TxnID>1-1</TxnID>'
        "<SomeFutureLineRet><QuantityDifference>9</QuantityDifference></SomeFutureLineRet>"
        "<DataExtRet><DataExtName>x</DataExtName></DataExtRet>"
        "</InventoryAdjustmentRet></InventoryAdjustmentQueryRs></QBXMLMsgsRs></QBXML>"
    )
    assert answer.transactions[0].lines == ()


@pytest.mark.parametrize(
    ("line", "quantity"),
    [
        ("InventoryAdjustmentLineRet", "QuantityDifference"),
        ("TransferInventoryLineRet", "QuantityTransferred"),
    ],
)
def test_an_unreadable_line_quantity_distrusts_the_whole_response(line: str, quantity: str) -> None:
    kind = line.removesuffix("LineRet")
    document = (
        f'<QBXML><QBXMLMsgsRs><{kind}QueryRs requestID="q" statusCode="0" statusSeverity="Info">'
        f"<{kind}Ret><TxnID>1-1</TxnID><{line}><{quantity}>lots</{quantity}></{line}></{kind}Ret>"
        f"</{kind}QueryRs></QBXMLMsgsRs></QBXML>"
    )
    with pytest.raises(parse.QbxmlParseError, match=f"{line} has an unreadable {quantity}"):
        parse.parse_response(document)


BODY = (
    '<QBXML><QBXMLMsgsRs><InventoryAdjustmentAddRs requestID="r:1" statusCode="0" '
    'statusSeverity="Info" statusMessage="Status OK"><InventoryAdjustmentRet><TxnID>9-9</TxnID>'
    "</InventoryAdjustmentRet></InventoryAdjustmentAddRs></QBXMLMsgsRs></QBXML>"
)


@pytest.mark.parametrize(
    "document",
    [
        BODY,
        "\ufeff" + BODY,
        "\n\n   " + BODY,
        "\ufeff\n" + '<?xml version="1.0" ?>\n' + BODY,
        '<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n' + BODY,
        "  \ufeff<?xml version='1.0' encoding='windows-1252'?>" + BODY,
        BODY.encode("utf-8"),
        b"\xef\xbb\xbf" + BODY.encode("utf-8"),
        b'\n<?xml version="1.0" encoding="utf-8"?>' + BODY.encode("utf-8"),
    ],
    ids=[
        "bare",
        "bom",
        "whitespace",
        "bom-newline-declaration",
        "declaration-and-pi",
        "str-with-foreign-encoding-declaration",
        "bytes",
        "bytes-bom",
        "bytes-declaration",
    ],
)
def test_form_variations_are_tolerated(document: str | bytes) -> None:
    (answer,) = parse.parse_response(document)
    assert (answer.request_id, answer.txn_id) == ("r:1", "9-9")


def test_latin1_bytes_with_their_declaration() -> None:
    document = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?><QBXML><QBXMLMsgsRs>'
        b'<InventoryAdjustmentAddRs requestID="r:1" statusCode="3140" statusSeverity="Error" '
        b'statusMessage="Caf\xe9 not found"/></QBXMLMsgsRs></QBXML>'
    )
    assert parse.parse_response(document)[0].status_message == "Café not found"


def test_unknown_elements_attributes_comments_and_other_rs_are_tolerated() -> None:
    document = """<QBXML><!-- hi --><SignonMsgsRs/><QBXMLMsgsRs newAttr="x">
      <HostQueryRs requestID="0" statusCode="0" statusSeverity="Info"><HostRet/></HostQueryRs>
      <Unexpected>noise</Unexpected>
      <?some-pi?>
      <InventoryAdjustmentAddRs requestID="r:1" statusCode="530" statusSeverity="Warn"
          statusMessage="The field is not supported" futureAttr="1">
        <InventoryAdjustmentRet><FutureElement/><TxnID> 7-7 </TxnID></InventoryAdjustmentRet>
        <ErrorRecovery><TxnID>7-7</TxnID></ErrorRecovery>
      </InventoryAdjustmentAddRs>
    </QBXMLMsgsRs></QBXML>"""
    answers = parse.parse_response(document)
    assert [a.kind for a in answers] == ["HostQuery", "InventoryAdjustmentAdd"]
    assert answers[0].status_message == ""
    assert (answers[1].status_code, answers[1].txn_id) == (530, "7-7")


def test_missing_request_id_is_empty() -> None:
    document = (
        '<QBXML><QBXMLMsgsRs><InventoryAdjustmentAddRs statusCode="0" statusSeverity="Info"/>'
        "</QBXMLMsgsRs></QBXML>"
    )
    assert parse.parse_response(document)[0].request_id == ""


def test_messages_root_alone_is_accepted() -> None:
    document = (
        '<QBXMLMsgsRs><TransferInventoryAddRs requestID="x" statusCode="3175" '
        'statusSeverity="Error"/></QBXMLMsgsRs>'
    )
    assert parse.parse_response(document)[0].status_code == 3175


def test_no_answers_is_an_empty_list() -> None:
    assert parse.parse_response("<QBXML><QBXMLMsgsRs/></QBXML>") == []


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ("", "empty"),
        ("   \ufeff  ", "empty"),
        ("not xml at all", "not well-formed"),
        ("<QBXML><QBXMLMsgsRs>", "not well-formed"),
        ('<?xml version="1.0"', "unterminated"),
        ("<html><body>Bad gateway</body></html>", "root element is <html>"),
        ("<QBXML><SignonMsgsRs/></QBXML>", "no QBXMLMsgsRs"),
        (
            '<QBXML><QBXMLMsgsRs><InventoryAdjustmentAddRs requestID="1" statusSeverity="Info"/>'
            "</QBXMLMsgsRs></QBXML>",
            "statusCode",
        ),
        (
            '<QBXML><QBXMLMsgsRs><InventoryAdjustmentAddRs statusCode="OK"/></QBXMLMsgsRs></QBXML>',
            "statusCode",
        ),
    ],
)
def test_untrustworthy_documents_raise_one_error_type(document: str, needle: str) -> None:
    with pytest.raises(parse.QbxmlParseError, match=needle):
        parse.parse_response(document)


def test_error_messages_stay_short() -> None:
    document = "<QBXML>" + "<" + "x" * 100_000
    with pytest.raises(parse.QbxmlParseError) as caught:
        parse.parse_response(document)
    assert len(str(caught.value)) < 400
    huge_root = "<" + "y" * 5000 + "/>"
    with pytest.raises(parse.QbxmlParseError) as caught:
        parse.parse_response(huge_root)
    assert len(str(caught.value)) < 400


def test_external_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    document = (
        f'<!DOCTYPE QBXML [<!ENTITY leak SYSTEM "{secret.as_uri()}">]>'
        "<QBXML><QBXMLMsgsRs>"
        '<InventoryAdjustmentAddRs requestID="1" statusCode="0" statusSeverity="Info">'
        "<InventoryAdjustmentRet><TxnID>&leak;</TxnID></InventoryAdjustmentRet>"
        "</InventoryAdjustmentAddRs></QBXMLMsgsRs></QBXML>"
    )
    (answer,) = parse.parse_response(document)
    assert "TOP-SECRET" not in repr(answer)


def test_rendered_requests_come_back_matched_by_request_id() -> None:
    """Renderer -> simulated QuickBooks -> parser: every claim token answered once."""
    qb = QuickBooksSimulator(
        load_schema(), items=["SKU-1"], sites=["Main", "Truck"], accounts=["Shrink"]
    )
    events = [
        ClaimedEvent.from_payload(
            {
                "eventId": f"e{n}",
                "claimToken": f"e{n}:1",
                "mode": "send",
                "type": "adjustment",
                "refNumber": f"AD-{n:06d}",
                "externalGuid": f"{{0123ABCD-0000-4000-8000-{n:012d}}}",
                "occurredAt": 1710041400000,
                "account": {"fullName": "Shrink" if n != 2 else "Unknown"},
                "site": {"fullName": "Main"},
                "lines": [{"sku": "SKU-1", "item": None, "quantity": n}],
            }
        )
        for n in range(1, 4)
    ]
    batch = render.render_batch(events, QbxmlVersion(13, 0), tz=UTC)
    answers = parse.parse_response(qb.process(batch.xml or ""))
    assert sorted(a.request_id for a in answers) == ["e1:1", "e2:1", "e3:1"]
    by_id = {a.request_id: a for a in answers}
    assert by_id["e2:1"].status_code == 3140
    assert by_id["e1:1"].txn_id == qb.find_by_ref("AD-000001")[0].txn_id
    # What the Add saved comes back as sent: GUID, refs and lines.
    (saved,) = by_id["e3:1"].transactions
    assert saved.external_guid == events[2].external_guid
    assert saved.account is not None and saved.account.full_name == "Shrink"
    assert saved.site is not None and saved.site.full_name == "Main"
    assert [(line.item and line.item.full_name, line.quantity) for line in saved.lines] == [
        ("SKU-1", 3.0)
    ]


def test_a_lookup_reads_back_what_the_send_wrote() -> None:
    """Send, then look up: the parsed match carries the event's GUID, sites and quantities."""
    qb = QuickBooksSimulator(load_schema(), items=["SKU-1", "SKU-2"], sites=["Main", "Truck"])
    payload = {
        "eventId": "t1",
        "claimToken": "t1:1",
        "mode": "send",
        "type": "transfer",
        "refNumber": "TR-000001",
        "externalGuid": "{0123ABCD-0001-4000-8000-000000000001}",
        "occurredAt": 1710041400000,
        "fromSite": {"fullName": "Main"},
        "toSite": {"fullName": "Truck"},
        "lines": [
            {"sku": "SKU-1", "item": None, "quantity": 2.5},
            {"sku": "SKU-2", "item": None, "quantity": 1},
        ],
    }
    version = QbxmlVersion(13, 0)
    send = render.render_batch([ClaimedEvent.from_payload(payload)], version, tz=UTC)
    qb.process(send.xml or "")
    lookup = ClaimedEvent.from_payload({**payload, "mode": "lookup", "claimToken": "t1:2"})
    batch = render.render_batch([lookup], version, tz=UTC)
    (answer,) = parse.parse_response(qb.process(batch.xml or ""))
    assert (answer.request_id, answer.is_query, answer.txn_id) == ("t1:2", True, None)
    (found,) = answer.transactions
    assert found.txn_id == qb.transactions[0].txn_id
    assert found.external_guid == payload["externalGuid"]
    assert found.from_site is not None and found.from_site.full_name == "Main"
    assert found.to_site is not None and found.to_site.full_name == "Truck"
    assert (found.account, found.site) == (None, None)
    assert [(line.item and line.item.full_name, line.quantity) for line in found.lines] == [
        ("SKU-1", 2.5),
        ("SKU-2", 1.0),
    ]
