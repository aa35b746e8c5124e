"""The Convex <-> bridge contract: real reply shapes parse, drift is one named ContractError.

The shapes are those of `convex/lib/contract.ts` (the `returns:` validators
of the functions the gateway calls); outcomes go the other way and must be
exactly what its `vOutcome` / `vResponse` accept (Convex rejects unknown keys).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from qbwc_bridge import contract
from qbwc_bridge.contract import ContractError
from qbwc_bridge.qbxml.model import FoundLine, FoundTransaction, QbRef

GUID = "{0123ABCD-0000-4000-8000-000000000001}"
SESSION = "k57a2b3c4d5e6f7g8h9j0k1m2n3p4q5r"


def event_payload(**overrides: Any) -> dict[str, Any]:
    """One vEventPayload, every key present as Convex sends it."""
    payload: dict[str, Any] = {
        "eventId": "j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0",
        "claimToken": "j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0:3",
        "mode": "send",
        "type": "adjustment",
        "refNumber": "AD-000001",
        "externalGuid": GUID,
        "occurredAt": 1710041400000,
        "memo": "Cycle count",
        "retryCount": 2,
        "fromLocationCode": None,
        "toLocationCode": None,
        "locationCode": "WH-A",
        "reasonCode": "SHRINK",
        "fromSite": None,
        "toSite": None,
        "site": {"listId": "80000002-1", "fullName": "Main"},
        "account": {"listId": None, "fullName": "Inventory Shrinkage"},
        "lines": [
            {"sku": "SKU-1", "item": {"listId": None, "fullName": "SKU-1"}, "quantity": -2},
            {"sku": "SKU-2", "item": {"listId": None, "fullName": None}, "quantity": 1.5},
        ],
    }
    payload.update(overrides)
    return payload


def queue_state(**overrides: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "eventId": "j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0",
        "refNumber": "AD-000001",
        "qbStatus": "applied",
        "retryCount": 0,
        "nextAttemptAt": 1710041400000,
        "qbTxnId": "1A-1700000026",
        "lastError": None,
        "qbLookupRequired": False,
        "holdReason": None,
    }
    state.update(overrides)
    return state


def claim_result(**overrides: Any) -> dict[str, Any]:
    return {**queue_state(), "changed": True, "stale": False, **overrides}


def session_view(**overrides: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "sessionId": SESSION,
        "status": "closed",
        "userName": "qbwc",
        "companyFile": None,
        "openedAt": 1710041400000,
        "lastSeenAt": 1710041460000,
        "expiresAt": 1710045000000,
        "live": False,
        "outstanding": 0,
        "claimed": 5,
        "applied": 3,
        "failed": 1,
        "dead": 1,
        "held": 0,
        "lastError": None,
        "closeReason": "closed by the Web Connector",
    }
    view.update(overrides)
    return view


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    trimmed = copy.deepcopy(data)
    del trimmed[key]
    return trimmed


# -- claimed events --------------------------------------------------------------------------


def test_event_payload_reads_every_field() -> None:
    event = contract.ClaimedEvent.from_payload(event_payload())
    assert event == contract.ClaimedEvent(
        event_id="j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0",
        claim_token="j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0:3",
        mode="send",
        type="adjustment",
        ref_number="AD-000001",
        external_guid=GUID,
        occurred_at_ms=1710041400000.0,
        memo="Cycle count",
        retry_count=2,
        lines=(
            contract.EventLine("SKU-1", QbRef(None, "SKU-1"), -2.0),
            contract.EventLine("SKU-2", None, 1.5),  # a reference naming nothing is no reference
        ),
        account=QbRef(None, "Inventory Shrinkage"),
        site=QbRef("80000002-1", "Main"),
        from_site=None,
        to_site=None,
        location_code="WH-A",
        from_location_code=None,
        to_location_code=None,
        reason_code="SHRINK",
    )


def test_transfer_lookup_payload() -> None:
    event = contract.ClaimedEvent.from_payload(
        event_payload(
            mode="lookup",
            type="transfer",
            refNumber="TR-000001",
            site=None,
            account=None,
            reasonCode=None,
            locationCode=None,
            fromSite={"listId": None, "fullName": "Main"},
            toSite={"listId": "80000009-1", "fullName": None},
            fromLocationCode="WH-A",
            toLocationCode="TRUCK-1",
            memo=None,
        )
    )
    assert (event.mode, event.type, event.memo) == ("lookup", "transfer", None)
    assert (event.from_site, event.to_site) == (QbRef(None, "Main"), QbRef("80000009-1", None))
    assert (event.from_location_code, event.to_location_code) == ("WH-A", "TRUCK-1")
    assert (event.account, event.site) == (None, None)


def test_absent_optional_keys_read_as_none() -> None:
    minimal = {
        key: event_payload()[key]
        for key in ("eventId", "claimToken", "mode", "type", "refNumber", "externalGuid")
    }
    event = contract.ClaimedEvent.from_payload({**minimal, "occurredAt": 1, "lines": []})
    assert (event.memo, event.account, event.site, event.retry_count, event.lines) == (
        None,
        None,
        None,
        0,
        (),
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"mode": "resend"}, "mode"),
        ({"type": "sale"}, "type"),
        ({"occurredAt": "yesterday"}, "occurredAt"),
        ({"occurredAt": True}, "occurredAt"),
        ({"occurredAt": float("nan")}, "occurredAt"),
        ({"lines": "SKU-1"}, "lines"),
        ({"lines": ["SKU-1"]}, r"lines\[0\]"),
        ({"lines": [{"sku": "X", "quantity": "2"}]}, "quantity"),
        ({"lines": [{"quantity": 2}]}, "sku"),
        ({"lines": [{"sku": "X", "item": "SKU-1", "quantity": 1}]}, r"lines\[0\].item"),
        ({"account": "Shrinkage"}, "account"),
        ({"toSite": ["Main"]}, "toSite"),
        ({"site": {"listId": 7, "fullName": None}}, "listId"),
        ({"memo": 12}, "memo"),
        ({"refNumber": ""}, "refNumber"),
        ({"externalGuid": None}, "externalGuid"),
        ({"claimToken": None}, "claimToken"),
        ({"retryCount": "2"}, "retryCount"),
    ],
)
def test_event_payload_drift_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError, match=field):
        contract.ClaimedEvent.from_payload(event_payload(**overrides))


@pytest.mark.parametrize(
    "key", ["eventId", "claimToken", "mode", "type", "refNumber", "externalGuid", "occurredAt"]
)
def test_event_payload_without_a_required_key_names_it(key: str) -> None:
    with pytest.raises(ContractError, match=key):
        contract.ClaimedEvent.from_payload(without(event_payload(), key))


# -- authenticate ----------------------------------------------------------------------------


def test_auth_decisions() -> None:
    assert contract.parse_auth_decision(
        {"status": "open", "sessionId": SESSION, "expiresAt": 1710045000000}
    ) == contract.SessionOpened(session_id=SESSION, expires_at=1710045000000.0)
    assert contract.parse_auth_decision({"status": "none"}) == contract.NothingDue()
    assert contract.parse_auth_decision(
        {"status": "busy", "message": "Another Web Connector is syncing"}
    ) == contract.WriterBusy("Another Web Connector is syncing")


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({"status": "open", "expiresAt": 1}, "sessionId"),
        ({"status": "open", "sessionId": SESSION, "expiresAt": "soon"}, "expiresAt"),
        ({"status": "busy"}, "message"),
        ({"status": "maybe"}, "unknown authenticate status 'maybe'"),
        ({}, "status"),
        ({"status": 1}, "status"),
        (["open"], "authenticate reply must be an object"),
        (None, "authenticate reply must be an object"),
    ],
)
def test_auth_drift(reply: Any, field: str) -> None:
    with pytest.raises(ContractError, match=field):
        contract.parse_auth_decision(reply)


# -- sendRequestXML --------------------------------------------------------------------------


def send_reply(*events: Any) -> dict[str, Any]:
    return {"status": "events", "sessionId": SESSION, "messageId": "call-1", "events": list(events)}


def test_claimed_events() -> None:
    second = event_payload(eventId="e2", claimToken="e2:1", refNumber="AD-000002")
    result = contract.parse_send_result(send_reply(event_payload(), second))
    assert isinstance(result, contract.Claimed)
    assert (result.session_id, result.message_id, result.unreadable) == (SESSION, "call-1", ())
    assert [e.claim_token for e in result.events] == [
        "j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0:3",
        "e2:1",
    ]
    assert result.events[1].ref_number == "AD-000002"


def test_nothing_to_send_and_rejected() -> None:
    assert contract.parse_send_result(
        {"status": "nothing", "sessionId": SESSION, "message": "Nothing left to send"}
    ) == contract.NothingToSend(SESSION, "Nothing left to send")
    reasons: tuple[contract.RejectReason, ...] = ("unknown", "closed", "expired")
    for reason in reasons:
        assert contract.parse_send_result(
            {"status": "rejected", "reason": reason, "message": "This session is over."}
        ) == contract.TicketRejected(reason, "This session is over.")


def test_an_unreadable_event_with_a_claim_token_is_refused_not_raised() -> None:
    """One bad payload must not fail the whole reply: it is refused, the rest is sent."""
    bad = event_payload(eventId="bad", claimToken="bad:1", refNumber="AD-000009", mode="resend")
    result = contract.parse_send_result(send_reply(event_payload(), bad))
    assert isinstance(result, contract.Claimed)
    assert [e.event_id for e in result.events] == ["j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0"]
    (unreadable,) = result.unreadable
    assert (unreadable.event_id, unreadable.claim_token, unreadable.ref_number) == (
        "bad",
        "bad:1",
        "AD-000009",
    )
    assert "unreadable event" in unreadable.reason
    assert "mode" in unreadable.reason  # names what drifted
    assert "bug" in unreadable.reason


def test_an_unreadable_event_with_a_token_but_no_ids_is_still_refused() -> None:
    bad = {"claimToken": "x:1", "lines": "nope"}
    result = contract.parse_send_result(send_reply(bad))
    assert isinstance(result, contract.Claimed)
    assert result.events == ()
    (unreadable,) = result.unreadable
    assert (unreadable.claim_token, unreadable.event_id, unreadable.ref_number) == ("x:1", "", "")


@pytest.mark.parametrize("token", [None, 7])
def test_an_unreadable_event_without_a_claim_token_fails_the_reply(token: Any) -> None:
    """Nothing to refuse it by: the reply itself is wrong."""
    bad = event_payload(claimToken=token)
    with pytest.raises(ContractError, match="claimToken"):
        contract.parse_send_result(send_reply(event_payload(), bad))


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({"status": "events", "sessionId": SESSION, "messageId": "m"}, "events"),
        ({"status": "events", "sessionId": SESSION, "messageId": "m", "events": {}}, "events"),
        ({"status": "events", "sessionId": SESSION, "events": []}, "messageId"),
        ({"status": "events", "messageId": "m", "events": []}, "sessionId"),
        (send_reply("not an event"), r"events\[0\] must be an object"),
        ({"status": "nothing", "sessionId": SESSION}, "message"),
        ({"status": "rejected", "reason": "gone", "message": "x"}, "reason"),
        ({"status": "rejected", "reason": "closed"}, "message"),
        ({"status": "later"}, "unknown sendRequest status 'later'"),
        ("events", "sendRequest reply must be an object"),
    ],
)
def test_send_drift(reply: Any, field: str) -> None:
    with pytest.raises(ContractError, match=field):
        contract.parse_send_result(reply)


# -- receiveResponseXML ----------------------------------------------------------------------


def test_recorded_answers() -> None:
    reply = {
        "status": "ok",
        "sessionId": SESSION,
        "percent": 40,
        "results": [
            claim_result(),
            claim_result(
                eventId="e2",
                refNumber="AD-000002",
                qbStatus="failed",
                retryCount=1,
                qbTxnId=None,
                lastError="QuickBooks error 3175",
                qbLookupRequired=True,
                changed=True,
                stale=True,
            ),
            claim_result(qbStatus="held", holdReason="A namesake is in QuickBooks", qbTxnId=None),
        ],
    }
    result = contract.parse_receive_result(reply)
    assert isinstance(result, contract.Recorded)
    assert (result.session_id, result.percent) == (SESSION, 40)
    first, second, third = result.results
    assert first == contract.ClaimResult(
        state=contract.QueueState(
            event_id="j97fz1x0v6a9m3k2p8q4r5s6t7u8w9y0",
            ref_number="AD-000001",
            qb_status="applied",
            retry_count=0,
            next_attempt_at=1710041400000.0,
            qb_txn_id="1A-1700000026",
            last_error=None,
            lookup_required=False,
            hold_reason=None,
        ),
        changed=True,
        stale=False,
    )
    assert (second.state.qb_status, second.state.lookup_required, second.stale) == (
        "failed",
        True,
        True,
    )
    assert second.state.last_error == "QuickBooks error 3175"
    assert third.state.hold_reason == "A namesake is in QuickBooks"


def test_failed_mismatch_and_rejected_replies() -> None:
    assert contract.parse_receive_result(
        {"status": "failed", "sessionId": SESSION, "message": "0x80040400"}
    ) == contract.ResponseFailed(SESSION, "0x80040400")
    assert contract.parse_receive_result(
        {"status": "mismatch", "sessionId": SESSION, "message": "not ours"}
    ) == contract.Mismatch(SESSION, "not ours")
    assert contract.parse_receive_result(
        {"status": "rejected", "reason": "expired", "message": "expired"}
    ) == contract.TicketRejected("expired", "expired")


@pytest.mark.parametrize(
    ("reply", "field"),
    [
        ({"status": "ok", "sessionId": SESSION, "percent": "40", "results": []}, "percent"),
        ({"status": "ok", "sessionId": SESSION, "percent": 40}, "results"),
        (
            {"status": "ok", "sessionId": SESSION, "percent": 40, "results": [queue_state()]},
            "changed",
        ),
        (
            {
                "status": "ok",
                "sessionId": SESSION,
                "percent": 40,
                "results": [claim_result(stale="no")],
            },
            "stale",
        ),
        (
            {
                "status": "ok",
                "sessionId": SESSION,
                "percent": 40,
                "results": [without(claim_result(), "qbLookupRequired")],
            },
            "qbLookupRequired",
        ),
        ({"status": "failed", "sessionId": SESSION}, "message"),
        ({"status": "mismatch", "message": "x"}, "sessionId"),
        ({"status": "done"}, "unknown receiveResponse status 'done'"),
        ([], "receiveResponse reply must be an object"),
    ],
)
def test_receive_drift(reply: Any, field: str) -> None:
    with pytest.raises(ContractError, match=field):
        contract.parse_receive_result(reply)


# -- the smaller replies -------------------------------------------------------------------------


def test_refuse_reply_is_a_list_of_claim_results() -> None:
    (result,) = contract.parse_claim_results([claim_result(qbStatus="dead", qbTxnId=None)])
    assert (result.state.qb_status, result.changed) == ("dead", True)
    assert contract.parse_claim_results([]) == ()
    with pytest.raises(ContractError, match="results must be a list"):
        contract.parse_claim_results({"results": []})


def test_session_views() -> None:
    view = contract.parse_session(session_view(held=2, companyFile="C:\\Books\\co.qbw"))
    assert view is not None
    assert (view.session_id, view.status, view.company_file, view.live) == (
        SESSION,
        "closed",
        "C:\\Books\\co.qbw",
        False,
    )
    assert (view.claimed, view.applied, view.failed, view.dead, view.held) == (5, 3, 1, 1, 2)
    assert view.close_reason == "closed by the Web Connector"
    assert contract.parse_session(None) is None  # close: an unknown ticket
    assert [s.session_id for s in contract.parse_sessions([session_view(), session_view()])] == [
        SESSION,
        SESSION,
    ]


@pytest.mark.parametrize(
    "field", ["sessionId", "status", "userName", "live", "applied", "held", "expiresAt"]
)
def test_session_view_drift(field: str) -> None:
    with pytest.raises(ContractError, match=field):
        contract.parse_session(without(session_view(), field))


def test_event_state_retry_and_resolve_replies() -> None:
    state = contract.parse_event_state(queue_state(qbStatus="dead", lastError="3140"))
    assert state is not None
    assert (state.qb_status, state.last_error) == ("dead", "3140")
    assert contract.parse_event_state(None) is None
    assert contract.QueueState.parse(queue_state()).qb_txn_id == "1A-1700000026"
    retried = contract.parse_retried({"retried": [queue_state(qbStatus="pending")], "more": True})
    assert ([s.qb_status for s in retried.retried], retried.more) == (["pending"], True)


@pytest.mark.parametrize(
    ("parse", "reply", "field"),
    [
        (contract.parse_event_state, without(queue_state(), "eventId"), "eventId"),
        (contract.parse_event_state, queue_state(retryCount=None), "retryCount"),
        (contract.parse_event_state, queue_state(qbTxnId=5), "qbTxnId"),
        (contract.parse_event_state, "applied", "event state must be an object"),
        (contract.parse_retried, {"retried": []}, "more"),
        (contract.parse_retried, {"more": False}, "retried"),
        (contract.QueueState.parse, queue_state(nextAttemptAt=float("inf")), "nextAttemptAt"),
    ],
)
def test_state_drift(parse: Callable[[Any], Any], reply: Any, field: str) -> None:
    with pytest.raises(ContractError, match=field):
        parse(reply)


def queue_status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "serverTime": 1710041400000,
        "counts": {"pending": 2, "applied": 10, "dead": 1},
        "dueCount": 2,
        "oldestDueAt": 1710041300000,
        "oldestDueAgeSeconds": 100,
        "openSessions": [session_view(status="open", live=True)],
        "lookups": [queue_state(qbStatus="failed", qbLookupRequired=True, qbTxnId=None)],
        "held": [],
        "dead": [queue_state(qbStatus="dead", qbTxnId=None)],
    }
    status.update(overrides)
    return status


def test_queue_status() -> None:
    status = contract.QueueStatus.parse(queue_status())
    assert status.counts == {"pending": 2, "applied": 10, "dead": 1}
    assert (status.due_count, status.oldest_due_at, status.oldest_due_age_seconds) == (
        2,
        1710041300000.0,
        100.0,
    )
    assert [s.live for s in status.open_sessions] == [True]
    assert [e.lookup_required for e in status.lookups] == [True]
    assert (status.held, [e.qb_status for e in status.dead]) == ((), ["dead"])
    idle = contract.QueueStatus.parse(queue_status(oldestDueAt=None, oldestDueAgeSeconds=None))
    assert (idle.oldest_due_at, idle.oldest_due_age_seconds) == (None, None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"counts": None}, "counts"),
        ({"counts": {"pending": "2"}}, "pending"),
        ({"dueCount": None}, "dueCount"),
        ({"oldestDueAt": "now"}, "oldestDueAt"),
        ({"openSessions": None}, "sessions"),
        ({"held": None}, "held"),
        ({"dead": [{"eventId": "x"}]}, "refNumber"),
    ],
)
def test_queue_status_drift(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError, match=field):
        contract.QueueStatus.parse(queue_status(**overrides))


def test_last_error_ping_and_list_refresh_replies() -> None:
    assert contract.parse_last_error("") == ""
    assert contract.parse_server_time({"serverTime": 5}) == 5.0
    assert contract.parse_list_refresh({"companyFile": "C:\\a.qbw"}) == "C:\\a.qbw"
    assert contract.parse_list_refresh({"companyFile": None}) is None
    assert contract.parse_list_refresh(None) is None


@pytest.mark.parametrize(
    ("parse", "reply", "message"),
    [
        (contract.parse_last_error, None, "expected text, got NoneType"),
        (contract.parse_server_time, {"serverTime": True}, r"expected \{serverTime: number\}"),
        (contract.parse_server_time, 5, r"expected \{serverTime: number\}, got int"),
        (contract.parse_list_refresh, {"companyFile": 1}, "companyFile must be text or null"),
    ],
)
def test_last_error_ping_and_list_refresh_drift(
    parse: Callable[[Any], Any], reply: Any, message: str
) -> None:
    with pytest.raises(ContractError, match=message):
        parse(reply)


# -- outcomes (bridge -> Convex) ---------------------------------------------------------------


def test_success_payload() -> None:
    assert contract.Success("1A-1700000026", "0").to_payload() == {
        "kind": "success",
        "qbTxnId": "1A-1700000026",
        "statusCode": "0",
    }


def test_found_payload_has_exactly_the_found_txn_shape() -> None:
    full = FoundTransaction(
        txn_id="5-1",
        ref_number="AD-000001",
        txn_date="2024-03-10",
        external_guid=GUID,
        account=QbRef("80000001-1", "Shrinkage"),
        site=QbRef(None, "Main"),
        lines=(FoundLine(QbRef("80000002-1", "SKU-1"), -2.5), FoundLine(None, 1.0)),
    )
    bare = FoundTransaction(txn_id="6-1", ref_number=None, txn_date=None)
    assert contract.Found((full, bare)).to_payload() == {
        "kind": "found",
        "transactions": [
            {
                "txnId": "5-1",
                "refNumber": "AD-000001",
                "externalGuid": GUID,
                "account": {"listId": "80000001-1", "fullName": "Shrinkage"},
                "site": {"listId": None, "fullName": "Main"},
                "fromSite": None,
                "toSite": None,
                "lines": [
                    {"item": {"listId": "80000002-1", "fullName": "SKU-1"}, "quantity": -2.5},
                    {"item": None, "quantity": 1.0},
                ],
            },
            {
                "txnId": "6-1",
                "refNumber": None,
                "externalGuid": None,
                "account": None,
                "site": None,
                "fromSite": None,
                "toSite": None,
                "lines": [],
            },
        ],
    }


def test_found_drops_transactions_without_a_txn_id() -> None:
    """vFoundTxn requires txnId: a match QuickBooks gave no TxnID cannot be recorded."""
    found = contract.Found(
        (
            FoundTransaction(txn_id=None, ref_number="AD-000001", txn_date=None),
            FoundTransaction(txn_id="7-7", ref_number="AD-000001", txn_date=None),
        )
    )
    assert [t["txnId"] for t in found.to_payload()["transactions"]] == ["7-7"]
    assert contract.Found(()).to_payload() == {"kind": "found", "transactions": []}


def test_not_found_payload() -> None:
    assert contract.NotFound().to_payload() == {"kind": "not_found"}


def test_retryable_payloads() -> None:
    assert contract.Retryable("locked").to_payload() == {"kind": "retryable", "message": "locked"}
    assert contract.Retryable("locked", "3175").to_payload() == {
        "kind": "retryable",
        "message": "locked",
        "statusCode": "3175",
    }
    assert contract.Retryable("no TxnID", "0", lookup_required=True).to_payload() == {
        "kind": "retryable",
        "message": "no TxnID",
        "statusCode": "0",
        "lookupRequired": True,
    }


def test_permanent_payloads() -> None:
    assert contract.Permanent("bad ref", "3140").to_payload() == {
        "kind": "permanent",
        "message": "bad ref",
        "statusCode": "3140",
    }
    assert contract.Permanent("bad").to_payload() == {"kind": "permanent", "message": "bad"}


@pytest.mark.parametrize(
    "outcome",
    [
        contract.Retryable("x" * 5000, "3175"),
        contract.Permanent("y" * 2001),
        contract.WholeMessageFailed("z" * 10_000, "0x80040400"),
    ],
)
def test_messages_are_cut_to_2000_characters(
    outcome: contract.Retryable | contract.Permanent | contract.WholeMessageFailed,
) -> None:
    message = outcome.to_payload()["message"]
    assert len(message) == 2000
    assert message == outcome.message[:2000]


def test_a_message_at_the_limit_is_kept_whole() -> None:
    assert contract.Permanent("p" * 2000).to_payload()["message"] == "p" * 2000


def test_response_payloads() -> None:
    answers = contract.Answers(
        (
            contract.Answered("e1:1", contract.Success("1-1", "0")),
            contract.Answered("e2:1", contract.NotFound()),
        )
    )
    assert answers.to_payload() == {
        "kind": "answers",
        "answers": [
            {
                "requestId": "e1:1",
                "outcome": {"kind": "success", "qbTxnId": "1-1", "statusCode": "0"},
            },
            {"requestId": "e2:1", "outcome": {"kind": "not_found"}},
        ],
    }
    assert contract.WholeMessageFailed("parse error", "0x80040400").to_payload() == {
        "kind": "failed",
        "message": "parse error",
        "statusCode": "0x80040400",
    }
    # No HRESULT: no statusCode key at all (vResponse's statusCode is optional, never null).
    assert contract.WholeMessageFailed("unreadable").to_payload() == {
        "kind": "failed",
        "message": "unreadable",
    }
