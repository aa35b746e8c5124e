"""Reads QuickBooks' qbXML response message into one `Answer` per `*Rs` element.

Lenient where QuickBooks and QBWC vary (a BOM, leading whitespace, with or
without the XML declaration and `<?qbxml?>` instruction, unknown elements
and attributes, extra Rs kinds like HostQueryRs), strict where guessing
would be dangerous: a document that is not well-formed XML, has no
`QBXMLMsgsRs`, or an Rs without a readable `statusCode` raises
`QbxmlParseError`, and the caller treats the whole message as failed
(outcome unknown: look the events up before sending them again).

The parser never resolves entities or fetches DTDs (the text comes from the
network), and error messages are cut short so a log line never carries a
megabyte of XML.
"""

from __future__ import annotations

from lxml import etree

from qbwc_bridge.qbxml.model import Answer, FoundLine, FoundTransaction, QbRef

QUERY_NO_MATCH = 1  # statusCode of a Query that matched nothing: "not found", not an error
_MAX_ERROR_TEXT = 300
_BOM = "\ufeff"


class QbxmlParseError(ValueError):
    """The response is not a qbXML response message we can trust."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 3] + "..."


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
    )


def _root(response: str | bytes) -> etree._Element:
    if isinstance(response, bytes):
        data = response.lstrip()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:].lstrip()
    else:
        text = response.lstrip().lstrip(_BOM).lstrip()
        # lxml refuses str input that carries an encoding declaration; the text
        # is already decoded, so the declaration has nothing left to say.
        if text.startswith("<?xml"):
            end = text.find("?>")
            if end < 0:
                raise QbxmlParseError("unterminated XML declaration")
            text = text[end + 2 :]
        data = text.encode("utf-8")
    if not data.strip():
        raise QbxmlParseError("empty response")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise QbxmlParseError(f"not well-formed XML: {_short(str(error))}") from error
    return root


def _text(element: etree._Element, path: str) -> str | None:
    found = element.findtext(path)
    return found.strip() if found is not None and found.strip() else None


def _ref(ret: etree._Element, tag: str) -> QbRef | None:
    element = ret.find(tag)
    if element is None:
        return None
    ref = QbRef(list_id=_text(element, "ListID"), full_name=_text(element, "FullName"))
    return ref if ref.list_id or ref.full_name else None


# Where each transaction kind keeps its line quantity.
_LINE_QUANTITY = {
    "InventoryAdjustmentLineRet": "QuantityDifference",
    "TransferInventoryLineRet": "QuantityTransferred",
}


def _lines(ret: etree._Element) -> tuple[FoundLine, ...]:
    lines = []
    for child in ret:
        quantity_tag = _LINE_QUANTITY.get(str(child.tag))
        if quantity_tag is None:
            continue
        raw = _text(child, quantity_tag)
        try:
            quantity = float(raw) if raw is not None else 0.0
        except ValueError as error:
            raise QbxmlParseError(f"{child.tag} has an unreadable {quantity_tag}") from error
        lines.append(FoundLine(item=_ref(child, "ItemRef"), quantity=quantity))
    return tuple(lines)


def _transactions(rs: etree._Element) -> tuple[FoundTransaction, ...]:
    found = []
    for child in rs:
        if isinstance(child.tag, str) and child.tag.endswith("Ret"):
            found.append(
                FoundTransaction(
                    txn_id=_text(child, "TxnID"),
                    ref_number=_text(child, "RefNumber"),
                    txn_date=_text(child, "TxnDate"),
                    external_guid=_text(child, "ExternalGUID"),
                    account=_ref(child, "AccountRef"),
                    site=_ref(child, "InventorySiteRef"),
                    from_site=_ref(child, "FromInventorySiteRef"),
                    to_site=_ref(child, "ToInventorySiteRef"),
                    lines=_lines(child),
                )
            )
    return tuple(found)


def _answer(rs: etree._Element) -> Answer:
    kind = str(rs.tag)[: -len("Rs")]
    raw_code = rs.get("statusCode")
    try:
        code = int((raw_code or "").strip())
    except ValueError as error:
        raise QbxmlParseError(
            f"{rs.tag} has no readable statusCode ({_short(repr(raw_code))})"
        ) from error
    transactions = _transactions(rs)
    is_add = not kind.endswith("Query")
    return Answer(
        kind=kind,
        request_id=rs.get("requestID", ""),
        status_code=code,
        status_severity=rs.get("statusSeverity", ""),
        status_message=rs.get("statusMessage", ""),
        # An Add's Ret is the transaction it created; a Query's are its matches.
        txn_id=transactions[0].txn_id if is_add and transactions else None,
        transactions=transactions,
    )


def parse_response(response: str | bytes) -> list[Answer]:
    """Every `*Rs` under `QBXMLMsgsRs`, in document order."""
    root = _root(response)
    if root.tag == "QBXMLMsgsRs":
        messages = root
    else:
        if root.tag != "QBXML":
            raise QbxmlParseError(f"root element is <{_short(str(root.tag))}>, not <QBXML>")
        found = root.find("QBXMLMsgsRs")
        if found is None:
            raise QbxmlParseError("no QBXMLMsgsRs in the response")
        messages = found
    return [
        _answer(child)
        for child in messages
        if isinstance(child.tag, str) and child.tag.endswith("Rs")
    ]
