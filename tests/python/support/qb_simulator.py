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
- Every response it builds is validated against the schema too (an invalid
  one raises `SimulatorError`: a bug in the simulator, never "QuickBooks").

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

Inspection: `transactions`, `count_by_ref(ref)`, `find_by_ref(ref)`,
`qoh(item, site)`, `qoh_table()`, `messages` / `responses` (raw text).

The exceptions are the QBWC simulator's, so it can route them the way QBWC
does (ResponseLost: no receiveResponseXML; RequestRejected: hresult+message;
QuickBooksUnavailable: connectionError).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

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
FEATURE_OFF_MESSAGE = "This feature is not enabled or not available in this version of QuickBooks."
MAX_VERSION = (13, 0)

TxnKind = Literal["InventoryAdjustment", "TransferInventory"]


class SimulatorError(AssertionError):
    """The simulator was asked something it does not model, or built an invalid response.

    A test-suite bug, never a QuickBooks behaviour: it fails the test loudly.
    """


class _Status(Exception):
    """An error status QuickBooks answers one request with (nothing saved)."""

    def __init__(self, code: int, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ListEntry:
    list_id: str
    full_name: str


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
    """One QuickBooks list: ListIDs exact, names case-insensitive (as in QuickBooks)."""

    object_name: str
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


def _q(value: Decimal) -> str:
    """QUANTYPE text: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.schema = schema if schema is not None else load_schema()
        self.advanced_inventory = advanced_inventory
        self.running = True
        self.clock = clock
        self.transactions: list[SimTransaction] = []
        self.messages: list[str] = []
        self.responses: list[str] = []
        self._items = _List("Item")
        self._sites = _List("Inventory Site")
        self._accounts = _List("Account")
        self._qoh: defaultdict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
        self._sequence = 0
        self._faults: list[StatusFault] = []
        self._lost_responses = 0
        self._rejections: list[tuple[str, str]] = []
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

    def add_item(self, full_name: str, list_id: str | None = None) -> ListEntry:
        return self._items.add(ListEntry(list_id or self._new_list_id(), full_name))

    def add_site(self, full_name: str, list_id: str | None = None) -> ListEntry:
        return self._sites.add(ListEntry(list_id or self._new_list_id(), full_name))

    def add_account(self, full_name: str, list_id: str | None = None) -> ListEntry:
        return self._accounts.add(ListEntry(list_id or self._new_list_id(), full_name))

    # -- inspection ---------------------------------------------------------------

    def _key(self, item: str, site: str | None) -> tuple[str, str | None]:
        found = self._items.get(item)
        if found is None:
            raise SimulatorError(f"no item {item!r} in the simulated company")
        if site is None:
            return found.list_id, None
        found_site = self._sites.get(site)
        if found_site is None:
            raise SimulatorError(f"no site {site!r} in the simulated company")
        return found.list_id, found_site.list_id

    def qoh(self, item: str, site: str | None = None) -> Decimal:
        """Quantity on hand of `item` (name or ListID) at `site` (None: no site named)."""
        return self._qoh[self._key(item, site)]

    def set_qoh(self, item: str, quantity: Decimal | int | str, site: str | None = None) -> None:
        """Opening stock, as if entered in QuickBooks before the bridge ran."""
        self._qoh[self._key(item, site)] = Decimal(str(quantity))

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
        moves = []
        for item, quantity in lines:
            entry = self._items.get(item)
            if entry is None:
                raise SimulatorError(f"no item {item!r} in the simulated company")
            moves.append((entry, Decimal(quantity)))
        for entry, quantity in moves:
            self._qoh[(entry.list_id, site_entry.list_id if site_entry else None)] += quantity
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
        if not self.running:
            raise QuickBooksUnavailable(NOT_RUNNING_HRESULT, NOT_RUNNING_MESSAGE)

    def process(self, request_xml: str) -> str:
        self.messages.append(request_xml)
        self.open_company()
        if self._rejections:
            raise RequestRejected(*self._rejections.pop(0))
        messages = self._read(request_xml)
        on_error = messages.get("onError")
        if on_error not in ("continueOnError", "stopOnError"):
            raise SimulatorError(f"onError={on_error!r} is not simulated")
        answers = etree.Element("QBXMLMsgsRs")
        for request in _elements(messages):
            answer = self._execute(request)
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

    def _read(self, request_xml: str) -> etree._Element:
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
        return messages

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

    def _execute(self, request: etree._Element) -> etree._Element:
        tag = str(request.tag)
        kind = tag.removesuffix("Rq")
        handlers: dict[str, Callable[[etree._Element], list[SimTransaction]]] = {
            "InventoryAdjustmentAdd": self._adjustment_add,
            "TransferInventoryAdd": self._transfer_add,
            "InventoryAdjustmentQuery": lambda rq: self._query(rq, "InventoryAdjustment"),
            "TransferInventoryQuery": lambda rq: self._query(rq, "TransferInventory"),
        }
        handler = handlers.get(kind)
        if handler is None:
            raise SimulatorError(f"{tag} is not simulated")
        request_id = request.get("requestID")
        fault = self._take_fault(kind, self._request_ref(request))
        if fault is not None:
            return self._status(kind, request_id, fault.code, fault.severity, fault.message)
        try:
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
        return entry

    def _require_advanced_inventory(self) -> None:
        if not self.advanced_inventory:
            raise _Status(3250, FEATURE_OFF_MESSAGE)

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
            self._qoh[(item.list_id, site_id)] += delta
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
            self._qoh[(item.list_id, from_site.list_id)] -= quantity
            self._qoh[(item.list_id, to_site.list_id)] += quantity
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
