"""THE table that decides what a QuickBooks status means for an event.

Every `*Rs` QuickBooks returns carries statusCode / statusSeverity /
statusMessage. Intuit's ranges (qbXML SDK, "Status codes in response
messages"): 0-499 info, 500-999 warning (the request was processed), 1000-1999
general errors, 2000-2999 not supported, 3000-3099 format errors, 3100-9099
other errors, 9100-9199 macro errors. What the sync does with each:

- success:   QuickBooks did it. 0; 1 ("No match", a lookup that found
             nothing, which is an answer, not an error); other info codes;
             500-999 warnings. For an Add the caller still needs a TxnID in
             the Ret before it records the event as applied.
- retryable: nothing was saved and the same request can succeed later:
             records locked by a QuickBooks user (3175/3176, and 3170/3180
             when the message says locked / in use / another user), system
             not available (1010), not processed because an earlier request
             failed (3231). Retried with backoff.
- permanent: retrying the same request cannot help until a person fixes
             something (mapping, preferences, permissions): the event goes
             to `dead` at once and the hint says what to fix.

Codes not in the table are retryable (a new QuickBooks release must not
silently kill events) and still count toward the retry cap kept in Convex.
Whole-message failures (an HRESULT instead of a response) are decided by the
caller; `hresult_hint` only explains them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["success", "retryable", "permanent"]

RETRY = "then `qbwc-bridge retry EVENT_ID` (or `--all-dead`)"
_LOCKED = re.compile(
    r"\block(ed|ing)?\b|\bin use\b|\bbeing (used|edited)\b|another user|modified by|edited by",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rule:
    low: int
    high: int  # inclusive
    kind: Kind
    title: str
    hint: str
    # When set, `kind`/`hint` hold only if the message matches; else `otherwise`.
    message: re.Pattern[str] | None = None
    otherwise: tuple[Kind, str] = ("permanent", "")


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    code: int
    title: str
    hint: str


def _code(code: int, kind: Kind, title: str, hint: str) -> Rule:
    return Rule(code, code, kind, title, hint)


def _lock_or(code: int, title: str, verb: str) -> Rule:
    """3170/3180 wrap any QuickBooks refusal; only a lock is worth waiting for."""
    return Rule(
        code,
        code,
        "retryable",
        title,
        _LOCK_HINT,
        message=_LOCKED,
        otherwise=(
            "permanent",
            f"QuickBooks could not {verb} the transaction and says why in its message (not a "
            f"lock): fix that in QuickBooks or Convex, {RETRY}",
        ),
    )


_MAPPING_HINT = (
    "QuickBooks does not know an item/site/account this event references: map it in Convex "
    "(qbItemListId/qbItemFullName, qbSiteFullName, qbAccountFullName) so it matches QuickBooks "
    f"exactly, {RETRY}"
)
_LOCK_HINT = (
    "Someone has a record this event touches open in QuickBooks (item, site, account or the "
    "transaction list). Retried automatically; if it persists, ask users to close open windows."
)

# First matching rule wins: single codes before the ranges that contain them.
STATUS_TABLE: tuple[Rule, ...] = (
    _code(0, "success", "OK", ""),
    _code(1, "success", "No match", "A query found nothing: for a lookup, 'not in QuickBooks'."),
    Rule(2, 499, "success", "Information", "QuickBooks processed the request."),
    _code(
        510,
        "success",
        "Object cannot be returned",
        "Saved, but QuickBooks could not return it: the bridge looks the RefNumber up.",
    ),
    Rule(500, 999, "success", "Warning", "Processed with a warning; the TxnID is what counts."),
    _code(
        1000,
        "retryable",
        "Internal error",
        "QuickBooks reported an internal error; retried automatically. If it repeats, "
        "restart QuickBooks and run File > Utilities > Verify Data.",
    ),
    _code(1010, "retryable", "System not available", "QuickBooks was busy; retried automatically."),
    _code(
        1030,
        "permanent",
        "Unsupported message",
        f"This QuickBooks edition does not support the request; check QBXML_VERSION, {RETRY}",
    ),
    _code(
        1060,
        "permanent",
        "Invalid request ID",
        "QuickBooks rejected the requestID: a bridge bug, report it with the log.",
    ),
    Rule(
        2000,
        2999,
        "permanent",
        "Not supported for QuickBooks",
        f"This QuickBooks product does not support the request, {RETRY} after changing it",
    ),
    Rule(
        3000,
        3099,
        "permanent",
        "Format error",
        "QuickBooks could not read a value (ListID, date, quantity, length): check the "
        f"event's mappings in Convex (a stale ListID is the usual cause), {RETRY}",
    ),
    _code(
        3100,
        "permanent",
        "Name not unique",
        f"A QuickBooks name is already in use: fix the name in QuickBooks or Convex, {RETRY}",
    ),
    _code(3120, "permanent", "Object not found", _MAPPING_HINT),
    _code(3130, "permanent", "Invalid parent reference", _MAPPING_HINT),
    _code(3140, "permanent", "Invalid reference", _MAPPING_HINT),
    _code(
        3150,
        "permanent",
        "Missing required element",
        "QuickBooks wants a field the bridge did not send: report it with the log.",
    ),
    _lock_or(3170, "Cannot modify object", "change"),
    _code(
        3171,
        "permanent",
        "Closing date",
        "The transaction date is on or before the company's closing date: an admin must move "
        f"the closing date (Edit > Preferences > Accounting), {RETRY}",
    ),
    _code(3175, "retryable", "Cannot lock object", _LOCK_HINT),
    _code(3176, "retryable", "Cannot lock list", _LOCK_HINT),
    _lock_or(3180, "Cannot save object", "save"),
    _code(
        3200, "retryable", "Edit sequence out of date", "Changed meanwhile in QuickBooks; retried."
    ),
    _code(
        3210,
        "permanent",
        "Business rule",
        f"QuickBooks refused the transaction (read its message: e.g. quantities, sites), {RETRY}",
    ),
    _code(
        3231,
        "retryable",
        "Request not processed",
        "An earlier request in the message failed first; this one was not run. Resent.",
    ),
    _code(
        3250,
        "permanent",
        "Feature not enabled",
        "A QuickBooks feature this event needs is off: for sites and transfers turn on "
        "Advanced Inventory / multiple inventory sites (Edit > Preferences > Items & Inventory, "
        f"QuickBooks Enterprise), or remove the site mapping in Convex, {RETRY}",
    ),
    _code(
        3391,
        "retryable",
        "Iterator not valid",
        "QuickBooks no longer knows this list iterator (it lives only as long as one "
        "connection); the list is read again from its start.",
    ),
    _code(
        3260,
        "permanent",
        "Insufficient permission",
        "The QuickBooks user the Web Connector logs in as may not create inventory "
        "transactions: as Admin, Edit > Preferences > Integrated Applications > Properties, "
        f"and give that user inventory rights, {RETRY}",
    ),
    _code(
        3261,
        "permanent",
        "No access to sensitive data",
        "QuickBooks denies this application access: as Admin, Edit > Preferences > "
        f"Integrated Applications > Properties, allow access, {RETRY}",
    ),
    Rule(
        9100,
        9199,
        "permanent",
        "Macro error",
        "QuickBooks rejected a macro in the request: a bridge bug, report it with the log.",
    ),
)

UNKNOWN_HINT = (
    "Not in the bridge's status table: retried until the retry cap. Read QuickBooks' message; "
    "if it needs a fix in QuickBooks or Convex, do it, " + RETRY
)


def classify(status_code: int, status_severity: str = "", status_message: str = "") -> Verdict:
    """What `(statusCode, statusSeverity, statusMessage)` means for the event.

    Severity is not needed to decide (the code ranges already imply it); it
    is accepted so callers can pass a whole Rs status without picking.
    """
    for rule in STATUS_TABLE:
        if rule.low <= status_code <= rule.high:
            kind, hint = rule.kind, rule.hint
            if rule.message is not None and not rule.message.search(status_message or ""):
                kind, hint = rule.otherwise
            return Verdict(kind=kind, code=status_code, title=rule.title, hint=hint)
    return Verdict(kind="retryable", code=status_code, title="Unknown status", hint=UNKNOWN_HINT)


# HRESULTs QBWC passes to receiveResponseXML / connectionError instead of a response.
HRESULT_HINTS: dict[int, str] = {
    0x80040400: (
        "QuickBooks could not parse the request (element order, or a field this qbXML version "
        "lacks). Nothing was saved. This is a bridge bug: keep the QBWC log and report it."
    ),
    0x80040408: (
        "QuickBooks could not be started: sign in to Windows as the Web Connector's user, open "
        "QuickBooks with the company file once, and make sure nobody holds it in single-user mode."
    ),
    0x80040410: (
        "The company file is open in another mode (single- vs multi-user): switch QuickBooks to "
        "multi-user mode or close the file."
    ),
    0x80040414: "A dialog box is open in QuickBooks: close it, then run the Web Connector again.",
    0x80040418: (
        "This application has not been authorized for this company file: open the file in "
        "QuickBooks as Admin and accept the Web Connector's certificate prompt."
    ),
    0x8004041A: (
        "This application may not access this company file: as Admin, Edit > Preferences > "
        "Integrated Applications > Company Preferences, allow it."
    ),
    0x80040420: (
        "The QuickBooks user has denied access: as Admin, Edit > Preferences > Integrated "
        "Applications, select the app > Properties, allow it to log in automatically."
    ),
    0x80040422: (
        "QuickBooks is shared with another application in single-user mode: switch to multi-user "
        "mode or close the other application."
    ),
}


def _hresult_value(hresult: str) -> int | None:
    text = hresult.strip().lower()
    try:
        value = int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        return None
    return value & 0xFFFFFFFF  # "-2147220480" and "0x80040400" are the same HRESULT


def hresult_hint(hresult: str) -> str:
    """What an operator can do about a whole-message HRESULT; "" when we don't know it."""
    value = _hresult_value(hresult or "")
    return HRESULT_HINTS.get(value, "") if value is not None else ""
