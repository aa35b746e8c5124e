"""Typed shapes shared by the renderer, the parser and the sync step.

`QueueEvent.from_payload` is the one place that reads the dict Convex's queue
returns for a claimed event. It is lenient about optional keys (absent and
None mean the same) and strict about what the renderer cannot do without
(ids, mode, type, refNumber, occurredAt, lines), so a contract drift shows up
as one clear `PayloadError` instead of a KeyError deep in rendering.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["send", "lookup"]
EventType = Literal["transfer", "adjustment"]


class PayloadError(ValueError):
    """A claimed event's payload does not match the queue contract."""


def _opt_str(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string, got {type(value).__name__}")
    return value or None


def _req_str(payload: Mapping[str, Any], key: str) -> str:
    value = _opt_str(payload, key)
    if value is None:
        raise PayloadError(f"{key} is missing")
    return value


def _number(payload: Mapping[str, Any], key: str) -> float:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PayloadError(f"{key} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class QbRef:
    """A QuickBooks list reference: ListID when known, else FullName."""

    list_id: str | None = None
    full_name: str | None = None

    @classmethod
    def from_payload(cls, value: Any, key: str) -> QbRef | None:
        """None when the reference is absent or names nothing."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise PayloadError(f"{key} must be an object with listId/fullName")
        ref = cls(list_id=_opt_str(value, "listId"), full_name=_opt_str(value, "fullName"))
        return ref if ref.list_id or ref.full_name else None


@dataclass(frozen=True)
class EventLine:
    sku: str
    item: QbRef | None
    quantity: float


@dataclass(frozen=True)
class QueueEvent:
    """One claimed event, as the renderer needs it."""

    event_id: str
    claim_token: str
    mode: Mode
    type: EventType
    ref_number: str
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
    def from_payload(cls, payload: Mapping[str, Any]) -> QueueEvent:
        mode = payload.get("mode")
        if mode not in ("send", "lookup"):
            raise PayloadError(f"mode must be 'send' or 'lookup', got {mode!r}")
        event_type = payload.get("type")
        if event_type not in ("transfer", "adjustment"):
            raise PayloadError(f"type must be 'transfer' or 'adjustment', got {event_type!r}")
        raw_lines = payload.get("lines") or []
        if not isinstance(raw_lines, list):
            raise PayloadError("lines must be a list")
        lines = []
        for index, raw in enumerate(raw_lines):
            if not isinstance(raw, Mapping):
                raise PayloadError(f"lines[{index}] must be an object")
            lines.append(
                EventLine(
                    sku=_req_str(raw, "sku"),
                    item=QbRef.from_payload(raw.get("item"), f"lines[{index}].item"),
                    quantity=_number(raw, "quantity"),
                )
            )
        retry_count = payload.get("retryCount") or 0
        return cls(
            event_id=_req_str(payload, "eventId"),
            claim_token=_req_str(payload, "claimToken"),
            mode=mode,
            type=event_type,
            ref_number=_req_str(payload, "refNumber"),
            occurred_at_ms=_number(payload, "occurredAt"),
            memo=_opt_str(payload, "memo"),
            retry_count=int(retry_count),
            lines=tuple(lines),
            account=QbRef.from_payload(payload.get("account"), "account"),
            site=QbRef.from_payload(payload.get("site"), "site"),
            from_site=QbRef.from_payload(payload.get("fromSite"), "fromSite"),
            to_site=QbRef.from_payload(payload.get("toSite"), "toSite"),
            location_code=_opt_str(payload, "locationCode"),
            from_location_code=_opt_str(payload, "fromLocationCode"),
            to_location_code=_opt_str(payload, "toLocationCode"),
            reason_code=_opt_str(payload, "reasonCode"),
        )


@dataclass(frozen=True)
class FoundTransaction:
    """One transaction QuickBooks returned (the Ret of an Add, or a Query match)."""

    txn_id: str | None
    ref_number: str | None
    txn_date: str | None


@dataclass(frozen=True)
class Answer:
    """QuickBooks' answer to one request (one `*Rs` element)."""

    kind: str  # the request name without "Rs", e.g. "InventoryAdjustmentAdd"
    request_id: str
    status_code: int
    status_severity: str
    status_message: str
    txn_id: str | None  # Add responses: the new transaction's TxnID
    transactions: tuple[FoundTransaction, ...]  # every *Ret in the answer

    @property
    def is_query(self) -> bool:
        return self.kind.endswith("Query")
