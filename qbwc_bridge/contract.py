"""What crosses between the bridge and Convex, as typed objects.

Mirrors `convex/lib/contract.ts`. Every reply from Convex is parsed here,
once, by the gateway; nothing past the gateway sees a raw dict. Parsing is
strict about what the bridge cannot do without and says exactly what drifted
(`ContractError`), so a contract change shows up as one clear error rather
than a KeyError deep in a SOAP call. Outcomes go the other way: each knows
its own `to_payload()`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from qbwc_bridge.qbxml.model import FoundTransaction, QbRef

Mode = Literal["send", "lookup"]
EventType = Literal["transfer", "adjustment"]
RejectReason = Literal["unknown", "closed", "expired"]


class ContractError(ValueError):
    """A Convex reply does not have the shape this bridge was built for."""


# -- reading --------------------------------------------------------------------


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ContractError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ContractError(f"{where} must be a list, got {type(value).__name__}")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContractError(f"{key} must be a string, got {type(value).__name__}")
    return value or None


def _str(data: Mapping[str, Any], key: str) -> str:
    value = _opt_str(data, key)
    if value is None:
        raise ContractError(f"{key} is missing")
    return value


def _num(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ContractError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _int(data: Mapping[str, Any], key: str) -> int:
    value = _num(data, key)
    if not value.is_integer():
        raise ContractError(f"{key} must be a whole number, got {value!r}")
    return int(value)


def _opt_num(data: Mapping[str, Any], key: str) -> float | None:
    return None if data.get(key) is None else _num(data, key)


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise ContractError(f"{key} must be true or false, got {value!r}")
    return value


def _status(data: Mapping[str, Any]) -> str:
    return _str(data, "status")


def _ref(value: Any, where: str) -> QbRef | None:
    """None when the reference is absent or names nothing."""
    if value is None:
        return None
    data = _obj(value, where)
    ref = QbRef(list_id=_opt_str(data, "listId"), full_name=_opt_str(data, "fullName"))
    return ref if ref.list_id or ref.full_name else None


def _ref_payload(ref: QbRef | None) -> dict[str, str | None] | None:
    return None if ref is None else {"listId": ref.list_id, "fullName": ref.full_name}


# -- claimed events -----------------------------------------------------------------


@dataclass(frozen=True)
class EventLine:
    sku: str
    item: QbRef | None
    quantity: float


@dataclass(frozen=True)
class ClaimedEvent:
    """One claimed event, everything the renderer needs (a send or a lookup)."""

    event_id: str
    claim_token: str
    mode: Mode
    type: EventType
    ref_number: str
    external_guid: str
    occurred_at_ms: float
    memo: str | None
    retry_count: int
    lines: tuple[EventLine, ...]
    account: QbRef | None = None
    site: QbRef | None = None
    from_site: QbRef | None = None
    to_site: QbRef | None = None
    location_code: str | None = None
    from_location_code: str | None = None
    to_location_code: str | None = None
    reason_code: str | None = None

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ClaimedEvent:
        mode = payload.get("mode")
        if mode not in ("send", "lookup"):
            raise ContractError(f"mode must be 'send' or 'lookup', got {mode!r}")
        event_type = payload.get("type")
        if event_type not in ("transfer", "adjustment"):
            raise ContractError(f"type must be 'transfer' or 'adjustment', got {event_type!r}")
        lines = []
        for index, raw in enumerate(_list(payload.get("lines", []), "lines")):
            line = _obj(raw, f"lines[{index}]")
            lines.append(
                EventLine(
                    sku=_str(line, "sku"),
                    item=_ref(line.get("item"), f"lines[{index}].item"),
                    quantity=_num(line, "quantity"),
                )
            )
        return cls(
            event_id=_str(payload, "eventId"),
            claim_token=_str(payload, "claimToken"),
            mode=mode,
            type=event_type,
            ref_number=_str(payload, "refNumber"),
            external_guid=_str(payload, "externalGuid"),
            occurred_at_ms=_num(payload, "occurredAt"),
            memo=_opt_str(payload, "memo"),
            retry_count=int(_opt_num(payload, "retryCount") or 0),
            lines=tuple(lines),
            account=_ref(payload.get("account"), "account"),
            site=_ref(payload.get("site"), "site"),
            from_site=_ref(payload.get("fromSite"), "fromSite"),
            to_site=_ref(payload.get("toSite"), "toSite"),
            location_code=_opt_str(payload, "locationCode"),
            from_location_code=_opt_str(payload, "fromLocationCode"),
            to_location_code=_opt_str(payload, "toLocationCode"),
            reason_code=_opt_str(payload, "reasonCode"),
        )


@dataclass(frozen=True)
class Unreadable:
    """A claimed event whose payload this bridge cannot read: it is refused, not guessed at."""

    event_id: str
    claim_token: str
    ref_number: str
    reason: str


def _claimed(payload: Any, index: int) -> ClaimedEvent | Unreadable:
    data = _obj(payload, f"events[{index}]")
    try:
        return ClaimedEvent.from_payload(data)
    except ContractError as error:
        token = data.get("claimToken")
        if not isinstance(token, str):
            raise
        return Unreadable(
            event_id=str(data.get("eventId", "")),
            claim_token=token,
            ref_number=str(data.get("refNumber", "")),
            reason=f"the queue sent an unreadable event ({error}); this is a bug, report it",
        )


# -- outcomes (bridge -> Convex) ---------------------------------------------------------


@dataclass(frozen=True)
class Success:
    txn_id: str
    status_code: str

    def to_payload(self) -> dict[str, Any]:
        return {"kind": "success", "qbTxnId": self.txn_id, "statusCode": self.status_code}


@dataclass(frozen=True)
class Found:
    """A lookup's matches; Convex decides whether one of them is the event."""

    transactions: tuple[FoundTransaction, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "found",
            "transactions": [
                {
                    "txnId": txn.txn_id,
                    "refNumber": txn.ref_number,
                    "externalGuid": txn.external_guid,
                    "account": _ref_payload(txn.account),
                    "site": _ref_payload(txn.site),
                    "fromSite": _ref_payload(txn.from_site),
                    "toSite": _ref_payload(txn.to_site),
                    "lines": [
                        {"item": _ref_payload(line.item), "quantity": line.quantity}
                        for line in txn.lines
                    ],
                }
                for txn in self.transactions
                if txn.txn_id is not None
            ],
        }


@dataclass(frozen=True)
class NotFound:
    def to_payload(self) -> dict[str, Any]:
        return {"kind": "not_found"}


@dataclass(frozen=True)
class Retryable:
    """Nothing was saved (or the outcome is unknown: `lookup_required`); try again later."""

    message: str
    status_code: str | None = None
    lookup_required: bool = False

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"kind": "retryable", "message": self.message[:2000]}
        if self.status_code is not None:
            payload["statusCode"] = self.status_code
        if self.lookup_required:
            payload["lookupRequired"] = True
        return payload


@dataclass(frozen=True)
class Permanent:
    message: str
    status_code: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"kind": "permanent", "message": self.message[:2000]}
        if self.status_code is not None:
            payload["statusCode"] = self.status_code
        return payload


# -- reading QuickBooks: queries Convex asks for, and what they return ----------------

QueryKind = Literal[
    "HostQuery",
    "CompanyQuery",
    "PreferencesQuery",
    "ItemInventoryQuery",
    "ItemInventoryAssemblyQuery",
    "InventorySiteQuery",
    "AccountQuery",
    "ItemSitesQuery",
]
QUERY_KINDS: tuple[QueryKind, ...] = (
    "HostQuery",
    "CompanyQuery",
    "PreferencesQuery",
    "ItemInventoryQuery",
    "ItemInventoryAssemblyQuery",
    "InventorySiteQuery",
    "AccountQuery",
    "ItemSitesQuery",
)
ListName = Literal["items", "assemblies", "sites", "accounts"]
# Which list each list query fills.
LIST_OF_QUERY: dict[str, ListName] = {
    "ItemInventoryQuery": "items",
    "ItemInventoryAssemblyQuery": "assemblies",
    "InventorySiteQuery": "sites",
    "AccountQuery": "accounts",
}


@dataclass(frozen=True)
class QueryRequest:
    """One read request Convex wants in the next message (a list page, the host, ...).

    `iterator` is "Start" or "Continue" for the paged item lists (qbXML
    iterators, `max_returned` per page), None for one-shot queries.
    """

    request_id: str
    kind: QueryKind
    iterator: Literal["Start", "Continue"] | None = None
    iterator_id: str | None = None
    max_returned: int | None = None

    @classmethod
    def parse(cls, value: Any) -> QueryRequest:
        data = _obj(value, "query")
        kind = data.get("kind")
        if kind not in QUERY_KINDS:
            raise ContractError(f"query kind {kind!r} is not one this bridge can send")
        iterator = data.get("iterator")
        if iterator not in (None, "Start", "Continue"):
            raise ContractError(f"iterator must be Start or Continue, got {iterator!r}")
        max_returned = _opt_num(data, "maxReturned")
        return cls(
            request_id=_str(data, "requestId"),
            kind=kind,
            iterator=iterator,
            iterator_id=_opt_str(data, "iteratorId"),
            max_returned=None if max_returned is None else int(max_returned),
        )


@dataclass(frozen=True)
class HostInfo:
    """HostQuery: which QuickBooks, which qbXML versions, which file mode."""

    product_name: str | None
    major_version: int | None
    minor_version: int | None
    country: str | None
    supported_versions: tuple[str, ...]
    file_mode: str | None

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "host",
            "productName": self.product_name,
            "majorVersion": self.major_version,
            "minorVersion": self.minor_version,
            "country": self.country,
            "supportedQbxmlVersions": list(self.supported_versions),
            "fileMode": self.file_mode,
        }


@dataclass(frozen=True)
class CompanyInfo:
    company_name: str | None

    def to_payload(self) -> dict[str, Any]:
        return {"kind": "company", "companyName": self.company_name}


@dataclass(frozen=True)
class PreferencesInfo:
    """PreferencesQuery: is multi-location inventory (Advanced Inventory sites) there and on?"""

    multi_location_available: bool | None
    multi_location_enabled: bool | None

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "preferences",
            "multiLocationAvailable": self.multi_location_available,
            "multiLocationEnabled": self.multi_location_enabled,
        }


@dataclass(frozen=True)
class ListEntry:
    """One entry of a QuickBooks list (item, assembly, site or account)."""

    list_id: str
    name: str
    full_name: str
    is_active: bool
    quantity_on_hand: float | None = None
    account_type: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "listId": self.list_id,
            "name": self.name,
            "fullName": self.full_name,
            "isActive": self.is_active,
        }
        if self.quantity_on_hand is not None:
            payload["quantityOnHand"] = self.quantity_on_hand
        if self.account_type is not None:
            payload["accountType"] = self.account_type
        return payload


@dataclass(frozen=True)
class ListPage:
    """One page of a list query; `remaining` is QuickBooks' iteratorRemainingCount (0: done)."""

    list_name: ListName
    entries: tuple[ListEntry, ...]
    iterator_id: str | None = None
    remaining: int = 0

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "kind": "listPage",
            "list": self.list_name,
            "entries": [entry.to_payload() for entry in self.entries],
            "remaining": self.remaining,
        }
        if self.iterator_id is not None:
            payload["iteratorId"] = self.iterator_id
        return payload


@dataclass(frozen=True)
class SiteQuantity:
    """One ItemSitesRet: an item's quantity on hand at one site (bins summed by Convex)."""

    row_id: str  # the ItemSites record's own ListID
    item_list_id: str
    site_list_id: str | None
    quantity_on_hand: float
    # As QuickBooks names them now: a report can name an item no list pull has seen yet.
    item_name: str | None = None
    site_name: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "rowId": self.row_id,
            "itemListId": self.item_list_id,
            "siteListId": self.site_list_id,
            "quantityOnHand": self.quantity_on_hand,
        }
        if self.item_name is not None:
            payload["itemName"] = self.item_name[:500]
        if self.site_name is not None:
            payload["siteName"] = self.site_name[:500]
        return payload


@dataclass(frozen=True)
class SiteQuantityPage:
    """One page of ItemSitesQuery (quantity per item and site), for reconciliation."""

    rows: tuple[SiteQuantity, ...]
    iterator_id: str | None = None
    remaining: int = 0

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "kind": "siteQuantities",
            "rows": [row.to_payload() for row in self.rows],
            "remaining": self.remaining,
        }
        if self.iterator_id is not None:
            payload["iteratorId"] = self.iterator_id
        return payload


QueryOutcome: TypeAlias = HostInfo | CompanyInfo | PreferencesInfo | ListPage | SiteQuantityPage


Outcome: TypeAlias = (
    Success
    | Found
    | NotFound
    | Retryable
    | Permanent
    | HostInfo
    | CompanyInfo
    | PreferencesInfo
    | ListPage
    | SiteQuantityPage
)


@dataclass(frozen=True)
class Answered:
    """QuickBooks' answer to one request of the outstanding message."""

    request_id: str
    outcome: Outcome


@dataclass(frozen=True)
class Answers:
    answers: tuple[Answered, ...]

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "answers",
            "answers": [
                {"requestId": a.request_id, "outcome": a.outcome.to_payload()} for a in self.answers
            ],
        }


@dataclass(frozen=True)
class WholeMessageFailed:
    """An HRESULT, an unreadable or empty response: it names no request."""

    message: str
    status_code: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"kind": "failed", "message": self.message[:2000]}
        if self.status_code:
            payload["statusCode"] = self.status_code
        return payload


Response: TypeAlias = Answers | WholeMessageFailed


# -- replies (Convex -> bridge) -----------------------------------------------------------


@dataclass(frozen=True)
class QueueState:
    event_id: str
    ref_number: str
    qb_status: str
    retry_count: int
    next_attempt_at: float
    qb_txn_id: str | None
    last_error: str | None
    lookup_required: bool
    hold_reason: str | None

    @classmethod
    def parse(cls, value: Any) -> QueueState:
        data = _obj(value, "event state")
        return cls(
            event_id=_str(data, "eventId"),
            ref_number=_str(data, "refNumber"),
            qb_status=_str(data, "qbStatus"),
            retry_count=_int(data, "retryCount"),
            next_attempt_at=_num(data, "nextAttemptAt"),
            qb_txn_id=_opt_str(data, "qbTxnId"),
            last_error=_opt_str(data, "lastError"),
            lookup_required=_bool(data, "qbLookupRequired"),
            hold_reason=_opt_str(data, "holdReason"),
        )


@dataclass(frozen=True)
class ClaimResult:
    """What recording one answer did; `stale` when the claim no longer held the event."""

    state: QueueState
    changed: bool
    stale: bool

    @classmethod
    def parse(cls, value: Any) -> ClaimResult:
        data = _obj(value, "claim result")
        return cls(
            state=QueueState.parse(data), changed=_bool(data, "changed"), stale=_bool(data, "stale")
        )


@dataclass(frozen=True)
class SessionView:
    session_id: str
    status: str
    user_name: str
    company_file: str | None
    opened_at: float
    last_seen_at: float
    expires_at: float
    live: bool
    outstanding: int
    claimed: int
    applied: int
    failed: int
    dead: int
    held: int
    last_error: str | None
    close_reason: str | None

    @classmethod
    def parse(cls, value: Any) -> SessionView:
        data = _obj(value, "session")
        return cls(
            session_id=_str(data, "sessionId"),
            status=_str(data, "status"),
            user_name=_str(data, "userName"),
            company_file=_opt_str(data, "companyFile"),
            opened_at=_num(data, "openedAt"),
            last_seen_at=_num(data, "lastSeenAt"),
            expires_at=_num(data, "expiresAt"),
            live=_bool(data, "live"),
            outstanding=_int(data, "outstanding"),
            claimed=_int(data, "claimed"),
            applied=_int(data, "applied"),
            failed=_int(data, "failed"),
            dead=_int(data, "dead"),
            held=_int(data, "held"),
            last_error=_opt_str(data, "lastError"),
            close_reason=_opt_str(data, "closeReason"),
        )


@dataclass(frozen=True)
class TicketRejected:
    """The ticket opens nothing (unknown, closed, expired); `message` is for QBWC's user."""

    reason: RejectReason
    message: str


def _rejected(data: Mapping[str, Any]) -> TicketRejected:
    reason = data.get("reason")
    if reason not in ("unknown", "closed", "expired"):
        raise ContractError(f"reason must be unknown, closed or expired, got {reason!r}")
    return TicketRejected(reason=reason, message=_str(data, "message"))


@dataclass(frozen=True)
class SessionOpened:
    session_id: str
    expires_at: float


@dataclass(frozen=True)
class NothingDue:
    """authenticate: nothing to do (QBWC hears "none")."""


@dataclass(frozen=True)
class WriterBusy:
    """authenticate: another Web Connector is the live writer (QBWC hears "busy")."""

    message: str


AuthDecision: TypeAlias = SessionOpened | NothingDue | WriterBusy


def parse_auth_decision(value: Any) -> AuthDecision:
    data = _obj(value, "authenticate reply")
    status = _status(data)
    if status == "open":
        return SessionOpened(session_id=_str(data, "sessionId"), expires_at=_num(data, "expiresAt"))
    if status == "none":
        return NothingDue()
    if status == "busy":
        return WriterBusy(message=_str(data, "message"))
    raise ContractError(f"unknown authenticate status {status!r}")


@dataclass(frozen=True)
class Claimed:
    """sendRequestXML: what goes into the new outstanding message (reads first, then events)."""

    session_id: str
    message_id: str
    events: tuple[ClaimedEvent, ...]
    unreadable: tuple[Unreadable, ...]
    queries: tuple[QueryRequest, ...] = ()


@dataclass(frozen=True)
class NothingToSend:
    session_id: str
    message: str


SendResult: TypeAlias = Claimed | NothingToSend | TicketRejected


def parse_send_result(value: Any) -> SendResult:
    data = _obj(value, "sendRequest reply")
    status = _status(data)
    if status == "events":
        parsed = [_claimed(e, i) for i, e in enumerate(_list(data.get("events"), "events"))]
        return Claimed(
            session_id=_str(data, "sessionId"),
            message_id=_str(data, "messageId"),
            events=tuple(e for e in parsed if isinstance(e, ClaimedEvent)),
            unreadable=tuple(e for e in parsed if isinstance(e, Unreadable)),
            queries=tuple(QueryRequest.parse(q) for q in _list(data.get("queries", []), "queries")),
        )
    if status == "nothing":
        return NothingToSend(session_id=_str(data, "sessionId"), message=_str(data, "message"))
    if status == "rejected":
        return _rejected(data)
    raise ContractError(f"unknown sendRequest status {status!r}")


@dataclass(frozen=True)
class Recorded:
    """receiveResponseXML: the answers were applied; QBWC hears `percent`."""

    session_id: str
    percent: int
    results: tuple[ClaimResult, ...]


@dataclass(frozen=True)
class ResponseFailed:
    """An identity-less failure, recorded for getLastError; no event changed."""

    session_id: str
    message: str


@dataclass(frozen=True)
class Mismatch:
    """The answer names requests the outstanding message does not hold; nothing changed."""

    session_id: str
    message: str


ReceiveResult: TypeAlias = Recorded | ResponseFailed | Mismatch | TicketRejected


def parse_receive_result(value: Any) -> ReceiveResult:
    data = _obj(value, "receiveResponse reply")
    status = _status(data)
    if status == "ok":
        return Recorded(
            session_id=_str(data, "sessionId"),
            percent=_int(data, "percent"),
            results=tuple(ClaimResult.parse(r) for r in _list(data.get("results"), "results")),
        )
    if status == "failed":
        return ResponseFailed(session_id=_str(data, "sessionId"), message=_str(data, "message"))
    if status == "mismatch":
        return Mismatch(session_id=_str(data, "sessionId"), message=_str(data, "message"))
    if status == "rejected":
        return _rejected(data)
    raise ContractError(f"unknown receiveResponse status {status!r}")


def parse_claim_results(value: Any) -> tuple[ClaimResult, ...]:
    return tuple(ClaimResult.parse(r) for r in _list(value, "results"))


def parse_session(value: Any) -> SessionView | None:
    return None if value is None else SessionView.parse(value)


def parse_sessions(value: Any) -> tuple[SessionView, ...]:
    return tuple(SessionView.parse(s) for s in _list(value, "sessions"))


def _states(data: Mapping[str, Any], key: str) -> tuple[QueueState, ...]:
    return tuple(QueueState.parse(e) for e in _list(data.get(key), key))


def _counts(data: Mapping[str, Any], key: str) -> dict[str, int]:
    """A map of counts by name (events by qbStatus)."""
    counts = _obj(data.get(key), key)
    return {str(k): _int(counts, k) for k in counts}


def parse_event_state(value: Any) -> QueueState | None:
    return None if value is None else QueueState.parse(value)


def parse_last_error(value: Any) -> str:
    """qbSessions:getLastError: the text QBWC shows its user."""
    if not isinstance(value, str):
        raise ContractError(f"expected text, got {type(value).__name__}")
    return value


def parse_server_time(value: Any) -> float:
    """functions:ping: Convex's clock (ms)."""
    server_time = value.get("serverTime") if isinstance(value, dict) else None
    if isinstance(server_time, bool) or not isinstance(server_time, int | float):
        raise ContractError(f"expected {{serverTime: number}}, got {type(value).__name__}")
    return float(server_time)


@dataclass(frozen=True)
class RetriedBatch:
    retried: tuple[QueueState, ...]
    more: bool


def parse_retried(value: Any) -> RetriedBatch:
    data = _obj(value, "retryAllDead reply")
    return RetriedBatch(
        retried=_states(data, "retried"),
        more=_bool(data, "more"),
    )


@dataclass(frozen=True)
class QueueStatus:
    server_time: float
    counts: dict[str, int]
    due_count: int
    oldest_due_at: float | None
    oldest_due_age_seconds: float | None
    open_sessions: tuple[SessionView, ...]
    lookups: tuple[QueueState, ...]
    held: tuple[QueueState, ...]
    dead: tuple[QueueState, ...]

    @classmethod
    def parse(cls, value: Any) -> QueueStatus:
        data = _obj(value, "queue status")
        return cls(
            server_time=_num(data, "serverTime"),
            counts=_counts(data, "counts"),
            due_count=_int(data, "dueCount"),
            oldest_due_at=_opt_num(data, "oldestDueAt"),
            oldest_due_age_seconds=_opt_num(data, "oldestDueAgeSeconds"),
            open_sessions=parse_sessions(data.get("openSessions")),
            lookups=_states(data, "lookups"),
            held=_states(data, "held"),
            dead=_states(data, "dead"),
        )


# -- mapping and QuickBooks' own state (operator CLI) ------------------------------------


def _strs(value: Any, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise ContractError(f"{where} must be a list of strings")
    return tuple(items)


def _opt_bool(data: Mapping[str, Any], key: str) -> bool | None:
    return None if data.get(key) is None else _bool(data, key)


def parse_list_refresh(value: Any) -> str | None:
    """qbMapping:requestListRefresh: the company file whose lists the next session pulls."""
    found = value.get("companyFile") if isinstance(value, dict) else None
    if found is not None and not isinstance(found, str):
        raise ContractError("companyFile must be text or null")
    return found


@dataclass(frozen=True)
class Mapped:
    """A mapping stored: the QuickBooks entry it points at, what it pointed at before."""

    list_id: str
    full_name: str
    previous: str | None
    held_events_woken: int

    @classmethod
    def parse(cls, value: Any) -> Mapped:
        data = _obj(value, "mapping")
        return cls(
            list_id=_str(data, "listId"),
            full_name=_str(data, "fullName"),
            previous=_opt_str(data, "previous"),
            held_events_woken=_int(data, "heldEventsWoken"),
        )


@dataclass(frozen=True)
class AutoMatch:
    sku: str
    full_names: tuple[str, ...]


@dataclass(frozen=True)
class AutoMapPage:
    """One page of `map items --auto`."""

    matched: tuple[AutoMatch, ...]
    unmatched: tuple[str, ...]
    ambiguous: tuple[AutoMatch, ...]
    already_mapped: int
    continue_cursor: str
    is_done: bool

    @classmethod
    def parse(cls, value: Any) -> AutoMapPage:
        data = _obj(value, "auto-map page")

        def matches(key: str) -> tuple[AutoMatch, ...]:
            return tuple(
                AutoMatch(_str(m, "sku"), _strs(m.get("fullNames"), "fullNames"))
                for m in (_obj(item, key) for item in _list(data.get(key), key))
            )

        return cls(
            matched=matches("matched"),
            unmatched=_strs(data.get("unmatched"), "unmatched"),
            ambiguous=matches("ambiguous"),
            already_mapped=_int(data, "alreadyMapped"),
            continue_cursor=_str(data, "continueCursor"),
            is_done=_bool(data, "isDone"),
        )


@dataclass(frozen=True)
class UnmappedRow:
    """Something missing a mapping, and how many held events wait for it."""

    key: str
    kind: str
    name: str
    events: int
    reason: str


@dataclass(frozen=True)
class UnmappedPage:
    rows: tuple[UnmappedRow, ...]
    continue_cursor: str
    is_done: bool

    @classmethod
    def parse(cls, value: Any) -> UnmappedPage:
        data = _obj(value, "unmapped page")
        rows = [_unmapped_row(item) for item in _list(data.get("rows"), "rows")]
        return cls(
            rows=tuple(rows),
            continue_cursor=_str(data, "continueCursor"),
            is_done=_bool(data, "isDone"),
        )


@dataclass(frozen=True)
class ListCounts:
    items: int
    sites: int
    accounts: int


@dataclass(frozen=True)
class CompanyView:
    """What QuickBooks said about itself, and the state of its lists in Convex."""

    company_file: str
    company_name: str | None
    product_name: str | None
    version: str | None
    supported_qbxml_versions: tuple[str, ...]
    file_mode: str | None
    multi_location_available: bool | None
    multi_location_enabled: bool | None
    capabilities_read_at: float | None
    lists_pulled_at: float | None
    list_counts: ListCounts | None
    pull_step: str | None
    pull_entries: int | None
    pull_error: str | None
    refresh_requested: bool
    snapshot_requested: bool
    snapshot_running: bool
    last_snapshot_at: float | None
    reconcile_every_hours: float | None
    last_report: ReportSummary | None

    @classmethod
    def parse(cls, value: Any) -> CompanyView | None:
        if value is None:
            return None
        data = _obj(value, "company")
        counts = data.get("listCounts")
        pull = data.get("pullInProgress")
        counts_data = None if counts is None else _obj(counts, "listCounts")
        pull_data = None if pull is None else _obj(pull, "pullInProgress")
        return cls(
            company_file=_opt_str(data, "companyFile") or "",
            company_name=_opt_str(data, "companyName"),
            product_name=_opt_str(data, "productName"),
            version=_opt_str(data, "version"),
            supported_qbxml_versions=_strs(data.get("supportedQbxmlVersions", []), "versions"),
            file_mode=_opt_str(data, "fileMode"),
            multi_location_available=_opt_bool(data, "multiLocationAvailable"),
            multi_location_enabled=_opt_bool(data, "multiLocationEnabled"),
            capabilities_read_at=_opt_num(data, "capabilitiesReadAt"),
            lists_pulled_at=_opt_num(data, "listsPulledAt"),
            list_counts=None
            if counts_data is None
            else ListCounts(
                _int(counts_data, "items"),
                _int(counts_data, "sites"),
                _int(counts_data, "accounts"),
            ),
            pull_step=None if pull_data is None else _str(pull_data, "step"),
            pull_entries=None if pull_data is None else _int(pull_data, "entries"),
            pull_error=_opt_str(data, "pullError"),
            refresh_requested=_bool(data, "refreshRequested"),
            snapshot_requested=_bool(data, "snapshotRequested"),
            snapshot_running=_bool(data, "snapshotRunning"),
            last_snapshot_at=_opt_num(data, "lastSnapshotAt"),
            reconcile_every_hours=_opt_num(data, "reconcileEveryHours"),
            last_report=None
            if data.get("lastReport") is None
            else ReportSummary.parse(data.get("lastReport")),
        )


# -- reconciliation -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportSummary:
    """What `status` shows of the last drift report."""

    report_id: str
    built_at: float
    snapshot_at: float
    rows: int
    drift_rows: int
    total_drift: float

    @classmethod
    def parse(cls, value: Any) -> ReportSummary:
        data = _obj(value, "lastReport")
        return cls(
            report_id=_str(data, "reportId"),
            built_at=_num(data, "builtAt"),
            snapshot_at=_num(data, "snapshotAt"),
            rows=_int(data, "rows"),
            drift_rows=_int(data, "driftRows"),
            total_drift=_num(data, "totalDrift"),
        )


@dataclass(frozen=True)
class SnapshotRequest:
    company_file: str
    requested_at: float
    last_snapshot_at: float | None

    @classmethod
    def parse(cls, value: Any) -> SnapshotRequest:
        data = _obj(value, "snapshot request")
        return cls(
            company_file=_opt_str(data, "companyFile") or "",
            requested_at=_num(data, "requestedAt"),
            last_snapshot_at=_opt_num(data, "lastSnapshotAt"),
        )


@dataclass(frozen=True)
class ReportProgress:
    report_id: str
    done: bool
    phase: str
    snapshot_at: float

    @classmethod
    def parse(cls, value: Any) -> ReportProgress:
        data = _obj(value, "report progress")
        return cls(
            report_id=_str(data, "reportId"),
            done=_bool(data, "done"),
            phase=_str(data, "phase"),
            snapshot_at=_num(data, "snapshotAt"),
        )


@dataclass(frozen=True)
class ReconTotals:
    rows: int
    drift_rows: int
    convex_qoh: float
    qb_qoh: float
    in_transit: float
    drift: float
    only_in_quickbooks: int
    not_in_quickbooks: int


@dataclass(frozen=True)
class DriftRow:
    """One (item, site) of a drift report. drift = QuickBooks - (Convex - in transit)."""

    sku: str
    item_name: str | None
    item_list_id: str | None
    site: str | None
    location: str | None
    convex_qoh: float
    qb_qoh: float
    in_transit: float
    drift: float
    note: str | None


@dataclass(frozen=True)
class ReportPage:
    snapshot_at: float
    finished_at: float | None
    multi_location: bool
    totals: ReconTotals
    rows: tuple[DriftRow, ...]
    continue_cursor: str
    is_done: bool

    @classmethod
    def parse(cls, value: Any) -> ReportPage:
        data = _obj(value, "report page")
        rows = [_drift_row(item) for item in _list(data.get("rows"), "rows")]
        return cls(
            snapshot_at=_num(data, "snapshotAt"),
            finished_at=_opt_num(data, "finishedAt"),
            multi_location=_bool(data, "multiLocation"),
            totals=_recon_totals(data.get("totals")),
            rows=tuple(rows),
            continue_cursor=_str(data, "continueCursor"),
            is_done=_bool(data, "isDone"),
        )


# -- the operator page (ops:overview) ------------------------------------------------------
# Row parsers shared with the CLI's pages above (UnmappedPage, ReportPage build the same rows).


def _unmapped_row(value: Any) -> UnmappedRow:
    row = _obj(value, "row")
    return UnmappedRow(
        key=_str(row, "key"),
        kind=_str(row, "kind"),
        name=_str(row, "name"),
        events=_int(row, "events"),
        reason=_opt_str(row, "reason") or "",
    )


def _drift_row(value: Any) -> DriftRow:
    row = _obj(value, "row")
    return DriftRow(
        sku=_opt_str(row, "sku") or "",
        item_name=_opt_str(row, "itemName"),
        item_list_id=_opt_str(row, "itemListId"),
        site=_opt_str(row, "site"),
        location=_opt_str(row, "location"),
        convex_qoh=_num(row, "convexQoh"),
        qb_qoh=_num(row, "qbQoh"),
        in_transit=_num(row, "inTransit"),
        drift=_num(row, "drift"),
        note=_opt_str(row, "note"),
    )


def _recon_totals(value: Any) -> ReconTotals:
    totals = _obj(value, "totals")
    return ReconTotals(
        rows=_int(totals, "rows"),
        drift_rows=_int(totals, "driftRows"),
        convex_qoh=_num(totals, "convexQoh"),
        qb_qoh=_num(totals, "qbQoh"),
        in_transit=_num(totals, "inTransit"),
        drift=_num(totals, "drift"),
        only_in_quickbooks=_int(totals, "onlyInQuickBooks"),
        not_in_quickbooks=_int(totals, "notInQuickBooks"),
    )


@dataclass(frozen=True)
class HourFigures:
    """One hour of sync_stats_hourly: transitions counted, and the queue as sampled."""

    hour: float
    applied: int
    failed: int
    dead: int
    samples: int
    depth_max: int
    oldest_due_age_max_seconds: float

    @classmethod
    def parse(cls, value: Any) -> HourFigures:
        data = _obj(value, "hour")
        return cls(
            hour=_num(data, "hour"),
            applied=_int(data, "applied"),
            failed=_int(data, "failed"),
            dead=_int(data, "dead"),
            samples=_int(data, "samples"),
            depth_max=_int(data, "depthMax"),
            oldest_due_age_max_seconds=_num(data, "oldestDueAgeMaxSec"),
        )


@dataclass(frozen=True)
class OpsReport:
    """The last drift report: its totals and its first drifting rows."""

    report_id: str
    snapshot_at: float
    built_at: float | None
    multi_location: bool
    totals: ReconTotals
    drift_rows: tuple[DriftRow, ...]


@dataclass(frozen=True)
class ReportToBuild:
    """A finished snapshot no report covers yet (`report_id`: one being built, else None)."""

    snapshot_at: float
    report_id: str | None


@dataclass(frozen=True)
class OpsOverview:
    """Everything one load of the operator page shows, from one Convex query."""

    server_time: float
    counts: dict[str, int]
    due_count: int
    oldest_due_at: float | None
    open_sessions: tuple[SessionView, ...]
    last_session: SessionView | None
    company: CompanyView | None
    dead: tuple[QueueState, ...]
    held_groups: tuple[UnmappedRow, ...]
    held_conflicts: tuple[QueueState, ...]
    held_scanned: int
    held_more: bool
    report: OpsReport | None
    report_to_build: ReportToBuild | None
    hours: tuple[HourFigures, ...]

    @property
    def oldest_due_age_seconds(self) -> float | None:
        if self.oldest_due_at is None:
            return None
        return max(0.0, (self.server_time - self.oldest_due_at) / 1000)

    @classmethod
    def parse(cls, value: Any) -> OpsOverview:
        data = _obj(value, "ops overview")
        held = _obj(data.get("held"), "held")
        report = data.get("report")
        report_data = None if report is None else _obj(report, "report")
        to_build = data.get("reportToBuild")
        to_build_data = None if to_build is None else _obj(to_build, "reportToBuild")
        last_session = data.get("lastSession")
        return cls(
            server_time=_num(data, "serverTime"),
            counts=_counts(data, "counts"),
            due_count=_int(data, "dueCount"),
            oldest_due_at=_opt_num(data, "oldestDueAt"),
            open_sessions=parse_sessions(data.get("openSessions")),
            last_session=None if last_session is None else SessionView.parse(last_session),
            company=CompanyView.parse(data.get("company")),
            dead=_states(data, "dead"),
            held_groups=tuple(_unmapped_row(r) for r in _list(held.get("groups"), "groups")),
            held_conflicts=_states(held, "conflicts"),
            held_scanned=_int(held, "scanned"),
            held_more=_bool(held, "more"),
            report=None
            if report_data is None
            else OpsReport(
                report_id=_str(report_data, "reportId"),
                snapshot_at=_num(report_data, "snapshotAt"),
                built_at=_opt_num(report_data, "builtAt"),
                multi_location=_bool(report_data, "multiLocation"),
                totals=_recon_totals(report_data.get("totals")),
                drift_rows=tuple(
                    _drift_row(r) for r in _list(report_data.get("driftRows"), "driftRows")
                ),
            ),
            report_to_build=None
            if to_build_data is None
            else ReportToBuild(
                snapshot_at=_num(to_build_data, "snapshotAt"),
                report_id=_opt_str(to_build_data, "reportId"),
            ),
            hours=tuple(HourFigures.parse(h) for h in _list(data.get("hours"), "hours")),
        )
