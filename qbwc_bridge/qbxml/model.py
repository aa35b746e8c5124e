"""Typed shapes of qbXML: references, QuickBooks' answers and the transactions they carry."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree


@dataclass(frozen=True)
class QbRef:
    """A QuickBooks list reference: ListID when known, else FullName."""

    list_id: str | None = None
    full_name: str | None = None


@dataclass(frozen=True)
class FoundLine:
    """One line of a transaction QuickBooks returned: the item and its quantity."""

    item: QbRef | None
    quantity: float


@dataclass(frozen=True)
class FoundTransaction:
    """One transaction QuickBooks returned (the Ret of an Add, or a Query match).

    A lookup's matches carry their content (refs and lines) so Convex can
    tell the event's own transaction from another one with the same RefNumber.
    """

    txn_id: str | None
    ref_number: str | None
    txn_date: str | None
    external_guid: str | None = None
    account: QbRef | None = None
    site: QbRef | None = None
    from_site: QbRef | None = None
    to_site: QbRef | None = None
    lines: tuple[FoundLine, ...] = ()


@dataclass(frozen=True)
class Answer:
    """QuickBooks' answer to one request (one `*Rs` element)."""

    kind: str  # the request name without "Rs", e.g. "InventoryAdjustmentAdd"
    request_id: str
    status_code: int
    status_severity: str
    status_message: str
    txn_id: str | None  # Add responses: the new transaction's TxnID
    transactions: tuple[FoundTransaction, ...]  # every *Ret in the answer (not for reads)
    # The `*Rs` element itself: a read's content is taken from it only when asked
    # (`parse.query_outcome`), so one unreadable page fails alone, not the message.
    element: etree._Element | None = field(default=None, compare=False, repr=False)

    @property
    def is_query(self) -> bool:
        return self.kind.endswith("Query")
