"""Reads QuickBooks' qbXML response message into one `Answer` per `*Rs` element.

Lenient where QuickBooks and QBWC vary (a BOM, leading whitespace, with or
without the XML declaration and `<?qbxml?>` instruction, unknown elements
and attributes, extra Rs kinds like HostQueryRs), strict where guessing
would be dangerous: a document that is not well-formed XML, has no
`QBXMLMsgsRs`, or an Rs without a readable `statusCode` raises
`QbxmlParseError`, and the caller treats the whole message as failed
(outcome unknown: look the events up before sending them again).

Answers to reads (`contract.QUERY_KINDS`: HostQuery ... ItemSitesQuery)
keep their `*Rs` element; `query_outcome(answer)` turns one into a
`contract.HostInfo` / `CompanyInfo` / `PreferencesInfo` / `ListPage` /
`SiteQuantityPage`. That is done per answer, so a page QuickBooks sent with
an entry the bridge cannot read (no ListID, no FullName, IsActive not a
boolean; an item site without its item's ListID or its QuantityOnHand)
fails that read alone with a `QbxmlParseError` naming the entry, and the
events answered in the same message are still recorded.

The parser never resolves entities or fetches DTDs (the text comes from the
network), and error messages are cut short so a log line never carries a
megabyte of XML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TypeAlias

from lxml import etree

from qbwc_bridge import contract
from qbwc_bridge.qbxml.model import Answer, FoundLine, FoundTransaction, QbRef

QUERY_NO_MATCH = 1  # statusCode of a Query that matched nothing: "not found", not an error
_MAX_ERROR_TEXT = 300
_BOM = "\ufeff"


class QbxmlParseError(ValueError):
    """The response is not a qbXML response message we can trust."""


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 3] + "..."


def safe_parser(encoding: str | None = None, *, remove_comments: bool = False) -> etree.XMLParser:
    """The one parser for text from the network (qbXML, HCP text, SOAP bodies): no entities
    resolved, no DTD loaded or validated, nothing fetched, lxml's limits on huge documents on,
    no guessing at broken XML."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=False,
        remove_comments=remove_comments,
        encoding=encoding,
    )


def strip_prolog(text: str) -> str | None:
    """Decoded XML without the whitespace, BOM and XML declaration in front of it; None when
    the declaration never ends.

    lxml refuses str input that carries an encoding declaration; the text is
    already decoded, so the declaration has nothing left to say.
    """
    text = text.lstrip().lstrip(_BOM).lstrip()
    if not text.startswith("<?xml"):
        return text
    end = text.find("?>")
    return text[end + 2 :] if end >= 0 else None


def _root(response: str | bytes) -> etree._Element:
    if isinstance(response, bytes):
        data = response.lstrip()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:].lstrip()
    else:
        text = strip_prolog(response)
        if text is None:
            raise QbxmlParseError("unterminated XML declaration")
        data = text.encode("utf-8")
    if not data.strip():
        raise QbxmlParseError("empty response")
    try:
        root = etree.fromstring(data, safe_parser())
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
    # A read's Rets are list entries, not transactions: query_outcome reads them.
    transactions = () if kind in READ_KINDS else _transactions(rs)
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
        element=rs,
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


# -- reads: what QuickBooks has --------------------------------------------------------------

READ_KINDS: frozenset[str] = frozenset(contract.QUERY_KINDS)
_RET_OF_READ = {
    "ItemInventoryQuery": "ItemInventoryRet",
    "ItemInventoryAssemblyQuery": "ItemInventoryAssemblyRet",
    "InventorySiteQuery": "InventorySiteRet",
    "AccountQuery": "AccountRet",
}
_ITEM_READS = frozenset({"ItemInventoryQuery", "ItemInventoryAssemblyQuery"})
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
# QUANTYPE as QuickBooks writes it (the schema caps the digits at 10.5; reading more is harmless).
_QUANTITY = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def is_read(answer: Answer) -> bool:
    """Does this answer a read (`contract.QueryRequest`) rather than an event's request?"""
    return answer.kind in READ_KINDS


def _boolean(text: str | None) -> bool | None:
    """BOOLTYPE ("true"/"false", xsd:boolean also allows 1/0); None when absent or unreadable."""
    return None if text is None else _BOOLEANS.get(text.strip().lower())


def _integer(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def host_info(ret: etree._Element) -> contract.HostInfo:
    """A HostRet; every field is optional (QuickBooks versions differ, HCP text can be partial)."""
    versions = tuple(
        text.strip()
        for text in (element.text for element in ret.iterchildren("SupportedQBXMLVersion"))
        if text is not None and text.strip()
    )
    return contract.HostInfo(
        product_name=_text(ret, "ProductName"),
        major_version=_integer(_text(ret, "MajorVersion")),
        minor_version=_integer(_text(ret, "MinorVersion")),
        country=_text(ret, "Country"),
        supported_versions=versions,
        file_mode=_text(ret, "QBFileMode"),
    )


def company_info(ret: etree._Element) -> contract.CompanyInfo:
    return contract.CompanyInfo(company_name=_text(ret, "CompanyName"))


def preferences_info(ret: etree._Element) -> contract.PreferencesInfo:
    """Multi-location inventory: None when QuickBooks did not say (before qbXML 10.0)."""
    return contract.PreferencesInfo(
        multi_location_available=_boolean(
            _text(ret, "MultiLocationInventoryPreferences/IsMultiLocationInventoryAvailable")
        ),
        multi_location_enabled=_boolean(
            _text(ret, "MultiLocationInventoryPreferences/IsMultiLocationInventoryEnabled")
        ),
    )


OneShotInfo: TypeAlias = contract.HostInfo | contract.CompanyInfo | contract.PreferencesInfo
# The reads answered in one go (no pages), also QBWC's own in the HCP text: kind -> (Ret, reader).
ONE_SHOT_READS: dict[str, tuple[str, Callable[[etree._Element], OneShotInfo]]] = {
    "HostQuery": ("HostRet", host_info),
    "CompanyQuery": ("CompanyRet", company_info),
    "PreferencesQuery": ("PreferencesRet", preferences_info),
}


def _describe(ret: etree._Element, index: int) -> str:
    """Names an entry in an error: its position and whatever identifies it."""
    known = [
        f"{tag} {value!r}"
        for tag in ("ListID", "FullName", "Name")
        if (value := _text(ret, tag)) is not None
    ]
    return f"{ret.tag} #{index + 1}" + (f" ({', '.join(known)})" if known else "")


def _quantity_on_hand(raw: str, fail: Callable[[str], QbxmlParseError]) -> float:
    if not _QUANTITY.fullmatch(raw):
        raise fail(f"has an unreadable QuantityOnHand ({_short(repr(raw))})")
    # QUANTYPE has at most 15 significant digits: a float holds it exactly enough.
    return float(Decimal(raw))


def _list_entry(ret: etree._Element, index: int, kind: str) -> contract.ListEntry:
    def fail(problem: str) -> QbxmlParseError:
        return QbxmlParseError(_short(f"{kind}: {_describe(ret, index)} {problem}"))

    list_id = _text(ret, "ListID")
    if list_id is None:
        raise fail("has no ListID")
    name = _text(ret, "Name")
    if kind == "InventorySiteQuery":
        # A site has no FullName: its Name is what InventorySiteRef/FullName holds.
        if name is None:
            raise fail("has no Name")
        full_name = name
    else:
        found = _text(ret, "FullName")
        if found is None:
            raise fail("has no FullName")
        full_name = found
        # Name is by definition the last segment of FullName.
        name = name or full_name.rsplit(":", 1)[-1]
    active = _boolean(_text(ret, "IsActive"))
    if active is None:
        raise fail(f"has no readable IsActive ({_short(repr(ret.findtext('IsActive')))})")
    quantity = None
    if kind in _ITEM_READS:
        raw = _text(ret, "QuantityOnHand")
        quantity = None if raw is None else _quantity_on_hand(raw, fail)
    return contract.ListEntry(
        list_id=list_id,
        name=name,
        full_name=full_name,
        is_active=active,
        quantity_on_hand=quantity,
        account_type=_text(ret, "AccountType") if kind == "AccountQuery" else None,
    )


def _iterator_state(rs: etree._Element) -> tuple[str | None, int]:
    """(iteratorID, iteratorRemainingCount) of a page; (None, 0) for an answer without them."""
    raw_remaining = rs.get("iteratorRemainingCount")
    remaining = 0
    if raw_remaining is not None:
        parsed = _integer(raw_remaining)
        if parsed is None or parsed < 0:
            raise QbxmlParseError(
                f"{rs.tag} has an unreadable iteratorRemainingCount ({_short(repr(raw_remaining))})"
            )
        remaining = parsed
    return (rs.get("iteratorID") or "").strip() or None, remaining


def _list_page(rs: etree._Element, kind: str) -> contract.ListPage:
    iterator_id, remaining = _iterator_state(rs)
    ret_tag = _RET_OF_READ[kind]
    entries = tuple(
        _list_entry(ret, index, kind) for index, ret in enumerate(rs.iterchildren(ret_tag))
    )
    return contract.ListPage(
        list_name=contract.LIST_OF_QUERY[kind],
        entries=entries,
        iterator_id=iterator_id,
        remaining=remaining,
    )


# What an ItemSitesRet can name its item with (the schema's choice: exactly one of them).
_ITEM_SITE_ITEM_REFS = ("ItemInventoryRef", "ItemInventoryAssemblyRef")


def _describe_item_site(ret: etree._Element) -> str:
    """What identifies an ItemSitesRet in an error: own ListID, item, site and bin names."""
    known = []
    if (own := _text(ret, "ListID")) is not None:
        known.append(f"ListID {own!r}")
    for tag, label in (
        *((tag, "item") for tag in _ITEM_SITE_ITEM_REFS),
        ("InventorySiteRef", "site"),
        ("InventorySiteLocationRef", "bin"),
    ):
        name = _text(ret, f"{tag}/FullName") or _text(ret, f"{tag}/ListID")
        if name is not None:
            known.append(f"{label} {name!r}")
    return f" ({', '.join(known)})" if known else ""


def _site_quantity(ret: etree._Element, index: int) -> contract.SiteQuantity:
    """One ItemSitesRet: strict, since a wrong row here is a wrong drift in the report.

    QuantityOnHand must be there: the schema makes every Ret field optional,
    and nothing Intuit publishes says an absent one means 0; reading "not
    said" as 0 would report drift that is not there or hide drift that is. A bin (InventorySiteLocationRef) is its own record with its
    own ListID: the row is kept as it is, and Convex sums a site's bins.
    """

    def fail(problem: str) -> QbxmlParseError:
        # The problem before the names: a 159-character item name must not cut it off.
        return QbxmlParseError(
            _short(f"ItemSitesQuery: {ret.tag} #{index + 1} {problem}{_describe_item_site(ret)}")
        )

    row_id = _text(ret, "ListID")
    if row_id is None:
        raise fail("has no ListID of its own")
    refs = [ref for tag in _ITEM_SITE_ITEM_REFS if (ref := ret.find(tag)) is not None]
    if len(refs) != 1:
        raise fail("names no item" if not refs else "names two items (inventory and assembly)")
    item_list_id = _text(refs[0], "ListID")
    if item_list_id is None:
        raise fail(f"has no {refs[0].tag}/ListID")
    site_list_id = None
    site = ret.find("InventorySiteRef")
    if site is not None:
        # A site named without its ListID cannot be matched; "no site" would misplace the stock.
        site_list_id = _text(site, "ListID")
        if site_list_id is None:
            raise fail("has an InventorySiteRef without a ListID")
    raw = _text(ret, "QuantityOnHand")
    if raw is None:
        raise fail("has no QuantityOnHand")
    quantity = _quantity_on_hand(raw, fail)
    return contract.SiteQuantity(
        row_id=row_id,
        item_list_id=item_list_id,
        site_list_id=site_list_id,
        quantity_on_hand=quantity,
        item_name=_text(refs[0], "FullName"),
        site_name=None if site is None else _text(site, "FullName"),
    )


def _site_quantity_page(rs: etree._Element) -> contract.SiteQuantityPage:
    iterator_id, remaining = _iterator_state(rs)
    rows = tuple(
        _site_quantity(ret, index) for index, ret in enumerate(rs.iterchildren("ItemSitesRet"))
    )
    return contract.SiteQuantityPage(rows=rows, iterator_id=iterator_id, remaining=remaining)


def query_outcome(answer: Answer) -> contract.QueryOutcome | None:
    """What a read's answer says QuickBooks has; None when its status is a failure.

    statusCode 0 is read; 1 ("no match") on a list read or ItemSitesQuery is
    an empty page.
    Any other status (1 on a one-shot read, warnings, errors) returns None:
    classify it with `status_codes` like an event's. Raises
    `QbxmlParseError` when QuickBooks said OK but an entry is unreadable,
    naming the entry; `ValueError` when `answer` is not a read's.
    """
    kind = answer.kind
    if kind not in READ_KINDS or answer.element is None:
        raise ValueError(f"{kind}Rs is not the answer to a read")
    rs = answer.element
    if kind == "ItemSitesQuery":
        if answer.status_code not in (0, QUERY_NO_MATCH):
            return None
        return _site_quantity_page(rs)
    if kind in _RET_OF_READ:
        if answer.status_code not in (0, QUERY_NO_MATCH):
            return None
        return _list_page(rs, kind)
    if answer.status_code != 0:
        return None
    ret_tag, read = ONE_SHOT_READS[kind]
    ret = rs.find(ret_tag)
    # An OK answer without its Ret says nothing: every field unknown, as in a partial HCP.
    return read(ret if ret is not None else etree.Element("Ret"))
