"""Reading QuickBooks' responses: lenient about form, strict about trust."""

from __future__ import annotations

from datetime import UTC

import pytest
from support.qb_simulator import QuickBooksSimulator
from support.qbxml_schema import assert_valid, load_schema

from qbwc_bridge.qbxml import parse, render

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


def test_external_entities_are_never_resolved(tmp_path) -> None:  # type: ignore[no-untyped-def]
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
        {
            "eventId": f"e{n}",
            "claimToken": f"e{n}:1",
            "mode": "send",
            "type": "adjustment",
            "refNumber": f"AD-{n:06d}",
            "occurredAt": 1710041400000,
            "account": {"fullName": "Shrink" if n != 2 else "Unknown"},
            "lines": [{"sku": "SKU-1", "item": None, "quantity": n}],
        }
        for n in range(1, 4)
    ]
    batch = render.render_batch(events, "13.0", tz=UTC)
    answers = parse.parse_response(qb.process(batch.xml or ""))
    assert sorted(a.request_id for a in answers) == ["e1:1", "e2:1", "e3:1"]
    by_id = {a.request_id: a for a in answers}
    assert by_id["e2:1"].status_code == 3140
    assert by_id["e1:1"].txn_id == qb.find_by_ref("AD-000001")[0].txn_id
