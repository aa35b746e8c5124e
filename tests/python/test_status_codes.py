"""The status table: one verdict per QuickBooks status, with a hint an operator can act on."""

from __future__ import annotations

import pytest

from qbwc_bridge.qbxml.status_codes import STATUS_TABLE, classify, hresult_hint

LOCKED_SAVE = (
    "There was an error when saving a Inventory Adjustment.  QuickBooks error message: "
    "This record is being used by another user."
)
BUSINESS_SAVE = (
    "There was an error when saving a Transfer Inventory.  QuickBooks error message: "
    "You cannot transfer more than the quantity on hand."
)


@pytest.mark.parametrize(
    ("code", "severity", "message", "kind"),
    [
        (0, "Info", "Status OK", "success"),
        (1, "Info", "A query request did not find a matching object in QuickBooks", "success"),
        (100, "Info", "", "success"),
        (500, "Warn", "One or more objects cannot be found", "success"),
        (510, "Warn", "Unable to return object.", "success"),
        (530, "Warn", 'The field "X" is not supported by this implementation.', "success"),
        (999, "Warn", "", "success"),
        (
            1000,
            "Error",
            "There has been an internal error when processing the request.",
            "retryable",
        ),
        (1010, "Error", "System not available", "retryable"),
        (1030, "Error", "This request is not supported by this implementation.", "permanent"),
        (1060, "Error", 'The request ID "x" is invalid', "permanent"),
        (2000, "Error", "", "permanent"),
        (3000, "Error", 'The given object ID "x" in the field "ListID" is invalid.', "permanent"),
        (3020, "Error", "There was an error when converting the date value", "permanent"),
        (3070, "Error", 'The string "x" in the field "Memo" is too long.', "permanent"),
        (3099, "Error", "", "permanent"),
        (3100, "Error", 'The name "x" of the list element is already in use.', "permanent"),
        (3120, "Error", 'Object "x" specified in the request cannot be found.', "permanent"),
        (3140, "Error", 'There is an invalid reference to QuickBooks Item "SKU-1"', "permanent"),
        (3150, "Error", "There is a missing element", "permanent"),
        (3170, "Error", "There was an error when modifying. The record is locked.", "retryable"),
        (
            3170,
            "Error",
            "There was an error when modifying. Modified by another user.",
            "retryable",
        ),
        (3170, "Error", "There was an error when modifying. Invalid amount.", "permanent"),
        (
            3171,
            "Error",
            "An attempt was made to modify a Transfer with a date before the closing date",
            "permanent",
        ),
        (3175, "Error", "", "retryable"),
        (3176, "Error", "There was an error when locking the list", "retryable"),
        (3180, "Error", LOCKED_SAVE, "retryable"),
        (3180, "Error", "There was an error when saving. The record is in use.", "retryable"),
        (3180, "Error", BUSINESS_SAVE, "permanent"),
        (3180, "Error", "", "permanent"),
        (3200, "Error", 'The provided edit sequence "1" is out-of-date.', "retryable"),
        (3210, "Error", "The transaction is not balanced.", "permanent"),
        (3231, "Error", "The request has not been processed.", "retryable"),
        (
            3250,
            "Error",
            "This feature is not enabled or not available in this version of QuickBooks.",
            "permanent",
        ),
        (3260, "Error", "Insufficient permission level to perform this action.", "permanent"),
        (3261, "Error", "", "permanent"),
        (9150, "Error", "", "permanent"),
        (3999, "Error", "something new", "retryable"),
        (1999, "Error", "", "retryable"),
        (12345, "Error", "", "retryable"),
        (-1, "Error", "", "retryable"),
    ],
)
def test_classification(code: int, severity: str, message: str, kind: str) -> None:
    verdict = classify(code, severity, message)
    assert verdict.kind == kind
    assert verdict.code == code
    if kind != "success":
        assert verdict.hint, "every failure tells the operator something"


def test_invalid_reference_hint_says_what_to_map_and_how_to_retry() -> None:
    hint = classify(3140, "Error", "").hint
    for needle in (
        "qbItemListId",
        "qbItemFullName",
        "qbSiteFullName",
        "qbAccountFullName",
        "qbwc-bridge retry",
    ):
        assert needle in hint


def test_feature_hint_mentions_advanced_inventory() -> None:
    assert "Advanced Inventory" in classify(3250, "Error", "").hint


def test_lock_hint_differs_from_business_rule_hint() -> None:
    locked = classify(3180, "Error", LOCKED_SAVE)
    refused = classify(3180, "Error", BUSINESS_SAVE)
    assert locked.hint != refused.hint
    assert "retry" in refused.hint


def test_unknown_codes_say_they_are_unknown() -> None:
    verdict = classify(4242, "Error", "")
    assert verdict.title == "Unknown status"
    assert "retry cap" in verdict.hint


def test_severity_and_message_are_optional() -> None:
    assert classify(0).kind == "success"
    assert classify(3175).kind == "retryable"


@pytest.mark.parametrize("rule", STATUS_TABLE, ids=lambda rule: f"{rule.low}-{rule.high}")
def test_every_rule_is_reachable(rule) -> None:  # type: ignore[no-untyped-def]
    """First match wins: a single code listed after a range containing it would be dead."""
    for code in {rule.low, rule.high}:
        assert classify(code, "", "locked").title == rule.title


@pytest.mark.parametrize(
    ("hresult", "needle"),
    [
        ("0x80040400", "could not parse"),
        ("0X80040400", "could not parse"),
        (" 0x80040400 ", "could not parse"),
        ("-2147220480", "could not parse"),
        ("0x80040408", "could not be started"),
        ("0x80040410", "multi-user"),
        ("0x80040414", "dialog"),
        ("0x80040418", "authorized"),
        ("0x8004041a", "Integrated Applications"),
        ("0x80040420", "denied access"),
        ("0x80040422", "single-user"),
    ],
)
def test_hresult_hints(hresult: str, needle: str) -> None:
    assert needle in hresult_hint(hresult)


@pytest.mark.parametrize("hresult", ["", "0x80040999", "garbage", "0x"])
def test_unknown_hresults_have_no_hint(hresult: str) -> None:
    assert hresult_hint(hresult) == ""
