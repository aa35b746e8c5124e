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

Reads (`contract.QueryRequest`: host, company, preferences, item and
assembly pages, sites, accounts, quantity per item and site) go first in the
message, before any event, with the query's `request_id` as requestID. They
ask only for the fields the bridge reads (`IncludeRetElement`; not for
`ItemSitesQuery`, see `_item_sites_query`) and for inactive entries too
(`ActiveStatus All`: a deactivated item must show up as inactive, not as
missing). The item lists and `ItemSitesQuery` are read in pages through
qbXML iterators; every `Continue` repeats the `Start` request's criteria, as
Intuit requires of an iterator, with the `iteratorID` QuickBooks gave. A
query the negotiated qbXML version cannot express (iterators before 5.0,
inventory sites and item sites before 10.0) comes back as a `QueryRefusal`,
never as a request QuickBooks would reject whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Literal

from lxml import etree

from qbwc_bridge.contract import ClaimedEvent, EventLine, QueryRequest
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
class RenderedQuery:
    """One read request in the message."""

    request_id: str
    kind: str  # the contract's QueryKind, e.g. "ItemInventoryQuery"


@dataclass(frozen=True)
class QueryRefusal:
    """A read left out of the message: this qbXML version (or the query itself) cannot say it."""

    request_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class RenderedBatch:
    """`xml` is None when nothing was left to send (every query and event refused, or none).

    `queries` and `requests` are what the message holds, in message order
    (reads first); `request_ids` is every requestID in it.
    """

    xml: str | None
    requests: tuple[RenderedRequest, ...]
    refusals: tuple[Refusal, ...]
    queries: tuple[RenderedQuery, ...] = ()
    query_refusals: tuple[QueryRefusal, ...] = ()

    @property
    def request_ids(self) -> tuple[str, ...]:
        return tuple(q.request_id for q in self.queries) + tuple(
            r.claim_token for r in self.requests
        )


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


def _is_request_id(value: str) -> bool:
    """Whether QuickBooks takes `value` as a requestID (or iteratorID) rather than fail it."""
    return len(value) <= REQUEST_ID_MAX and _LIST_ID_CHARS.fullmatch(value) is not None


def _require_id(value: str, what: str) -> None:
    if not _is_request_id(value):
        raise Unrenderable(
            f"{what} {value[:60]!r} cannot be a qbXML requestID "
            f"(at most {REQUEST_ID_MAX} printable ASCII characters); this is a queue bug"
        )


def _require_unused(request_id: str, used: set[str]) -> None:
    if request_id in used:
        # Answers are matched by requestID: two requests under one id could not be told apart.
        raise Unrenderable(
            f"requestID {request_id!r} is used twice in one message; this is a queue bug"
        )


def request_kind(event: ClaimedEvent) -> str:
    """The qbXML request name for this event, e.g. "TransferInventoryQuery"."""
    return _REQUEST_KINDS[(event.mode, event.type)]


def build_request(
    event: ClaimedEvent, version: QbxmlVersion, tz: tzinfo | None = None
) -> etree._Element:
    """One detached `*Rq` element for `event`; raises `Unrenderable`."""
    _require_id(event.claim_token, "claim token")
    kind = request_kind(event)
    request = etree.Element(f"{kind}Rq", requestID=event.claim_token)
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


# -- reads: what QuickBooks has ----------------------------------------------------------

# Intuit's OSR: the iterator attribute is qbXML 5.0; IncludeRetElement is 4.0.
MIN_ITERATOR_VERSION = QbxmlVersion(5, 0)
MIN_INCLUDE_RET_VERSION = QbxmlVersion(4, 0)
# InventorySiteQuery and the MultiLocationInventoryPreferences aggregate came with
# multi-location inventory: QuickBooks Enterprise 11 and qbXML 10.0 (Intuit,
# "SDK support for multi location inventory"), like InventorySiteRef.
MIN_MULTI_LOCATION_VERSION = MIN_SITE_VERSION
# Our own bound, not QuickBooks': one page must keep QuickBooks' answer well under
# the 5 MB we allow a message. An item with the longest names QuickBooks allows
# takes ~370 bytes of answer, so 5,000 make ~1.9 MB (tests/bench/bench_lists.py).
MAX_PAGE_SIZE = 5000
# ItemSitesQuery: Intuit's OSR lists it from qbXML 10.0, with multi-location inventory.
MIN_ITEM_SITES_VERSION = MIN_MULTI_LOCATION_VERSION
# An ItemSitesRet is asked for whole (see _item_sites_query): with every field of the
# schema, a bin and the longest names and quantities QuickBooks allows it takes ~1,280
# bytes of answer, so 2,000 make ~2.6 MB (tests/bench/bench_lists.py, "ItemSites").
MAX_ITEM_SITES_PAGE_SIZE = 2000

PAGED_KINDS = frozenset({"ItemInventoryQuery", "ItemInventoryAssemblyQuery", "ItemSitesQuery"})
_MAX_PAGE: dict[str, int] = {"ItemSitesQuery": MAX_ITEM_SITES_PAGE_SIZE}
# What the bridge reads of each, in the order the Ret carries them.
_INCLUDE: dict[str, tuple[str, ...]] = {
    "CompanyQuery": ("CompanyName",),
    "ItemInventoryQuery": ("ListID", "Name", "FullName", "IsActive", "QuantityOnHand"),
    "ItemInventoryAssemblyQuery": ("ListID", "Name", "FullName", "IsActive", "QuantityOnHand"),
    # Sites are a flat list: their Name is the name a reference uses (no FullName).
    "InventorySiteQuery": ("ListID", "Name", "IsActive"),
    "AccountQuery": ("ListID", "Name", "FullName", "IsActive", "AccountType"),
}


def _refuse_iterator(query: QueryRequest) -> None:
    if query.iterator is not None:
        # Only the item queries carry iterator attributes in the schema.
        raise Unrenderable(f"{query.kind} cannot be read with an iterator; this is a queue bug")


def _page_attributes(request: etree._Element, query: QueryRequest, version: QbxmlVersion) -> int:
    """iterator / iteratorID attributes of a paged item query; returns MaxReturned."""
    if query.iterator is None:
        # Unpaged, 50,000 items would be one answer of tens of megabytes.
        raise Unrenderable(
            f"{query.kind} must be read in pages (iterator Start/Continue); this is a queue bug"
        )
    if version < MIN_ITERATOR_VERSION:
        raise Unrenderable(
            f"qbXML {version} has no iterators (they need 5.0) to read {query.kind} in pages; "
            "update QuickBooks or the QBXML_VERSION setting"
        )
    page = query.max_returned
    largest = _MAX_PAGE.get(query.kind, MAX_PAGE_SIZE)
    if page is None or not 1 <= page <= largest:
        raise Unrenderable(
            f"{query.kind} page size {page!r} must be 1-{largest}; this is a queue bug"
        )
    request.set("iterator", query.iterator)
    if query.iterator == "Continue":
        iterator_id = query.iterator_id or ""
        if not _is_request_id(iterator_id):
            raise Unrenderable(
                f"{query.kind} Continue needs the iteratorID QuickBooks returned, "
                f"got {iterator_id[:60]!r}; restart the read"
            )
        request.set("iteratorID", iterator_id)
    return page


def _include(request: etree._Element, kind: str, version: QbxmlVersion) -> None:
    """IncludeRetElement: QuickBooks returns only these fields (smaller, faster answers)."""
    if version >= MIN_INCLUDE_RET_VERSION:
        for name in _INCLUDE.get(kind, ()):
            _sub(request, "IncludeRetElement", name)


def build_query(query: QueryRequest, version: QbxmlVersion) -> etree._Element:
    """One detached `*QueryRq` element for a read Convex asked for; raises `Unrenderable`.

    Element order follows the qbXML 13.0 schema: ListWithClassFilter /
    ListFilter / InventorySiteFilter (MaxReturned, then ActiveStatus) before
    IncludeRetElement; for ItemSitesQuery the filter choice (ItemTypeFilter)
    comes first, then MaxReturned and ActiveStatus.
    """
    _require_id(query.request_id, "query id")
    kind = query.kind
    request = etree.Element(f"{kind}Rq", requestID=query.request_id)
    if kind == "ItemSitesQuery":
        return _item_sites_query(request, query, version)
    if kind in PAGED_KINDS:
        page = _page_attributes(request, query, version)
        _sub(request, "MaxReturned", str(page))
        _sub(request, "ActiveStatus", "All")
        _include(request, kind, version)
        return request
    _refuse_iterator(query)
    if kind == "HostQuery":
        # HostRet is a dozen short fields: asking for all of it costs nothing and never
        # names a field an older QuickBooks lacks.
        return request
    if kind == "CompanyQuery":
        _include(request, kind, version)
    elif kind == "PreferencesQuery":
        # Below 10.0 the aggregate does not exist (QuickBooks cannot have sites there): the
        # whole PreferencesRet is small, ask for all of it rather than for a name it lacks.
        if version >= MIN_MULTI_LOCATION_VERSION:
            _sub(request, "IncludeRetElement", "MultiLocationInventoryPreferences")
    elif kind == "InventorySiteQuery":
        if version < MIN_MULTI_LOCATION_VERSION:
            raise Unrenderable(
                f"qbXML {version} has no inventory sites (they need 10.0, QuickBooks "
                "Enterprise with Advanced Inventory)"
            )
        _sub(request, "ActiveStatus", "All")
        _include(request, kind, version)
    elif kind == "AccountQuery":
        _sub(request, "ActiveStatus", "All")
        _include(request, kind, version)
    else:
        raise Unrenderable(f"{kind} is not a read this bridge can render")
    return request


def _item_sites_query(
    request: etree._Element, query: QueryRequest, version: QbxmlVersion
) -> etree._Element:
    """Quantity on hand per item and site (and bin), a page at a time.

    ItemTypeFilter InventoryAndAssembly: the only items an ItemSitesRet can
    name (ItemInventoryRef or ItemInventoryAssemblyRef). ActiveStatus All:
    stock of an inactive item or site is still stock. No IncludeRetElement:
    the schema allows it here, but no Intuit sample or known use shows what
    QuickBooks returns for an ItemSitesRet asked for in parts (its item
    reference is a required choice, not an optional field), and a reference
    or quantity left out would fail the snapshot. The whole Ret can only
    carry more than is read, never less; its size is bounded by
    MAX_ITEM_SITES_PAGE_SIZE instead.
    """
    if version < MIN_ITEM_SITES_VERSION:
        raise Unrenderable(
            f"qbXML {version} has no ItemSitesQuery (quantity per inventory site needs 10.0, "
            "QuickBooks Enterprise with Advanced Inventory); read ItemInventoryQuery instead"
        )
    page = _page_attributes(request, query, version)
    _sub(request, "ItemTypeFilter", "InventoryAndAssembly")
    _sub(request, "MaxReturned", str(page))
    _sub(request, "ActiveStatus", "All")
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
    queries: Sequence[QueryRequest] = (),
    tz: tzinfo | None = None,
    on_error: OnError = "continueOnError",
) -> RenderedBatch:
    """One qbXML message: the renderable queries first, then every renderable event.

    What cannot be rendered comes back as refusals (`refusals` for events,
    `query_refusals` for queries). `version` is the negotiated qbXML
    version; `tz` is where TxnDate is counted (None = the bridge's local time).
    """
    elements: list[etree._Element] = []
    rendered_queries: list[RenderedQuery] = []
    query_refusals: list[QueryRefusal] = []
    seen_ids: set[str] = set()
    for query in queries:
        try:
            _require_unused(query.request_id, seen_ids)
            element = build_query(query, version)
        except Unrenderable as error:
            query_refusals.append(QueryRefusal(query.request_id, query.kind, error.reason))
            continue
        seen_ids.add(query.request_id)
        elements.append(element)
        rendered_queries.append(RenderedQuery(query.request_id, query.kind))
    requests: list[RenderedRequest] = []
    refusals: list[Refusal] = []
    for event in events:
        try:
            _require_unused(event.claim_token, seen_ids)
            element = build_request(event, version, tz)
        except Unrenderable as error:
            refusals.append(
                Refusal(event.event_id, event.claim_token, event.ref_number, error.reason)
            )
            continue
        seen_ids.add(event.claim_token)
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
    return RenderedBatch(
        xml=xml,
        requests=tuple(requests),
        refusals=tuple(refusals),
        queries=tuple(rendered_queries),
        query_refusals=tuple(query_refusals),
    )
