"""QuickBooks Desktop as the bridge sees it through the Web Connector, faults included.

Independent of the bridge's own renderer and parser (it reads requests with
lxml against Intuit's schema), so a bug there cannot hide itself here.

What it does, like QuickBooks:

- `process(request_xml) -> response_xml` is what QBWC does with the string
  sendRequestXML returned. A message that is not well-formed, fails the
  qbXML 13.0 schema (element order, lengths, choices), lacks the
  `<?qbxml version?>` instruction or carries characters outside ISO-8859-1
  is refused whole: `RequestRejected("0x80040400", "QuickBooks found an error
  when parsing the provided XML text stream.")`, nothing executed.
- Executes `InventoryAdjustmentAdd`, `TransferInventoryAdd` and their Query
  requests in order, honouring `onError` (continueOnError / stopOnError).
  Unknown item/site/account references get 3140 with QuickBooks' wording;
  sites and transfers without Advanced Inventory get 3250; a Query with no
  match gets statusCode 1. Adds get TxnIDs like "1A-1700000026" and move
  quantity on hand per (item, site). RefNumbers are not unique (QuickBooks
  does not enforce that for these transactions), so a double posting shows
  up in `count_by_ref`.
- Reads what QuickBooks is and has: HostQuery, CompanyQuery,
  PreferencesQuery (MultiLocationInventoryPreferences from
  `advanced_inventory` / `advanced_inventory_available`, for qbXML 10.0 and
  later), ItemInventoryQuery / ItemInventoryAssemblyQuery (ListID, Name,
  FullName, IsActive, ParentRef, Sublevel, QuantityOnHand summed over every
  site), InventorySiteQuery (3250 while multi-location inventory is off) and
  AccountQuery (AccountType), with ActiveStatus (ActiveOnly when absent, as
  the schema's default says), MaxReturned and IncludeRetElement (only the
  named fields come back).
- ItemSitesQuery (qbXML 10.0; 3250 while multi-location inventory is off):
  one ItemSitesRet per (item, site) record, with its own stable ListID, the
  item (ItemInventoryRef or ItemInventoryAssemblyRef), the site
  (InventorySiteRef; none for stock not at any site) and the current
  QuantityOnHand. A record comes into being with the first quantity at that
  item and site (`set_qoh`, an adjustment, a transfer) and stays, at 0 too,
  as the list object it is (ListID, TimeCreated, EditSequence in the
  schema); transactions move its QuantityOnHand without stamping it, as
  they do an item's (Intuit's OSR for ItemInventoryQuery). ItemTypeFilter
  and ActiveStatus (a record is active while its item and site are) filter
  it; ListID and ItemSiteFilter are not modelled. Bins
  (InventorySiteLocationRef) are not modelled.
- Item queries and ItemSitesQuery page through qbXML iterators as Intuit documents them:
  `iterator="Start"` with MaxReturned opens one over the matches and
  answers the first page with `iteratorID` and `iteratorRemainingCount`;
  each `Continue` with that iteratorID answers the next page; the iterator
  is gone after its last page or a `Stop`. Iterators live for one
  QuickBooks session only ("only valid for the current QuickBooks session",
  Intuit's OSR): `open_company()` (QBWC opening the company file for a new
  session) forgets them. An unknown, finished or forgotten iteratorID gets
  3391 'The iteratorID "{...}" is not valid.', the status and wording
  QuickBooks gives (as QBWC reports it in consolibyte/quickbooks-php#183).
- Lists behave like QuickBooks': ListIDs never change; names are
  case-insensitive and unique per list; a sub-item's parent is an item of
  the same type (created on the fly by `add_item`); `rename_item` keeps the
  ListID and every transaction shows the new name; `set_item_active(name,
  False)` deactivates the item and its sub-items (as QuickBooks' UI does).
  Transactions against an inactive item, site or account are not modelled
  (`SimulatorError`): the bridge must never send them.
- Requests the negotiated qbXML version cannot hold fail whole with
  0x80040400 like any other parse error: iterators before 5.0, inventory
  sites, item sites and transfers before 10.0.
- Every response it builds is validated against the schema too (an invalid
  one raises `SimulatorError`: a bug in the simulator, never "QuickBooks").
  `hcp_response()` is what QBWC passes as strHCPResponse for this company:
  the Host, Company and Preferences answers, built the same way.

Faults (each consumed as it fires):

- `fail_next(code, message, ref_number=..., request_kind=..., times=N)`:
  the next N matching requests answer with that status, nothing saved.
  `lock_next(ref_number)` is the 3175 "record in use" case.
- `lose_next_response(times=N)`: the message IS executed and saved, then
  `ResponseLost` is raised instead of returning (QBWC crashed, network cut).
- `reject_next_message(hresult, message)`: the whole message fails before
  anything runs (`RequestRejected`, default 0x80040400 parse error).
- `stop()` / `start()`: QuickBooks not running; `open_company()` and
  `process()` raise `QuickBooksUnavailable("0x80040408", ...)`, which the
  QBWC simulator routes to connectionError.

Changing the company as its users would: `add_item(full_name, list_id=None,
*, assembly=False, active=True)`, `add_site`, `add_account(full_name,
account_type="Expense")`, `rename_item(old, new_full_name)` (and
`rename_site` / `rename_account`), `set_item_active(item, False)` (and
`set_site_active` / `set_account_active`), `set_qoh(item, qty, site)`,
`enter_adjustment_by_hand(...)` (a hand entry that may reuse a bridge
RefNumber), `adjust_qoh_by_hand(item, delta, site)` (someone changes QOH in
QuickBooks directly: an adjustment with a RefNumber of QuickBooks' users).

Inspection: `transactions`, `count_by_ref(ref)`, `find_by_ref(ref)`,
`qoh(item, site)`, `total_qoh(item)`, `qoh_table()`, `item_sites()`,
`item(name_or_list_id)` (also `site`, `account`), `messages` / `responses`
(raw text).

The exceptions are the QBWC simulator's, so it can route them the way QBWC
does (ResponseLost: no receiveResponseXML; RequestRejected: hresult+message;
QuickBooksUnavailable: connectionError).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal, TypeVar

from lxml import etree

from .qbwc_simulator import QuickBooksUnavailable, RequestRejected, ResponseLost
from .qbxml_schema import load_schema

PARSE_ERROR_HRESULT = "0x80040400"
PARSE_ERROR_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
NOT_RUNNING_HRESULT = "0x80040408"
NOT_RUNNING_MESSAGE = "Could not start QuickBooks."
LOCKED_CODE = 3175
LOCKED_MESSAGE = (
    "There was an error when locking the record. This record is in use by another QuickBooks user."
)
NO_MATCH_MESSAGE = "A query request did not find a matching object in QuickBooks"
FEATURE_OFF_CODE = 3250
FEATURE_OFF_MESSAGE = "This feature is not enabled or not available in this version of QuickBooks."
INVALID_ITERATOR_CODE = 3391
MAX_VERSION = (13, 0)
# What the qbXML spec each request part appeared in (Intuit's OSR; "SDK support for multi
# location inventory": sites and transfers are qbXML 10.0). Older requests fail to parse.
MIN_ITERATOR_VERSION = (5, 0)
MIN_MULTI_LOCATION_VERSION = (10, 0)
_MULTI_LOCATION_TAGS = frozenset(
    {
        "InventorySiteQueryRq",
        "ItemSitesQueryRq",
        "TransferInventoryAddRq",
        "TransferInventoryQueryRq",
        "InventorySiteRef",
        "FromInventorySiteRef",
        "ToInventorySiteRef",
    }
)
NAME_MAX = 31  # Name of an item, site or account (the schema's limit, QuickBooks' too)
FULL_NAME_MAX = 159
ACCOUNT_TYPES = frozenset(
    {
        "AccountsPayable",
        "AccountsReceivable",
        "Bank",
        "CostOfGoodsSold",
        "CreditCard",
        "Equity",
        "Expense",
        "FixedAsset",
        "Income",
        "LongTermLiability",
        "NonPosting",
        "OtherAsset",
        "OtherCurrentAsset",
        "OtherCurrentLiability",
        "OtherExpense",
        "OtherIncome",
    }
)
# Every qbXML version QuickBooks 2014 (major version 24) speaks: what its HostRet lists.
QB2014_VERSIONS = (
    "1.0",
    "1.1",
    "2.0",
    "2.1",
    "3.0",
    "4.0",
    "4.1",
    "5.0",
    "6.0",
    "7.0",
    "8.0",
    "9.0",
    "10.0",
    "11.0",
    "12.0",
    "13.0",
)

_T = TypeVar("_T")
TxnKind = Literal["InventoryAdjustment", "TransferInventory"]
ItemKind = Literal["inventory", "assembly"]
_ITEM_QUERIES: dict[str, ItemKind] = {
    "ItemInventoryQuery": "inventory",
    "ItemInventoryAssemblyQuery": "assembly",
}
# ItemSitesQuery's ItemTypeFilter: which of the simulated item kinds each value takes.
# Item sites exist for inventory parts and assemblies only (ItemSitesRet names one of them).
_ITEM_TYPES: dict[str, frozenset[ItemKind]] = {
    "Inventory": frozenset({"inventory"}),
    "Assembly": frozenset({"assembly"}),
    "InventoryAndAssembly": frozenset({"inventory", "assembly"}),
    "AllExceptFixedAsset": frozenset({"inventory", "assembly"}),
}
# The bridge's own RefNumbers (adjustments, transfers): a hand entry is told apart by not using them.
BRIDGE_REF_PREFIXES = ("AD-", "TR-")


class SimulatorError(AssertionError):
    """The simulator was asked something it does not model, or built an invalid response.

    A test-suite bug, never a QuickBooks behaviour: it fails the test loudly.
    """


class NotKept(list[str]):
    """A message log that keeps nothing, for `messages` / `responses` in benches: tests read
    every message back, a bench pulling thousands of big pages need not hold them."""

    def append(self, _: str) -> None:
        pass


class _Status(Exception):
    """An error status QuickBooks answers one request with (nothing saved)."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(eq=False)
class ListEntry:
    """One object of a QuickBooks list (item, site, account).

    Its ListID never changes; its name, parent and active flag can.
    Transactions hold the object itself, so they show its current name, as
    QuickBooks (which stores ListIDs) does.
    """

    list_id: str
    name: str
    parent: ListEntry | None = None
    active: bool = True
    item_kind: ItemKind | None = None  # items only
    account_type: str | None = None  # accounts only
    time_created: str = ""
    time_modified: str = ""
    edit_sequence: str = ""

    @property
    def full_name(self) -> str:
        return self.name if self.parent is None else f"{self.parent.full_name}:{self.name}"

    @property
    def sublevel(self) -> int:
        return 0 if self.parent is None else self.parent.sublevel + 1


@dataclass(eq=False)
class ItemSite:
    """One ItemSites record: an item's stock at one site (site None: at no site).

    Its quantity lives in the simulator's QOH table; the record holds what
    QuickBooks keeps about it (ListID, stamps).
    """

    list_id: str
    item: ListEntry
    site: ListEntry | None
    time_created: str
    time_modified: str
    edit_sequence: str

    @property
    def active(self) -> bool:
        return self.item.active and (self.site is None or self.site.active)


@dataclass(frozen=True)
class SimLine:
    txn_line_id: str
    item: ListEntry
    quantity: Decimal  # adjustment: QuantityDifference; transfer: quantity moved


@dataclass(frozen=True)
class SimTransaction:
    txn_id: str
    txn_number: int
    kind: TxnKind
    ref_number: str | None
    txn_date: date
    memo: str | None
    lines: tuple[SimLine, ...]
    time_created: str
    account: ListEntry | None = None
    site: ListEntry | None = None
    from_site: ListEntry | None = None
    to_site: ListEntry | None = None
    external_guid: str | None = None


@dataclass
class StatusFault:
    code: int
    message: str
    severity: str
    ref_number: str | None
    request_kind: str | None
    remaining: int

    def matches(self, kind: str, ref_number: str | None) -> bool:
        if self.request_kind is not None and self.request_kind != kind:
            return False
        return self.ref_number is None or self.ref_number == ref_number


@dataclass
class _List:
    """One QuickBooks list: ListIDs exact, names case-insensitive (as in QuickBooks).

    `hierarchical`: FullName is "Parent:Child" (items, accounts); sites are flat.
    """

    object_name: str
    hierarchical: bool = True
    by_id: dict[str, ListEntry] = field(default_factory=dict)
    by_name: dict[str, ListEntry] = field(default_factory=dict)

    def add(self, entry: ListEntry) -> ListEntry:
        if entry.full_name.casefold() in self.by_name or entry.list_id in self.by_id:
            raise SimulatorError(f"{self.object_name} {entry.full_name!r} is already in the list")
        self.by_id[entry.list_id] = entry
        self.by_name[entry.full_name.casefold()] = entry
        return entry

    def get(self, key: str) -> ListEntry | None:
        return self.by_id.get(key) or self.by_name.get(key.casefold())

    def require(self, key: str) -> ListEntry:
        entry = self.get(key)
        if entry is None:
            raise SimulatorError(f"no {self.object_name} {key!r} in the simulated company")
        return entry

    def reindex(self) -> None:
        """After a rename: every FullName below it changed too."""
        self.by_name = {entry.full_name.casefold(): entry for entry in self.by_id.values()}

    def descendants(self, entry: ListEntry) -> list[ListEntry]:
        found = []
        for other in self.by_id.values():
            parent = other.parent
            while parent is not None:
                if parent is entry:
                    found.append(other)
                    break
                parent = parent.parent
        return found


@dataclass
class _Iterator:
    """One open qbXML iterator: the matches of its Start, and how far Continue got.

    `rets(start, stop, request)` writes matches [start, stop) as Rets, as they are now.
    """

    iterator_id: str
    kind: str  # the request kind that opened it, e.g. "ItemInventoryQuery"
    count: int
    rets: Callable[[int, int, etree._Element], list[etree._Element]]
    position: int = 0


def _q(value: Decimal) -> str:
    """QUANTYPE text: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def _split_name(full_name: str, hierarchical: bool) -> list[str]:
    parts = full_name.split(":") if hierarchical else [full_name]
    if any(not part.strip() or len(part) > NAME_MAX for part in parts):
        raise SimulatorError(
            f"{full_name!r}: QuickBooks names are 1-{NAME_MAX} characters per level"
        )
    if len(full_name) > FULL_NAME_MAX:
        raise SimulatorError(f"{full_name!r}: QuickBooks full names are at most {FULL_NAME_MAX}")
    return parts


class QuickBooksSimulator:
    """One company file in QuickBooks Desktop (Enterprise, Advanced Inventory by default)."""

    def __init__(
        self,
        schema: etree.XMLSchema | None = None,
        *,
        items: Iterable[str] = (),
        sites: Iterable[str] = (),
        accounts: Iterable[str] = (),
        advanced_inventory: bool = True,
        advanced_inventory_available: bool | None = None,
        product_name: str = "QuickBooks Enterprise Solutions 14.0",
        major_version: int = 24,
        minor_version: int = 0,
        country: str = "US",
        supported_versions: Iterable[str] = QB2014_VERSIONS,
        file_mode: Literal["SingleUser", "MultiUser"] = "MultiUser",
        company_name: str = "Acme Parts & Supply",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        """`advanced_inventory`: multi-location inventory is on (Enterprise with Advanced
        Inventory, turned on in Preferences). `advanced_inventory_available`: this edition
        could turn it on (default: the same as `advanced_inventory`; QuickBooks Pro and
        Premier: False)."""
        self.schema = schema if schema is not None else load_schema()
        self.advanced_inventory = advanced_inventory
        self.advanced_inventory_available = (
            advanced_inventory
            if advanced_inventory_available is None
            else advanced_inventory_available
        )
        if self.advanced_inventory and not self.advanced_inventory_available:
            raise SimulatorError("multi-location inventory cannot be on where it is not available")
        self.product_name = product_name
        self.major_version = major_version
        self.minor_version = minor_version
        self.country = country
        self.supported_versions = tuple(supported_versions)
        self.file_mode = file_mode
        self.company_name = company_name
        self.running = True
        self.clock = clock
        self.transactions: list[SimTransaction] = []
        self.messages: list[str] = []
        self.responses: list[str] = []
        self._items = _List("Item")
        self._sites = _List("Inventory Site", hierarchical=False)
        self._accounts = _List("Account")
        self._qoh: defaultdict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
        # ItemSites records, by the same (item ListID, site ListID or None) key, in creation order.
        self._item_sites: dict[tuple[str, str | None], ItemSite] = {}
        self._hand_refs = 0
        self._sequence = 0
        self._faults: list[StatusFault] = []
        self._lost_responses = 0
        self._rejections: list[tuple[str, str]] = []
        self._iterators: dict[str, _Iterator] = {}
        for name in items:
            self.add_item(name)
        for name in sites:
            self.add_site(name)
        for name in accounts:
            self.add_account(name)

    # -- lists ----------------------------------------------------------------

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence

    def _new_list_id(self) -> str:
        n = self._next()
        return f"{0x80000000 + n:X}-{1600000000 + n}"

    def _now(self) -> str:
        return self.clock().astimezone().replace(microsecond=0).isoformat()

    def _touch(self, entry: ListEntry) -> None:
        """A change QuickBooks stamps: TimeModified and a new EditSequence."""
        entry.time_modified = self._now()
        entry.edit_sequence = str(1600000000 + self._next())

    def _new_entry(
        self,
        table: _List,
        name: str,
        parent: ListEntry | None,
        list_id: str | None,
        *,
        active: bool = True,
        item_kind: ItemKind | None = None,
        account_type: str | None = None,
    ) -> ListEntry:
        entry = ListEntry(
            list_id or self._new_list_id(),
            name,
            parent,
            active=active,
            item_kind=item_kind,
            account_type=account_type,
            time_created=self._now(),
        )
        self._touch(entry)
        return table.add(entry)

    def _parent(
        self, table: _List, names: list[str], item_kind: ItemKind | None
    ) -> ListEntry | None:
        """The parent of a new or renamed entry; missing ancestors are created, of the same type.

        QuickBooks only nests an item under an item of its own type.
        """
        parent: ListEntry | None = None
        for depth in range(1, len(names)):
            full = ":".join(names[:depth])
            found = table.get(full)
            if found is None:
                found = self._new_entry(
                    table,
                    names[depth - 1],
                    parent,
                    None,
                    item_kind=item_kind,
                    # A parent account made up for a test: Expense, the common case.
                    account_type="Expense" if table is self._accounts else None,
                )
            elif item_kind is not None and found.item_kind != item_kind:
                raise SimulatorError(
                    f"{full!r} is an {found.item_kind} item; QuickBooks nests an item only under "
                    "an item of its own type"
                )
            parent = found
        return parent

    def add_item(
        self,
        full_name: str,
        list_id: str | None = None,
        *,
        assembly: bool = False,
        active: bool = True,
    ) -> ListEntry:
        """An inventory part (or an inventory assembly); "Parent:Child" creates missing parents."""
        names = _split_name(full_name, hierarchical=True)
        kind: ItemKind = "assembly" if assembly else "inventory"
        if self._items.get(full_name) is not None:
            raise SimulatorError(f"Item {full_name!r} is already in the list")
        parent = self._parent(self._items, names, kind)
        return self._new_entry(
            self._items, names[-1], parent, list_id, item_kind=kind, active=active
        )

    def add_site(
        self, full_name: str, list_id: str | None = None, *, active: bool = True
    ) -> ListEntry:
        _split_name(full_name, hierarchical=False)
        return self._new_entry(self._sites, full_name, None, list_id, active=active)

    def add_account(
        self,
        full_name: str,
        account_type: str = "Expense",
        *,
        list_id: str | None = None,
        active: bool = True,
    ) -> ListEntry:
        if account_type not in ACCOUNT_TYPES:
            raise SimulatorError(f"{account_type!r} is not a QuickBooks AccountType")
        names = _split_name(full_name, hierarchical=True)
        if self._accounts.get(full_name) is not None:
            raise SimulatorError(f"Account {full_name!r} is already in the list")
        parent = self._parent(self._accounts, names, None)
        return self._new_entry(
            self._accounts, names[-1], parent, list_id, account_type=account_type, active=active
        )

    def _rename(self, table: _List, old: str, new_full_name: str) -> ListEntry:
        entry = table.require(old)
        names = _split_name(new_full_name, table.hierarchical)
        other = table.get(new_full_name)
        if other is not None and other is not entry:
            raise SimulatorError(f"{table.object_name} {new_full_name!r} is already in the list")
        if new_full_name.casefold().startswith(entry.full_name.casefold() + ":"):
            raise SimulatorError(f"{new_full_name!r} would put {old!r} under itself")
        parent = self._parent(table, names, entry.item_kind) if table.hierarchical else None
        entry.name, entry.parent = names[-1], parent
        self._touch(entry)
        table.reindex()
        return entry

    def rename_item(self, old: str, new_full_name: str) -> ListEntry:
        """Renames or moves an item (name or ListID); its ListID stays, as in QuickBooks."""
        return self._rename(self._items, old, new_full_name)

    def rename_site(self, old: str, new_name: str) -> ListEntry:
        return self._rename(self._sites, old, new_name)

    def rename_account(self, old: str, new_full_name: str) -> ListEntry:
        return self._rename(self._accounts, old, new_full_name)

    def _set_active(self, table: _List, key: str, active: bool) -> ListEntry:
        entry = table.require(key)
        # Making a parent inactive makes its sub-entries inactive too (QuickBooks asks, then does).
        changed = [entry, *table.descendants(entry)] if not active else [entry]
        for each in changed:
            if each.active != active:
                each.active = active
                self._touch(each)
        return entry

    def set_item_active(self, item: str, active: bool) -> ListEntry:
        return self._set_active(self._items, item, active)

    def set_site_active(self, site: str, active: bool) -> ListEntry:
        return self._set_active(self._sites, site, active)

    def set_account_active(self, account: str, active: bool) -> ListEntry:
        return self._set_active(self._accounts, account, active)

    def item(self, key: str) -> ListEntry:
        """The item with this name or ListID, as QuickBooks has it now."""
        return self._items.require(key)

    def site(self, key: str) -> ListEntry:
        return self._sites.require(key)

    def account(self, key: str) -> ListEntry:
        return self._accounts.require(key)

    # -- inspection ---------------------------------------------------------------

    def _key(self, item: str, site: str | None) -> tuple[str, str | None]:
        found = self._items.require(item)
        if site is None:
            return found.list_id, None
        return found.list_id, self._sites.require(site).list_id

    def qoh(self, item: str, site: str | None = None) -> Decimal:
        """Quantity on hand of `item` (name or ListID) at `site` (None: no site named)."""
        return self._qoh.get(self._key(item, site), Decimal(0))

    def total_qoh(self, item: str) -> Decimal:
        """What ItemInventoryRet/QuantityOnHand says: the item's stock over every site."""
        return self._totals()[self._items.require(item).list_id]

    def set_qoh(self, item: str, quantity: Decimal | int | str, site: str | None = None) -> None:
        """Opening stock, as if entered in QuickBooks before the bridge ran (no transaction)."""
        item_entry = self._items.require(item)
        site_entry = None if site is None else self._sites.require(site)
        self._qoh[self._stock(item_entry, site_entry)] = Decimal(str(quantity))

    def _stock(self, item: ListEntry, site: ListEntry | None) -> tuple[str, str | None]:
        """The QOH key of (item, site), its ItemSites record created with the first quantity."""
        key = (item.list_id, site.list_id if site is not None else None)
        if key not in self._item_sites:
            now = self._now()
            self._item_sites[key] = ItemSite(
                self._new_list_id(), item, site, now, now, str(1600000000 + self._next())
            )
        return key

    def _move(self, item: ListEntry, site: ListEntry | None, delta: Decimal) -> None:
        """A transaction moves stock: QuantityOnHand changes, the record is not stamped."""
        self._qoh[self._stock(item, site)] += delta

    def item_sites(self) -> list[tuple[ItemSite, Decimal]]:
        """Every ItemSites record with its quantity on hand, in creation order."""
        return [(record, self._qoh[key]) for key, record in self._item_sites.items()]

    def qoh_table(self) -> dict[tuple[str, str | None], Decimal]:
        """Non-zero QOH by (item name, site name or None), to compare with Convex balances."""
        table: dict[tuple[str, str | None], Decimal] = {}
        for (item_id, site_id), quantity in self._qoh.items():
            if quantity != 0:
                site_name = self._sites.by_id[site_id].full_name if site_id else None
                table[(self._items.by_id[item_id].full_name, site_name)] = quantity
        return table

    def find_by_ref(self, ref_number: str) -> list[SimTransaction]:
        return [txn for txn in self.transactions if txn.ref_number == ref_number]

    def count_by_ref(self, ref_number: str) -> int:
        """How many transactions carry this RefNumber: exactly-once means 1."""
        return len(self.find_by_ref(ref_number))

    def enter_adjustment_by_hand(
        self,
        ref_number: str,
        account: str,
        lines: Iterable[tuple[str, Decimal | int]],
        site: str | None = None,
        txn_date: date | None = None,
    ) -> SimTransaction:
        """Someone types an inventory adjustment into QuickBooks (no ExternalGUID)."""
        account_entry = self._accounts.get(account)
        site_entry = None if site is None else self._sites.get(site)
        if account_entry is None or (site is not None and site_entry is None):
            raise SimulatorError(
                f"no account {account!r} or site {site!r} in the simulated company"
            )
        if site_entry is not None and not self.advanced_inventory:
            raise SimulatorError("QuickBooks without multi-location inventory has no sites")
        moves = []
        for item, quantity in lines:
            entry = self._items.get(item)
            if entry is None:
                raise SimulatorError(f"no item {item!r} in the simulated company")
            moves.append((entry, Decimal(quantity)))
        for entry, quantity in moves:
            self._move(entry, site_entry, quantity)
        txn_id, number, created = self._txn_fields()
        txn = SimTransaction(
            txn_id=txn_id,
            txn_number=number,
            kind="InventoryAdjustment",
            ref_number=ref_number,
            txn_date=txn_date or self.clock().astimezone().date(),
            memo="entered by hand",
            lines=tuple(SimLine(self._line_id(), entry, quantity) for entry, quantity in moves),
            time_created=created,
            account=account_entry,
            site=site_entry,
        )
        self.transactions.append(txn)
        return txn

    def adjust_qoh_by_hand(
        self,
        item: str,
        delta: Decimal | int | str,
        site: str | None = None,
        *,
        account: str | None = None,
        ref_number: str | None = None,
        txn_date: date | None = None,
    ) -> SimTransaction:
        """Someone changes QOH in QuickBooks directly (Adjust Quantity on Hand).

        Posted as the InventoryAdjustment QuickBooks saves for it, so the books
        (ItemSites, ItemInventory QuantityOnHand) and the transaction list agree:
        no ExternalGUID, and a RefNumber of QuickBooks' users ("HAND-0001", ...),
        never one of the bridge's (AD-/TR-), so no lookup takes it for an event's.
        `account`: the adjustment account (default: the company's first active
        account).
        """
        if ref_number is None:
            self._hand_refs += 1
            ref_number = f"HAND-{self._hand_refs:04d}"
        if ref_number.upper().startswith(BRIDGE_REF_PREFIXES):
            raise SimulatorError(
                f"RefNumber {ref_number!r} is one of the bridge's; use enter_adjustment_by_hand "
                "for a hand entry that collides with an event"
            )
        if account is None:
            active = [entry for entry in self._accounts.by_id.values() if entry.active]
            if not active:
                raise SimulatorError("the simulated company has no active account to adjust with")
            account = active[0].list_id
        return self.enter_adjustment_by_hand(
            ref_number, account, [(item, Decimal(str(delta)))], site=site, txn_date=txn_date
        )

    # -- faults ---------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        message: str,
        *,
        ref_number: str | None = None,
        request_kind: str | None = None,
        times: int = 1,
        severity: str = "Error",
    ) -> None:
        """The next `times` requests matching ref/kind answer `code`, nothing saved.

        `request_kind` is e.g. "InventoryAdjustmentAdd"; None matches any kind,
        and `ref_number` None matches any request.
        """
        self._faults.append(StatusFault(code, message, severity, ref_number, request_kind, times))

    def lock_next(self, ref_number: str | None = None, *, times: int = 1) -> None:
        """3175: a QuickBooks user has a record this request needs open."""
        self.fail_next(LOCKED_CODE, LOCKED_MESSAGE, ref_number=ref_number, times=times)

    def lose_next_response(self, times: int = 1) -> None:
        """The next `times` messages are executed and saved, then the answer is lost."""
        self._lost_responses += times

    def reject_next_message(
        self,
        hresult: str = PARSE_ERROR_HRESULT,
        message: str = PARSE_ERROR_MESSAGE,
        *,
        times: int = 1,
    ) -> None:
        """The next `times` messages fail whole (an HRESULT, nothing executed)."""
        self._rejections.extend([(hresult, message)] * times)

    def stop(self) -> None:
        """QuickBooks is not running / cannot be started."""
        self.running = False

    def start(self) -> None:
        self.running = True

    # -- what QBWC calls ----------------------------------------------------------------

    def open_company(self) -> None:
        """QBWC opens the company file: a new QuickBooks session, so no iterator survives."""
        self._require_running()
        self._iterators.clear()

    def _require_running(self) -> None:
        if not self.running:
            raise QuickBooksUnavailable(NOT_RUNNING_HRESULT, NOT_RUNNING_MESSAGE)

    def hcp_response(self) -> str:
        """What QBWC passes as strHCPResponse: its Host, Company and Preferences queries' answers.

        QBWC runs them itself after opening the company file; they are not
        part of `messages` / `responses`.
        """
        self._require_running()
        answers = etree.Element("QBXMLMsgsRs")
        for request_id, kind in enumerate(("HostQuery", "CompanyQuery", "PreferencesQuery")):
            request = etree.Element(f"{kind}Rq", requestID=str(request_id))
            # Injected faults are for the bridge's messages, not for QBWC's own questions.
            answers.append(self._execute(request, MAX_VERSION, faults=False))
        return self._write(answers)

    def process(self, request_xml: str) -> str:
        self.messages.append(request_xml)
        self._require_running()
        if self._rejections:
            raise RequestRejected(*self._rejections.pop(0))
        messages, version = self._read(request_xml)
        on_error = messages.get("onError")
        if on_error not in ("continueOnError", "stopOnError"):
            raise SimulatorError(f"onError={on_error!r} is not simulated")
        answers = etree.Element("QBXMLMsgsRs")
        for request in _elements(messages):
            answer = self._execute(request, version)
            answers.append(answer)
            if on_error == "stopOnError" and answer.get("statusSeverity") == "Error":
                break
        response = self._write(answers)
        if self._lost_responses:
            self._lost_responses -= 1
            raise ResponseLost("QuickBooks saved the message, but its answer never arrived")
        self.responses.append(response)
        return response

    # -- reading and writing messages ------------------------------------------------------

    def _reject(self) -> RequestRejected:
        return RequestRejected(PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE)

    def _read(self, request_xml: str) -> tuple[etree._Element, tuple[int, int]]:
        if any(ord(char) > 0xFF for char in request_xml):
            raise self._reject()  # QuickBooks only takes ISO-8859-1 text
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        try:
            root = etree.fromstring(request_xml.encode("utf-8"), parser)
        except etree.XMLSyntaxError as error:
            raise self._reject() from error
        if not self.schema.validate(root):
            raise self._reject()
        version = self._version(root)
        if version is None or version > MAX_VERSION:
            raise self._reject()
        messages = root.find("QBXMLMsgsRq")
        if messages is None:
            raise SimulatorError("only QBXMLMsgsRq messages are simulated")
        for element in messages.iter():
            # What the 13.0 schema allows but this message's version does not have yet.
            if (element.tag in _MULTI_LOCATION_TAGS and version < MIN_MULTI_LOCATION_VERSION) or (
                element.get("iterator") is not None and version < MIN_ITERATOR_VERSION
            ):
                raise self._reject()
        return messages, version

    @staticmethod
    def _version(root: etree._Element) -> tuple[int, int] | None:
        for node in root.itersiblings(preceding=True):
            if isinstance(node, etree._ProcessingInstruction) and node.target == "qbxml":
                match = re.search(r'version\s*=\s*"(\d+)\.(\d+)"', node.text or "")
                if match:
                    return int(match.group(1)), int(match.group(2))
        return None

    def _write(self, answers: etree._Element) -> str:
        root = etree.Element("QBXML")
        root.append(answers)
        errors = None if self.schema.validate(root) else self.schema.error_log
        if errors is not None:
            raise SimulatorError(f"simulator built an invalid response: {errors}")
        return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode")

    # -- executing one request ---------------------------------------------------------------

    def _execute(
        self, request: etree._Element, version: tuple[int, int], *, faults: bool = True
    ) -> etree._Element:
        tag = str(request.tag)
        kind = tag.removesuffix("Rq")
        handlers: dict[str, Callable[[etree._Element], list[SimTransaction]]] = {
            "InventoryAdjustmentAdd": self._adjustment_add,
            "TransferInventoryAdd": self._transfer_add,
            "InventoryAdjustmentQuery": lambda rq: self._query(rq, "InventoryAdjustment"),
            "TransferInventoryQuery": lambda rq: self._query(rq, "TransferInventory"),
        }
        reads: dict[str, Callable[[etree._Element, str | None], etree._Element]] = {
            "HostQuery": self._host_query,
            "CompanyQuery": self._company_query,
            "PreferencesQuery": lambda rq, rid: self._preferences_query(rq, rid, version),
            "ItemInventoryQuery": self._item_query,
            "ItemInventoryAssemblyQuery": self._item_query,
            "InventorySiteQuery": self._site_query,
            "AccountQuery": self._account_query,
            "ItemSitesQuery": self._item_sites_query,
        }
        handler = handlers.get(kind)
        read = reads.get(kind)
        if handler is None and read is None:
            raise SimulatorError(f"{tag} is not simulated")
        request_id = request.get("requestID")
        fault = self._take_fault(kind, self._request_ref(request)) if faults else None
        if fault is not None:
            return self._status(kind, request_id, fault.code, fault.severity, fault.message)
        try:
            if read is not None:
                return read(request, request_id)
            assert handler is not None
            found = handler(request)
        except _Status as status:
            return self._status(kind, request_id, status.code, "Error", status.message)
        if kind.endswith("Query") and not found:
            return self._status(kind, request_id, 1, "Info", NO_MATCH_MESSAGE)
        answer = self._status(kind, request_id, 0, "Info", "Status OK")
        include_lines = not kind.endswith("Query") or request.findtext("IncludeLineItems") == "true"
        for txn in found:
            answer.append(self._ret(txn, include_lines))
        return answer

    @staticmethod
    def _request_ref(request: etree._Element) -> str | None:
        for path in (
            "*/RefNumber",
            "RefNumber",
            "RefNumberCaseSensitive",
            "RefNumberFilter/RefNumber",
        ):
            ref = request.findtext(path)
            if ref is not None:
                return ref
        return None

    def _take_fault(self, kind: str, ref_number: str | None) -> StatusFault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(kind, ref_number):
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _status(
        kind: str, request_id: str | None, code: int, severity: str, message: str
    ) -> etree._Element:
        answer = etree.Element(f"{kind}Rs")
        if request_id is not None:
            answer.set("requestID", request_id)
        answer.set("statusCode", str(code))
        answer.set("statusSeverity", severity)
        answer.set("statusMessage", message)
        return answer

    def _resolve(self, table: _List, ref: etree._Element | None, context: str) -> ListEntry:
        if ref is None:
            raise SimulatorError(f"a {table.object_name} reference is missing in the {context}")
        key = ref.findtext("ListID") or ref.findtext("FullName") or ""
        entry = table.get(key)
        if entry is None:
            raise _Status(
                3140,
                f'There is an invalid reference to QuickBooks {table.object_name} "{key}" in the '
                f"{context}.  QuickBooks error message: Invalid argument.  The specified record "
                "does not exist in the list.",
            )
        if not entry.active:
            raise SimulatorError(
                f"{table.object_name} {entry.full_name!r} is inactive: what QuickBooks answers a "
                "transaction naming it is not modelled, and the bridge must never send one"
            )
        return entry

    def _require_advanced_inventory(self) -> None:
        if not self.advanced_inventory:
            raise _Status(FEATURE_OFF_CODE, FEATURE_OFF_MESSAGE)

    def _txn_fields(self) -> tuple[str, int, str]:
        n = self._next()
        created = self.clock().astimezone().replace(microsecond=0).isoformat()
        return f"{n:X}-{1700000000 + n}", n, created

    def _line_id(self) -> str:
        n = self._next()
        return f"{n:X}-{1700000000 + n}"

    def _adjustment_add(self, request: etree._Element) -> list[SimTransaction]:
        add = request.find("InventoryAdjustmentAdd")
        if add is None:
            raise SimulatorError("InventoryAdjustmentAddRq without InventoryAdjustmentAdd")
        context = "Inventory Adjustment"
        account = self._resolve(self._accounts, add.find("AccountRef"), context)
        site_ref = add.find("InventorySiteRef")
        site = None
        if site_ref is not None:
            self._require_advanced_inventory()
            site = self._resolve(self._sites, site_ref, context)
        site_id = site.list_id if site else None
        deltas: list[tuple[ListEntry, Decimal]] = []
        for line in add.findall("InventoryAdjustmentLineAdd"):
            item = self._resolve(self._items, line.find("ItemRef"), f"{context} line")
            quantity = line.find("QuantityAdjustment")
            if quantity is None or len(_elements(quantity)) != 1:
                raise SimulatorError("only plain QuantityAdjustment lines are simulated")
            difference = quantity.findtext("QuantityDifference")
            if difference is not None:
                delta = Decimal(difference)
            else:
                delta = (
                    Decimal(quantity.findtext("NewQuantity") or "0")
                    - self._qoh[(item.list_id, site_id)]
                )
            deltas.append((item, delta))
        # Every reference resolved: QuickBooks saves the whole transaction or nothing.
        for item, delta in deltas:
            self._move(item, site, delta)
        txn_id, number, created = self._txn_fields()
        txn = SimTransaction(
            txn_id=txn_id,
            txn_number=number,
            kind="InventoryAdjustment",
            ref_number=add.findtext("RefNumber"),
            txn_date=self._txn_date(add),
            memo=add.findtext("Memo"),
            lines=tuple(SimLine(self._line_id(), item, delta) for item, delta in deltas),
            time_created=created,
            account=account,
            site=site,
            external_guid=add.findtext("ExternalGUID"),
        )
        self.transactions.append(txn)
        return [txn]

    def _transfer_add(self, request: etree._Element) -> list[SimTransaction]:
        self._require_advanced_inventory()
        add = request.find("TransferInventoryAdd")
        if add is None:
            raise SimulatorError("TransferInventoryAddRq without TransferInventoryAdd")
        context = "Transfer Inventory"
        from_site = self._resolve(self._sites, add.find("FromInventorySiteRef"), context)
        to_site = self._resolve(self._sites, add.find("ToInventorySiteRef"), context)
        moves: list[tuple[ListEntry, Decimal]] = []
        for line in add.findall("TransferInventoryLineAdd"):
            item = self._resolve(self._items, line.find("ItemRef"), f"{context} line")
            moves.append((item, Decimal(line.findtext("QuantityToTransfer") or "0")))
        for item, quantity in moves:
            self._move(item, from_site, -quantity)
            self._move(item, to_site, quantity)
        txn_id, number, created = self._txn_fields()
        txn = SimTransaction(
            txn_id=txn_id,
            txn_number=number,
            kind="TransferInventory",
            ref_number=add.findtext("RefNumber"),
            txn_date=self._txn_date(add),
            memo=add.findtext("Memo"),
            lines=tuple(SimLine(self._line_id(), item, quantity) for item, quantity in moves),
            time_created=created,
            from_site=from_site,
            to_site=to_site,
            external_guid=add.findtext("ExternalGUID"),
        )
        self.transactions.append(txn)
        return [txn]

    def _txn_date(self, add: etree._Element) -> date:
        text = add.findtext("TxnDate")
        return date.fromisoformat(text) if text else self.clock().astimezone().date()

    def _query(self, request: etree._Element, kind: TxnKind) -> list[SimTransaction]:
        if kind == "TransferInventory":
            self._require_advanced_inventory()
        # Repeated TxnID / RefNumber elements are alternatives (any); filters all apply.
        groups: defaultdict[str, list[Callable[[SimTransaction], bool]]] = defaultdict(list)
        limit: int | None = None
        for child in _elements(request):
            tag, text = str(child.tag), (child.text or "")
            if tag == "TxnID":
                groups[tag].append(lambda txn, wanted=text: txn.txn_id == wanted)
            elif tag == "RefNumber":
                groups[tag].append(
                    lambda txn, wanted=text: (txn.ref_number or "").casefold() == wanted.casefold()
                )
            elif tag == "RefNumberCaseSensitive":
                groups[tag].append(lambda txn, wanted=text: txn.ref_number == wanted)
            elif tag == "MaxReturned":
                limit = int(text)
            elif tag == "TxnDateRangeFilter":
                groups[tag].append(self._date_test(child))
            elif tag == "RefNumberFilter":
                groups[tag].append(self._ref_filter_test(child))
            elif tag not in ("IncludeLineItems", "IncludeRetElement", "OwnerID"):
                raise SimulatorError(f"query element {tag} is not simulated")
        found = [
            txn
            for txn in self.transactions
            if txn.kind == kind
            and all(any(test(txn) for test in group) for group in groups.values())
        ]
        return found[:limit] if limit is not None else found

    @staticmethod
    def _date_test(window: etree._Element) -> Callable[[SimTransaction], bool]:
        if window.find("DateMacro") is not None:
            raise SimulatorError("DateMacro is not simulated")
        low, high = window.findtext("FromTxnDate"), window.findtext("ToTxnDate")
        start = date.fromisoformat(low) if low else date.min
        end = date.fromisoformat(high) if high else date.max
        return lambda txn: start <= txn.txn_date <= end

    @staticmethod
    def _ref_filter_test(ref_filter: etree._Element) -> Callable[[SimTransaction], bool]:
        criterion = ref_filter.findtext("MatchCriterion")
        wanted = (ref_filter.findtext("RefNumber") or "").casefold()
        compare: dict[str | None, Callable[[str], bool]] = {
            "StartsWith": lambda ref: ref.startswith(wanted),
            "Contains": lambda ref: wanted in ref,
            "EndsWith": lambda ref: ref.endswith(wanted),
        }
        match = compare[criterion]
        return lambda txn: match((txn.ref_number or "").casefold())

    # -- Ret elements ------------------------------------------------------------------------

    @staticmethod
    def _ref(parent: etree._Element, tag: str, entry: ListEntry) -> None:
        ref = _sub(parent, tag)
        _sub(ref, "ListID", entry.list_id)
        _sub(ref, "FullName", entry.full_name)

    def _ret(self, txn: SimTransaction, include_lines: bool) -> etree._Element:
        ret = etree.Element(f"{txn.kind}Ret")
        _sub(ret, "TxnID", txn.txn_id)
        _sub(ret, "TimeCreated", txn.time_created)
        _sub(ret, "TimeModified", txn.time_created)
        _sub(ret, "EditSequence", str(1700000000 + txn.txn_number))
        _sub(ret, "TxnNumber", str(txn.txn_number))
        if txn.kind == "InventoryAdjustment":
            if txn.account is None:
                raise SimulatorError("an adjustment without an account was saved")
            self._ref(ret, "AccountRef", txn.account)
            if txn.site is not None:
                self._ref(ret, "InventorySiteRef", txn.site)
        _sub(ret, "TxnDate", txn.txn_date.isoformat())
        if txn.ref_number is not None:
            _sub(ret, "RefNumber", txn.ref_number)
        if txn.kind == "TransferInventory":
            if txn.from_site is None or txn.to_site is None:
                raise SimulatorError("a transfer without both sites was saved")
            self._ref(ret, "FromInventorySiteRef", txn.from_site)
            self._ref(ret, "ToInventorySiteRef", txn.to_site)
        if txn.memo is not None:
            _sub(ret, "Memo", txn.memo)
        if txn.external_guid is not None:
            _sub(ret, "ExternalGUID", txn.external_guid)
        if include_lines:
            for line in txn.lines:
                self._line_ret(ret, txn.kind, line)
        return ret

    def _line_ret(self, ret: etree._Element, kind: TxnKind, line: SimLine) -> None:
        line_ret = _sub(ret, f"{kind}LineRet")
        _sub(line_ret, "TxnLineID", line.txn_line_id)
        self._ref(line_ret, "ItemRef", line.item)
        if kind == "InventoryAdjustment":
            _sub(line_ret, "QuantityDifference", _q(line.quantity))
            _sub(line_ret, "ValueDifference", "0.00")
        else:
            _sub(line_ret, "QuantityTransferred", _q(line.quantity))

    # -- reads: what QuickBooks is and has --------------------------------------------------

    def _ok(self, kind: str, request_id: str | None, rets: list[etree._Element]) -> etree._Element:
        if not rets:
            return self._status(kind, request_id, 1, "Info", NO_MATCH_MESSAGE)
        answer = self._status(kind, request_id, 0, "Info", "Status OK")
        answer.extend(rets)
        return answer

    @staticmethod
    def _only_included(ret: etree._Element, request: etree._Element) -> etree._Element:
        """IncludeRetElement: QuickBooks returns only the named fields of each Ret."""
        wanted = {(child.text or "").strip() for child in request.iterchildren("IncludeRetElement")}
        if wanted:
            for child in _elements(ret):
                if child.tag not in wanted:
                    ret.remove(child)
        return ret

    def _host_query(self, request: etree._Element, request_id: str | None) -> etree._Element:
        self._only_known(request, set())
        ret = etree.Element("HostRet")
        _sub(ret, "ProductName", self.product_name)
        _sub(ret, "MajorVersion", str(self.major_version))
        _sub(ret, "MinorVersion", str(self.minor_version))
        _sub(ret, "Country", self.country)
        for version in self.supported_versions:
            _sub(ret, "SupportedQBXMLVersion", version)
        _sub(ret, "IsAutomaticLogin", "false")
        _sub(ret, "QBFileMode", self.file_mode)
        return self._ok("HostQuery", request_id, [self._only_included(ret, request)])

    def _company_query(self, request: etree._Element, request_id: str | None) -> etree._Element:
        self._only_known(request, {"OwnerID"})
        ret = etree.Element("CompanyRet")
        _sub(ret, "IsSampleCompany", "false")
        _sub(ret, "CompanyName", self.company_name)
        _sub(ret, "LegalCompanyName", self.company_name)
        _sub(ret, "FirstMonthFiscalYear", "January")
        _sub(ret, "FirstMonthIncomeTaxYear", "January")
        return self._ok("CompanyQuery", request_id, [self._only_included(ret, request)])

    def _preferences_query(
        self, request: etree._Element, request_id: str | None, version: tuple[int, int]
    ) -> etree._Element:
        """A whole PreferencesRet as QuickBooks (sales tax and time tracking off) writes it."""
        self._only_known(request, set())
        ret = etree.Element("PreferencesRet")
        accounting = _sub(ret, "AccountingPreferences")
        for tag, value in (
            ("IsUsingAccountNumbers", False),
            ("IsRequiringAccounts", True),
            ("IsUsingClassTracking", False),
            ("IsUsingAuditTrail", True),
            ("IsAssigningJournalEntryNumbers", True),
        ):
            _sub(accounting, tag, _bool(value))
        finance = _sub(ret, "FinanceChargePreferences")
        _sub(finance, "AnnualInterestRate", "0.0")
        _sub(finance, "MinFinanceCharge", "0.00")
        _sub(finance, "GracePeriod", "0")
        _sub(finance, "IsAssessingForOverdueCharges", "false")
        _sub(finance, "CalculateChargesFrom", "DueDate")
        _sub(finance, "IsMarkedToBePrinted", "false")
        jobs = _sub(ret, "JobsAndEstimatesPreferences")
        _sub(jobs, "IsUsingEstimates", "true")
        _sub(jobs, "IsUsingProgressInvoicing", "false")
        _sub(jobs, "IsPrintingItemsWithZeroAmounts", "false")
        currency = _sub(ret, "MultiCurrencyPreferences")
        _sub(currency, "IsMultiCurrencyOn", "false")
        if version >= MIN_MULTI_LOCATION_VERSION:
            # The aggregate exists from qbXML 10.0 on; older requests do not get it.
            locations = _sub(ret, "MultiLocationInventoryPreferences")
            _sub(
                locations,
                "IsMultiLocationInventoryAvailable",
                _bool(self.advanced_inventory_available),
            )
            _sub(locations, "IsMultiLocationInventoryEnabled", _bool(self.advanced_inventory))
        purchases = _sub(ret, "PurchasesAndVendorsPreferences")
        _sub(purchases, "IsUsingInventory", "true")
        _sub(purchases, "DaysBillsAreDue", "10")
        _sub(purchases, "IsAutomaticallyUsingDiscounts", "false")
        reports = _sub(ret, "ReportsPreferences")
        _sub(reports, "AgingReportBasis", "AgeFromDueDate")
        _sub(reports, "SummaryReportBasis", "Accrual")
        sales = _sub(ret, "SalesAndCustomersPreferences")
        _sub(sales, "IsTrackingReimbursedExpensesAsIncome", "false")
        _sub(sales, "IsAutoApplyingPayments", "true")
        rights = _sub(ret, "CurrentAppAccessRights")
        _sub(rights, "IsAutomaticLoginAllowed", "true")
        _sub(rights, "AutomaticLoginUserName", "Admin")
        _sub(rights, "IsPersonalDataAccessAllowed", "false")
        return self._ok("PreferencesQuery", request_id, [self._only_included(ret, request)])

    @staticmethod
    def _only_known(
        request: etree._Element, ignored: set[str], filters: Iterable[str] = ()
    ) -> None:
        """Filters the simulator does not model fail the test instead of being ignored."""
        known = {"IncludeRetElement", *ignored, *filters}
        for child in _elements(request):
            if child.tag not in known:
                raise SimulatorError(f"{request.tag}/{child.tag} is not simulated")

    @staticmethod
    def _wants(request: etree._Element, entry: ListEntry | ItemSite) -> bool:
        """ActiveStatus, ActiveOnly when absent (the schema's default, QuickBooks' too)."""
        status = request.findtext("ActiveStatus") or "ActiveOnly"
        return status == "All" or entry.active == (status == "ActiveOnly")

    @staticmethod
    def _max_returned(request: etree._Element) -> int | None:
        text = request.findtext("MaxReturned")
        return int(text) if text is not None else None

    def _item_query(self, request: etree._Element, request_id: str | None) -> etree._Element:
        kind = str(request.tag).removesuffix("Rq")
        # OwnerID asks for custom fields; this company has none, so it changes nothing.
        self._only_known(request, {"OwnerID"}, ("MaxReturned", "ActiveStatus"))
        item_kind = _ITEM_QUERIES[kind]

        def matches() -> list[ListEntry]:
            return [
                entry
                for entry in self._items.by_id.values()
                if entry.item_kind == item_kind and self._wants(request, entry)
            ]

        return self._paged(kind, request, request_id, matches, self._item_rets)

    def _paged(
        self,
        kind: str,
        request: etree._Element,
        request_id: str | None,
        matches: Callable[[], Sequence[_T]],
        rets: Callable[[Sequence[_T], etree._Element], list[etree._Element]],
    ) -> etree._Element:
        """A query that QuickBooks answers whole (no iterator) or a page at a time."""
        iterator = request.get("iterator")
        page_size = self._max_returned(request)
        if iterator is None:
            return self._ok(kind, request_id, rets(matches()[:page_size], request))
        if iterator == "Start":
            if page_size is None:
                raise SimulatorError("an iterator without MaxReturned is not simulated")
            found = matches()
            if not found:
                return self._status(kind, request_id, 1, "Info", NO_MATCH_MESSAGE)
            opened = _Iterator(
                "{" + str(uuid.uuid4()).upper() + "}",
                kind,
                len(found),
                lambda begin, end, rq: rets(found[begin:end], rq),
            )
            self._iterators[opened.iterator_id] = opened
            return self._page(opened, page_size, request, request_id)
        iterator_id = request.get("iteratorID") or ""
        current = self._iterators.get(iterator_id)
        if current is None or current.kind != kind:
            return self._status(
                kind,
                request_id,
                INVALID_ITERATOR_CODE,
                "Error",
                f'The iteratorID "{iterator_id}" is not valid.',
            )
        if iterator == "Stop":
            del self._iterators[iterator_id]
            return self._status(kind, request_id, 0, "Info", "Status OK")
        if page_size is None:
            # Intuit: every Continue repeats the Start request's criteria, MaxReturned included.
            raise SimulatorError("a Continue without MaxReturned is not simulated")
        return self._page(current, page_size, request, request_id)

    def _page(
        self, iterator: _Iterator, size: int, request: etree._Element, request_id: str | None
    ) -> etree._Element:
        """The iterator's next page; the iterator is gone once nothing remains."""
        begin = iterator.position
        iterator.position = min(iterator.count, begin + size)
        remaining = iterator.count - iterator.position
        if remaining == 0:
            del self._iterators[iterator.iterator_id]
        answer = self._status(iterator.kind, request_id, 0, "Info", "Status OK")
        answer.set("iteratorRemainingCount", str(remaining))
        answer.set("iteratorID", iterator.iterator_id)
        answer.extend(iterator.rets(begin, iterator.position, request))
        return answer

    def _totals(self) -> defaultdict[str, Decimal]:
        """Quantity on hand per item over every site (one pass, not one per item)."""
        totals: defaultdict[str, Decimal] = defaultdict(Decimal)
        for (item_id, _), quantity in self._qoh.items():
            totals[item_id] += quantity
        return totals

    def _list_core(self, ret: etree._Element, entry: ListEntry | ItemSite) -> None:
        _sub(ret, "ListID", entry.list_id)
        _sub(ret, "TimeCreated", entry.time_created)
        _sub(ret, "TimeModified", entry.time_modified)
        _sub(ret, "EditSequence", entry.edit_sequence)

    def _item_rets(
        self, entries: Sequence[ListEntry], request: etree._Element
    ) -> list[etree._Element]:
        totals = self._totals()
        rets = []
        for entry in entries:
            tag = (
                "ItemInventoryRet" if entry.item_kind == "inventory" else "ItemInventoryAssemblyRet"
            )
            ret = etree.Element(tag)
            self._list_core(ret, entry)
            _sub(ret, "Name", entry.name)
            _sub(ret, "FullName", entry.full_name)
            _sub(ret, "IsActive", _bool(entry.active))
            if entry.parent is not None:
                self._ref(ret, "ParentRef", entry.parent)
            _sub(ret, "Sublevel", str(entry.sublevel))
            _sub(ret, "QuantityOnHand", _q(totals[entry.list_id]))
            _sub(ret, "QuantityOnOrder", "0")
            _sub(ret, "QuantityOnSalesOrder", "0")
            rets.append(self._only_included(ret, request))
        return rets

    def _site_query(self, request: etree._Element, request_id: str | None) -> etree._Element:
        self._only_known(request, set(), ("ActiveStatus",))
        if not self.advanced_inventory:
            return self._status(
                "InventorySiteQuery", request_id, FEATURE_OFF_CODE, "Error", FEATURE_OFF_MESSAGE
            )
        rets = []
        for entry in self._sites.by_id.values():
            if self._wants(request, entry):
                ret = etree.Element("InventorySiteRet")
                self._list_core(ret, entry)
                _sub(ret, "Name", entry.name)
                _sub(ret, "IsActive", _bool(entry.active))
                rets.append(self._only_included(ret, request))
        return self._ok("InventorySiteQuery", request_id, rets)

    def _account_query(self, request: etree._Element, request_id: str | None) -> etree._Element:
        self._only_known(request, {"OwnerID"}, ("MaxReturned", "ActiveStatus"))
        rets = []
        for entry in self._accounts.by_id.values():
            if self._wants(request, entry):
                ret = etree.Element("AccountRet")
                self._list_core(ret, entry)
                _sub(ret, "Name", entry.name)
                _sub(ret, "FullName", entry.full_name)
                _sub(ret, "IsActive", _bool(entry.active))
                if entry.parent is not None:
                    self._ref(ret, "ParentRef", entry.parent)
                _sub(ret, "Sublevel", str(entry.sublevel))
                _sub(ret, "AccountType", entry.account_type or "Expense")
                _sub(ret, "Balance", "0.00")
                _sub(ret, "TotalBalance", "0.00")
                rets.append(self._only_included(ret, request))
        return self._ok("AccountQuery", request_id, rets[: self._max_returned(request)])

    def _item_sites_query(self, request: etree._Element, request_id: str | None) -> etree._Element:
        """Quantity on hand per item and site, one ItemSitesRet per record."""
        kind = "ItemSitesQuery"
        self._only_known(request, set(), ("ItemTypeFilter", "MaxReturned", "ActiveStatus"))
        if not self.advanced_inventory:
            return self._status(kind, request_id, FEATURE_OFF_CODE, "Error", FEATURE_OFF_MESSAGE)
        type_filter = request.findtext("ItemTypeFilter")
        kinds = (
            frozenset({"inventory", "assembly"})
            if type_filter is None
            else _ITEM_TYPES.get(type_filter, frozenset())
        )

        def matches() -> list[ItemSite]:
            return [
                record
                for record in self._item_sites.values()
                if record.item.item_kind in kinds and self._wants(request, record)
            ]

        return self._paged(kind, request, request_id, matches, self._item_site_rets)

    def _item_site_rets(
        self, records: Sequence[ItemSite], request: etree._Element
    ) -> list[etree._Element]:
        """ItemSitesRet as QuickBooks writes it: every field it keeps (no reorder levels set)."""
        rets = []
        for record in records:
            ret = etree.Element("ItemSitesRet")
            self._list_core(ret, record)
            item_tag = (
                "ItemInventoryRef"
                if record.item.item_kind == "inventory"
                else "ItemInventoryAssemblyRef"
            )
            self._ref(ret, item_tag, record.item)
            if record.site is not None:
                self._ref(ret, "InventorySiteRef", record.site)
            quantity = self._qoh[
                (record.item.list_id, record.site.list_id if record.site else None)
            ]
            _sub(ret, "QuantityOnHand", _q(quantity))
            for tag in (
                "QuantityOnPurchaseOrders",
                "QuantityOnSalesOrders",
                "QuantityToBeBuiltByPendingBuildTxns",
                "QuantityRequiredByPendingBuildTxns",
                "QuantityOnPendingTransfers",
            ):
                _sub(ret, tag, "0")
            rets.append(self._only_included(ret, request))
        return rets
