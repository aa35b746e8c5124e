"""Renders claimed events as ONE qbXML request message (lxml, never string building).

Each event becomes one request whose `requestID` is the event's claim token,
so every answer finds its event again:

- mode "send":   `InventoryAdjustmentAddRq` / `TransferInventoryAddRq`
- mode "lookup": `InventoryAdjustmentQueryRq` / `TransferInventoryQueryRq`
  (an earlier send's outcome is unknown: did QuickBooks save it?). The query
  combines `TxnDateRangeFilter` (TxnDate ± 2 days) with `RefNumberFilter`
  (StartsWith): qbXML 13.0 cannot pair an exact `RefNumber` with a date
  range, and the date range keeps a years-old transaction that happens to
  share the RefNumber from being taken for ours. It asks for line items, so
  Convex can check that what it finds is the event (RefNumber, ExternalGUID,
  content), not someone's hand-made entry with the same RefNumber.

Every Add carries the event's `ExternalGUID`, the marker a later lookup
recognises the event's own transaction by.

Element order, choices and field lengths follow Intuit's qbXML 13.0 schema
(the tests validate every message against it). An event the renderer cannot
turn into a request QuickBooks would accept (a transfer below qbXML 10.0, an
unmapped site or account, an over-long name) is not sent: it comes back as a
`Refusal` with a reason an operator can act on, and the rest of the batch is
rendered normally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Literal

from lxml import etree

from qbwc_bridge.contract import ClaimedEvent, EventLine
from qbwc_bridge.qbxml.model import QbRef
from qbwc_bridge.qbxml.text import to_qb_text, truncate
from qbwc_bridge.versions import QbxmlVersion

OnError = Literal["continueOnError", "stopOnError"]

XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

# Field limits (qbXML 13.0 schema and Intuit's OSR where the schema says STRTYPE).
REF_NUMBER_MAX = 11
MEMO_MAX = 4095
LIST_ID_MAX = 36
ITEM_FULL_NAME_MAX = (
    159  # GenericListRef: STRTYPE in the xsd; QuickBooks caps item full names at 159
)
ACCOUNT_FULL_NAME_MAX = 159  # ListRef
SITE_FULL_NAME_MAX = 31  # InventorySiteListRef

MIN_TRANSFER_VERSION = QbxmlVersion(10, 0)  # TransferInventory* arrived with qbXML 10.0
MIN_SITE_VERSION = QbxmlVersion(10, 0)  # so did InventorySiteRef (Advanced Inventory)
MIN_GUID_VERSION = QbxmlVersion(9, 0)  # ExternalGUID on these transactions
LOOKUP_WINDOW = timedelta(days=2)

# QUANTYPE: up to 10 integer digits and 5 decimals.
_QUANTUM = Decimal("0.00001")
_QUANTITY_MAX = Decimal("9999999999.99999")
_FLOAT_NOISE = Decimal("1e-9")
_LIST_ID_CHARS = re.compile(r"[\x21-\x7e]+")
# GUIDTYPE as QuickBooks checks it; anything else fails the whole message (0x80040400).
_GUID = re.compile(r"\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}")


class Unrenderable(Exception):
    """This event cannot be sent as it stands; `reason` tells the operator what to fix."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RenderedRequest:
    """One request in the message: which event it carries, and how."""

    event_id: str
    claim_token: str
    ref_number: str
    mode: str
    kind: str  # e.g. "InventoryAdjustmentAdd"


@dataclass(frozen=True)
class Refusal:
    """An event left out of the message; the caller marks it permanently failed."""

    event_id: str
    claim_token: str
    ref_number: str
    reason: str


@dataclass(frozen=True)
class RenderedBatch:
    """`xml` is None when every event was refused (nothing to send)."""

    xml: str | None
    requests: tuple[RenderedRequest, ...]
    refusals: tuple[Refusal, ...]


def format_quantity(value: float) -> str:
    """A QUANTYPE string without float artifacts: 5 -> "5", 2.50 -> "2.5", 0.1+0.2 -> "0.3".

    Refuses quantities QuickBooks cannot hold exactly (more than 5 decimals,
    more than 10 integer digits) rather than letting QuickBooks' QOH drift
    from Convex's.
    """
    exact = Decimal(repr(float(value)))  # repr: the shortest text that is this float
    if not exact.is_finite():
        raise Unrenderable(f"quantity {value!r} is not a finite number")
    if abs(exact) > _QUANTITY_MAX:
        raise Unrenderable(f"quantity {value!r} is too large for QuickBooks")
    rounded = exact.quantize(_QUANTUM)
    if abs(exact - rounded) > _FLOAT_NOISE:
        raise Unrenderable(
            f"quantity {value!r} has more than 5 decimals; QuickBooks cannot store it"
        )
    return "0" if rounded == 0 else format(rounded.normalize(), "f")


def txn_date(occurred_at_ms: float, tz: tzinfo | None) -> date:
    """The calendar date of the event where the books are kept (`tz`; None = local time)."""
    moment = datetime.fromtimestamp(occurred_at_ms / 1000, tz)
    return moment.date()


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _add_ref(parent: etree._Element, tag: str, ref: QbRef, name_max: int, what: str) -> None:
    """ListID when known (opaque: checked, never rewritten), else the mapped FullName."""
    ref_element = _sub(parent, tag)
    if ref.list_id:
        if len(ref.list_id) > LIST_ID_MAX or not _LIST_ID_CHARS.fullmatch(ref.list_id):
            raise Unrenderable(
                f"{what} ListID {ref.list_id[:60]!r} is not a QuickBooks ListID "
                f"(at most {LIST_ID_MAX} printable ASCII characters); fix the mapping in Convex"
            )
        _sub(ref_element, "ListID", ref.list_id)
        return
    name = to_qb_text(ref.full_name or "").strip()
    if not name:
        raise Unrenderable(f"{what} has an empty QuickBooks name; fix the mapping in Convex")
    if len(name) > name_max:
        raise Unrenderable(
            f"{what} name {name[:60]!r}... is {len(name)} characters; QuickBooks allows "
            f"{name_max}. Map it by ListID or fix the name in Convex"
        )
    _sub(ref_element, "FullName", name)


def _item_ref(line: EventLine) -> QbRef:
    """Item by ListID, else FullName, else the SKU (QuickBooks item names usually are the SKU)."""
    if line.item is not None:
        return line.item
    return QbRef(full_name=line.sku)


def _retry_hint(event: ClaimedEvent) -> str:
    return f"then `qbwc-bridge retry {event.event_id}`"


def _ref_number(event: ClaimedEvent) -> str:
    ref = to_qb_text(event.ref_number).strip()
    if not ref or len(ref) > REF_NUMBER_MAX:
        raise Unrenderable(
            f"RefNumber {event.ref_number[:40]!r} does not fit QuickBooks' "
            f"{REF_NUMBER_MAX} characters"
        )
    return ref


def _memo(parent: etree._Element, event: ClaimedEvent) -> None:
    if event.memo:
        memo = truncate(to_qb_text(event.memo), MEMO_MAX)
        if memo.strip():
            _sub(parent, "Memo", memo)


def _guid(parent: etree._Element, event: ClaimedEvent, version: QbxmlVersion) -> None:
    """The marker a later lookup knows the event's own transaction by (content is checked without it)."""
    if version >= MIN_GUID_VERSION:
        if not _GUID.fullmatch(event.external_guid):
            raise Unrenderable(
                f"ExternalGUID {event.external_guid[:60]!r} is not a GUID like "
                "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}; this is a queue bug"
            )
        _sub(parent, "ExternalGUID", event.external_guid)


def _require_lines(event: ClaimedEvent) -> None:
    if not event.lines:
        raise Unrenderable("the event has no lines; nothing to send")


def _adjustment_add(
    parent: etree._Element, event: ClaimedEvent, version: QbxmlVersion, day: date
) -> None:
    _require_lines(event)
    if event.account is None:
        reason = (
            f"reason code {event.reason_code}" if event.reason_code else "the adjustment's reason"
        )
        raise Unrenderable(
            f"{reason} has no QuickBooks account mapped; map it (qbAccountListId or "
            f"qbAccountFullName), {_retry_hint(event)}"
        )
    if event.site is not None and version < MIN_SITE_VERSION:
        raise Unrenderable(
            f"qbXML {version} cannot name an inventory site (needs 10.0); "
            f"update QuickBooks or the QBXML_VERSION setting, {_retry_hint(event)}"
        )
    add = _sub(parent, "InventoryAdjustmentAdd")
    _add_ref(add, "AccountRef", event.account, ACCOUNT_FULL_NAME_MAX, "QuickBooks account")
    _sub(add, "TxnDate", day.isoformat())
    _sub(add, "RefNumber", _ref_number(event))
    if event.site is not None:
        _add_ref(add, "InventorySiteRef", event.site, SITE_FULL_NAME_MAX, "QuickBooks site")
    _memo(add, event)
    _guid(add, event, version)
    for line in event.lines:
        line_add = _sub(add, "InventoryAdjustmentLineAdd")
        _add_ref(
            line_add, "ItemRef", _item_ref(line), ITEM_FULL_NAME_MAX, f"item for SKU {line.sku}"
        )
        adjustment = _sub(line_add, "QuantityAdjustment")
        _sub(adjustment, "QuantityDifference", format_quantity(line.quantity))


def _site_or_refuse(site: QbRef | None, location: str | None, event: ClaimedEvent) -> QbRef:
    if site is None:
        name = f"location {location}" if location else "a location of this transfer"
        raise Unrenderable(f"{name} has no QuickBooks site mapped; map it, {_retry_hint(event)}")
    return site


def _require_transfer_version(version: QbxmlVersion, event: ClaimedEvent) -> None:
    if version < MIN_TRANSFER_VERSION:
        raise Unrenderable(
            f"QuickBooks speaks qbXML {version} here; inventory transfers need "
            f"10.0 or later (QuickBooks Enterprise with Advanced Inventory). Update QuickBooks, "
            f"{_retry_hint(event)}"
        )


def _transfer_add(
    parent: etree._Element, event: ClaimedEvent, version: QbxmlVersion, day: date
) -> None:
    _require_transfer_version(version, event)
    _require_lines(event)
    from_site = _site_or_refuse(event.from_site, event.from_location_code, event)
    to_site = _site_or_refuse(event.to_site, event.to_location_code, event)
    add = _sub(parent, "TransferInventoryAdd")
    _sub(add, "TxnDate", day.isoformat())
    _sub(add, "RefNumber", _ref_number(event))
    _add_ref(add, "FromInventorySiteRef", from_site, SITE_FULL_NAME_MAX, "QuickBooks source site")
    _add_ref(add, "ToInventorySiteRef", to_site, SITE_FULL_NAME_MAX, "QuickBooks destination site")
    _memo(add, event)
    _guid(add, event, version)
    for line in event.lines:
        if line.quantity <= 0:
            raise Unrenderable(
                f"transfer line for SKU {line.sku} has quantity {line.quantity!r}; it must be > 0"
            )
        line_add = _sub(add, "TransferInventoryLineAdd")
        _add_ref(
            line_add, "ItemRef", _item_ref(line), ITEM_FULL_NAME_MAX, f"item for SKU {line.sku}"
        )
        _sub(line_add, "QuantityToTransfer", format_quantity(line.quantity))


def _lookup_filters(parent: etree._Element, event: ClaimedEvent, day: date) -> None:
    """TxnFilter group: date range first, then the RefNumber filter (schema order)."""
    window = _sub(parent, "TxnDateRangeFilter")
    _sub(window, "FromTxnDate", (day - LOOKUP_WINDOW).isoformat())
    _sub(window, "ToTxnDate", (day + LOOKUP_WINDOW).isoformat())
    ref_filter = _sub(parent, "RefNumberFilter")
    _sub(ref_filter, "MatchCriterion", "StartsWith")
    _sub(ref_filter, "RefNumber", _ref_number(event))
    _sub(parent, "IncludeLineItems", "true")


_REQUEST_KINDS: dict[tuple[str, str], str] = {
    ("send", "adjustment"): "InventoryAdjustmentAdd",
    ("send", "transfer"): "TransferInventoryAdd",
    ("lookup", "adjustment"): "InventoryAdjustmentQuery",
    ("lookup", "transfer"): "TransferInventoryQuery",
}
REQUEST_ID_MAX = 50  # QuickBooks answers 1060 "Invalid request ID" beyond this


def request_kind(event: ClaimedEvent) -> str:
    """The qbXML request name for this event, e.g. "TransferInventoryQuery"."""
    return _REQUEST_KINDS[(event.mode, event.type)]


def build_request(
    event: ClaimedEvent, version: QbxmlVersion, tz: tzinfo | None = None
) -> etree._Element:
    """One detached `*Rq` element for `event`; raises `Unrenderable`."""
    token = event.claim_token
    if len(token) > REQUEST_ID_MAX or not _LIST_ID_CHARS.fullmatch(token):
        raise Unrenderable(
            f"claim token {token[:60]!r} cannot be a qbXML requestID "
            f"(at most {REQUEST_ID_MAX} printable ASCII characters); this is a queue bug"
        )
    kind = request_kind(event)
    request = etree.Element(f"{kind}Rq", requestID=token)
    day = txn_date(event.occurred_at_ms, tz)
    if event.mode == "lookup":
        if event.type == "transfer":
            _require_transfer_version(version, event)
        _lookup_filters(request, event, day)
    elif event.type == "adjustment":
        _adjustment_add(request, event, version, day)
    else:
        _transfer_add(request, event, version, day)
    return request


def render_document(
    requests: Iterable[etree._Element],
    version: QbxmlVersion,
    on_error: OnError = "continueOnError",
) -> bytes:
    """The whole message: XML declaration, `<?qbxml version?>`, QBXML/QBXMLMsgsRq."""
    root = etree.Element("QBXML")
    messages = etree.SubElement(root, "QBXMLMsgsRq", onError=on_error)
    for request in requests:
        messages.append(request)
    root.addprevious(etree.ProcessingInstruction("qbxml", f'version="{version}"'))
    # lxml's own declaration uses single quotes; QBWC samples and peers send this form.
    return XML_DECLARATION + etree.tostring(
        root.getroottree(), encoding="utf-8", xml_declaration=False
    )


def render_batch(
    events: Sequence[ClaimedEvent],
    version: QbxmlVersion,
    *,
    tz: tzinfo | None = None,
    on_error: OnError = "continueOnError",
) -> RenderedBatch:
    """One qbXML message for every renderable event; the others come back as refusals.

    `version` is the negotiated qbXML version; `tz` is where TxnDate is
    counted (None = the bridge's local time).
    """
    elements: list[etree._Element] = []
    requests: list[RenderedRequest] = []
    refusals: list[Refusal] = []
    for event in events:
        try:
            element = build_request(event, version, tz)
        except Unrenderable as error:
            refusals.append(
                Refusal(event.event_id, event.claim_token, event.ref_number, error.reason)
            )
            continue
        elements.append(element)
        requests.append(
            RenderedRequest(
                event_id=event.event_id,
                claim_token=event.claim_token,
                ref_number=event.ref_number,
                mode=event.mode,
                kind=request_kind(event),
            )
        )
    xml = render_document(elements, version, on_error).decode("utf-8") if elements else None
    return RenderedBatch(xml=xml, requests=tuple(requests), refusals=tuple(refusals))
