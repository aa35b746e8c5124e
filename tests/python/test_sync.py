"""The sync step (SyncService) against a fake gateway: what each QBWC call says and sends.

Only Convex is fake: a `FakeGateway` answers from a script and records every
call, so each test can check both what QBWC hears and the ONE call that
reached Convex. Rendering, parsing, status codes and the password check are
the real ones. A call the script did not expect raises `Unscripted`, a
BaseException, so the service's catch-all cannot turn it into a clean answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from html import escape
from typing import Any, cast

import pytest
import structlog
from lxml import etree
from structlog.testing import capture_logs
from support.qb_simulator import QuickBooksSimulator
from support.qbxml_schema import assert_valid, load_schema

from qbwc_bridge import contract, qbwc
from qbwc_bridge.auth import LoginThrottle, hash_password, ticket_hash
from qbwc_bridge.config import Settings, load_settings
from qbwc_bridge.convex_gateway import ConvexCallError, ConvexGateway, ConvexUnavailable
from qbwc_bridge.qbxml import status_codes
from qbwc_bridge.qbxml.model import FoundLine, FoundTransaction, QbRef
from qbwc_bridge.sync import CONVEX_DOWN, SyncService
from qbwc_bridge.versions import QbxmlVersion

USER = "qbwc"
PASSWORD = "correct horse battery"
SESSION = "k57a2b3c4d5e6f7g8h9j0k1m2n3p4q5r"
OCCURRED = 1710041400000  # 2024-03-10 UTC


class Unscripted(BaseException):
    """The service called the gateway in a way the test did not script."""


@dataclasses.dataclass(frozen=True)
class Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class FakeGateway:
    """The gateway methods SyncService uses; replies come from a script, calls are recorded.

    A scripted reply may be a value, an exception (raised), or a callable
    (called with the call's arguments).
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.hcp: list[tuple[contract.QueryOutcome, ...]] = []
        self.list_max_age_ms: list[int | None] = []
        self._script: dict[str, list[Any]] = {}

    def script(self, method: str, *replies: Any) -> FakeGateway:
        self._script.setdefault(method, []).extend(replies)
        return self

    @property
    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def only(self, method: str) -> Call:
        """The one call made, which must be `method`."""
        assert self.methods == [method], self.methods
        return self.calls[0]

    def _answer(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(Call(method, args, kwargs))
        replies = self._script.get(method)
        if not replies:
            raise Unscripted(f"gateway.{method}{args} was not expected")
        reply = replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(*args, **kwargs)
        return reply

    def authenticate(
        self,
        ticket_hash: str,
        user_name: str,
        ttl_ms: int,
        company_file: str,
        *,
        list_max_age_ms: int | None = None,
        reconcile_every_ms: int | None = None,
    ) -> contract.AuthDecision:
        return cast(
            contract.AuthDecision,
            self._answer("authenticate", ticket_hash, user_name, ttl_ms, company_file),
        )

    def next_message(
        self,
        ticket_hash: str,
        limit: int,
        company_file: str,
        qbxml_version: str,
        *,
        hcp: Sequence[contract.QueryOutcome] = (),
        list_max_age_ms: int | None = None,
        reconcile_every_ms: int | None = None,
    ) -> contract.SendResult:
        self.hcp.append(tuple(hcp))
        self.list_max_age_ms.append(list_max_age_ms)
        return cast(
            contract.SendResult,
            self._answer("next_message", ticket_hash, limit, company_file, qbxml_version),
        )

    def refuse(
        self, ticket_hash: str, refusals: list[tuple[str, str]]
    ) -> tuple[contract.ClaimResult, ...]:
        return cast(
            tuple[contract.ClaimResult, ...], self._answer("refuse", ticket_hash, list(refusals))
        )

    def record_answer(
        self, ticket_hash: str, response: contract.Response
    ) -> contract.ReceiveResult:
        return cast(contract.ReceiveResult, self._answer("record_answer", ticket_hash, response))

    def close(
        self, ticket_hash: str, reason: str, error: str | None = None
    ) -> contract.SessionView | None:
        return cast(
            contract.SessionView | None, self._answer("close", ticket_hash, reason, error=error)
        )

    def last_error(self, ticket_hash: str) -> str:
        return cast(str, self._answer("last_error", ticket_hash))


def make_settings(**overrides: Any) -> Settings:
    settings = load_settings(
        {"QBWC_USERNAME": USER, "QBWC_PASSWORD": PASSWORD, "QB_TIMEZONE": "UTC"}, env_file=None
    )
    return dataclasses.replace(settings, **overrides)


@pytest.fixture(autouse=True)
def default_logging() -> Iterator[None]:
    """structlog's defaults, whatever an earlier test configured (e.g. a closed stream)."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def clock() -> list[float]:
    return [1_000_000.0]


@pytest.fixture
def throttle(clock: list[float]) -> LoginThrottle:
    return LoginThrottle(free_attempts=2, clock=lambda: clock[0])


@pytest.fixture
def service(gateway: FakeGateway, throttle: LoginThrottle) -> SyncService:
    return SyncService(make_settings(), cast(ConvexGateway, gateway), throttle)


def with_settings(service: SyncService, **overrides: Any) -> SyncService:
    return dataclasses.replace(service, settings=make_settings(**overrides))


# -- the events Convex hands out --------------------------------------------------------------


def payload(n: int, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": f"e{n}",
        "claimToken": f"e{n}:1",
        "mode": "send",
        "type": "adjustment",
        "refNumber": f"AD-{n:06d}",
        "externalGuid": f"{{0123ABCD-0000-4000-8000-{n:012d}}}",
        "occurredAt": OCCURRED,
        "memo": None,
        "retryCount": 0,
        "account": {"listId": None, "fullName": "Shrinkage"},
        "site": {"listId": None, "fullName": "Main"},
        "lines": [{"sku": "SKU-1", "item": {"listId": None, "fullName": "SKU-1"}, "quantity": -n}],
    }
    event.update(overrides)
    return event


def claimed(*payloads: dict[str, Any]) -> contract.Claimed:
    """A sendRequest reply, parsed by the real contract (unreadable payloads included)."""
    result = contract.parse_send_result(
        {"status": "events", "sessionId": SESSION, "messageId": "m1", "events": list(payloads)}
    )
    assert isinstance(result, contract.Claimed)
    return result


def dead(token: str) -> contract.ClaimResult:
    event_id = token.split(":")[0]
    state = contract.QueueState(event_id, "AD-0", "dead", 0, 0.0, None, "refused", False, None)
    return contract.ClaimResult(state, changed=True, stale=False)


def refused_all(ticket_hash: str, refusals: list[tuple[str, str]]) -> tuple[Any, ...]:
    return tuple(dead(token) for token, _ in refusals)


NOTHING = contract.NothingToSend(SESSION, "Nothing left to send")
REJECTED = contract.TicketRejected("expired", "This Web Connector session expired")


def request_ids(xml: str) -> list[str | None]:
    root = assert_valid(xml)
    return [rq.get("requestID") for rq in root.find("QBXMLMsgsRq")]


def send(service: SyncService, ticket: str = "t-1", **kwargs: Any) -> str:
    args: dict[str, Any] = {
        "hcp_response": "",
        "company_file": "",
        "country": "US",
        "major": 13,
        "minor": 0,
    }
    args.update(kwargs)
    return service.send_request(ticket, **args)


# -- the handshake: no Convex at all -------------------------------------------------------------


def test_server_and_client_version_make_no_gateway_call(
    service: SyncService, gateway: FakeGateway
) -> None:
    assert service.server_version().startswith("qbwc-bridge ")
    assert service.client_version("2.3.0.215") == ""
    assert service.client_version("") == ""
    assert service.client_version(None) == ""
    assert gateway.calls == []


def test_an_old_web_connector_is_refused_with_a_message(service: SyncService) -> None:
    service = with_settings(service, min_client_version=(2, 1, 0, 30))
    answer = service.client_version("2.0.1.7")
    assert answer.startswith("E:")
    assert "2.0.1.7" in answer
    assert "2.1.0.30" in answer
    assert service.client_version("2.1.0.30") == ""
    assert service.client_version("10.0") == ""  # numbers, not text: 10 > 2


def test_an_unreadable_client_version_is_let_through(service: SyncService) -> None:
    service = with_settings(service, min_client_version=(99,))
    assert service.client_version("two point three") == ""
    assert service.client_version("1.0").startswith("E:")


# -- authenticate --------------------------------------------------------------------------------


def test_bad_password_is_nvu_without_asking_convex(
    service: SyncService, gateway: FakeGateway, throttle: LoginThrottle
) -> None:
    assert service.authenticate(USER, "wrong") == ["", qbwc.AUTH_NOT_VALID_USER]
    assert service.authenticate("someone-else", PASSWORD) == ["", qbwc.AUTH_NOT_VALID_USER]
    assert gateway.calls == []
    assert throttle.retry_after(USER) == 0  # one failure is free


def test_the_throttle_counts_bad_passwords_and_then_refuses_even_the_right_one(
    service: SyncService, gateway: FakeGateway, throttle: LoginThrottle, clock: list[float]
) -> None:
    for _ in range(3):
        assert service.authenticate(USER, "guess") == ["", qbwc.AUTH_NOT_VALID_USER]
    assert throttle.retry_after(USER) == pytest.approx(2.0)
    # Blocked: the right password is not even checked, and Convex hears nothing.
    assert service.authenticate(USER, PASSWORD) == ["", qbwc.AUTH_NOT_VALID_USER]
    assert gateway.calls == []
    clock[0] += 2.5
    gateway.script("authenticate", contract.NothingDue())
    ticket, answer = service.authenticate(USER, PASSWORD)
    assert (bool(ticket), answer) == (True, qbwc.AUTH_NONE)
    # A success resets the count: the next mistake is a free one again.
    assert service.authenticate(USER, "typo") == ["", qbwc.AUTH_NOT_VALID_USER]
    assert throttle.retry_after(USER) == 0


def test_a_password_hash_is_checked_too(gateway: FakeGateway, throttle: LoginThrottle) -> None:
    settings = make_settings(qbwc_password=None, qbwc_password_hash=hash_password(PASSWORD, 1000))
    service = SyncService(settings, cast(ConvexGateway, gateway), throttle)
    assert service.authenticate(USER, "nope") == ["", qbwc.AUTH_NOT_VALID_USER]
    gateway.script("authenticate", contract.SessionOpened(SESSION, 1.0))
    assert service.authenticate(USER, PASSWORD)[1] == qbwc.AUTH_USE_OPEN_COMPANY


def test_session_opened_is_the_ticket_and_the_open_company_file(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("authenticate", contract.SessionOpened(SESSION, 1.0))
    ticket, company = service.authenticate(USER, PASSWORD)
    assert len(ticket) >= 40
    assert company == ""  # "" = the company file open in QuickBooks
    call = gateway.only("authenticate")
    # Convex sees the ticket's hash, never the ticket.
    assert call.args == (ticket_hash(ticket), USER, 3600 * 1000, "")
    assert ticket not in repr(call)


def test_session_opened_names_the_configured_company_file(
    service: SyncService, gateway: FakeGateway
) -> None:
    service = with_settings(service, company_file="C:\\Books\\Acme.qbw", session_ttl_seconds=600)
    gateway.script("authenticate", contract.SessionOpened(SESSION, 1.0))
    _, company = service.authenticate(USER, PASSWORD)
    assert company == "C:\\Books\\Acme.qbw"
    assert gateway.only("authenticate").args[2:] == (600_000, "C:\\Books\\Acme.qbw")


def test_each_authenticate_gets_a_new_ticket(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("authenticate", contract.NothingDue(), contract.NothingDue())
    first = service.authenticate(USER, PASSWORD)[0]
    second = service.authenticate(USER, PASSWORD)[0]
    assert first != second
    assert [call.args[0] for call in gateway.calls] == [ticket_hash(first), ticket_hash(second)]


def test_nothing_due_is_none(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("authenticate", contract.NothingDue())
    answer = service.authenticate(USER, PASSWORD)
    assert len(answer) == 2
    assert answer[0] != ""
    assert answer[1] == qbwc.AUTH_NONE
    gateway.only("authenticate")


def test_nothing_due_asks_qbwc_to_postpone_when_configured(
    service: SyncService, gateway: FakeGateway
) -> None:
    service = with_settings(service, postpone_seconds=900)
    gateway.script("authenticate", contract.NothingDue())
    _, answer, postpone = service.authenticate(USER, PASSWORD)
    assert (answer, postpone) == (qbwc.AUTH_NONE, "900")
    gateway.only("authenticate")


def test_postpone_is_only_for_nothing_due(service: SyncService, gateway: FakeGateway) -> None:
    service = with_settings(service, postpone_seconds=900)
    gateway.script("authenticate", contract.SessionOpened(SESSION, 1.0))
    assert len(service.authenticate(USER, PASSWORD)) == 2


def test_another_writer_is_busy(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("authenticate", contract.WriterBusy("Another Web Connector is syncing"))
    ticket, answer = service.authenticate(USER, PASSWORD)
    assert ticket != ""  # QBWC asks getLastError with it: Convex names the other writer
    assert answer == qbwc.AUTH_BUSY
    gateway.only("authenticate")


def test_convex_unreachable_is_busy_without_a_ticket(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("authenticate", ConvexUnavailable("Convex at http://x is unreachable"))
    with capture_logs() as logs:
        assert service.authenticate(USER, PASSWORD) == ["", qbwc.AUTH_BUSY]
    gateway.only("authenticate")
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "convex_unavailable"
    ]


@pytest.mark.parametrize(
    "error",
    [
        ConvexCallError("qbSessions:authenticate", "unexpected reply from Convex: status"),
        RuntimeError("boom"),
        KeyError("sessionId"),
    ],
)
def test_any_other_failure_is_busy_and_logged_with_its_traceback(
    service: SyncService, gateway: FakeGateway, error: Exception
) -> None:
    gateway.script("authenticate", error)
    with capture_logs() as logs:
        assert service.authenticate(USER, PASSWORD) == ["", qbwc.AUTH_BUSY]
    (logged,) = [entry for entry in logs if entry["event"] == "sync_call_failed"]
    assert logged["log_level"] == "error"
    assert logged["call"] == "authenticate"
    assert logged["exc_info"] is True
    gateway.only("authenticate")


# -- sendRequestXML -------------------------------------------------------------------------------


def test_claimed_events_are_rendered_with_claim_tokens_as_request_ids(
    service: SyncService, gateway: FakeGateway
) -> None:
    lookup = payload(3, mode="lookup", claimToken="e3:2")
    gateway.script("next_message", claimed(payload(1), payload(2), lookup))
    xml = send(service)
    assert request_ids(xml) == ["e1:1", "e2:1", "e3:2"]
    root = etree.fromstring(xml.encode())
    assert [rq.tag for rq in root.find("QBXMLMsgsRq")] == [
        "InventoryAdjustmentAddRq",
        "InventoryAdjustmentAddRq",
        "InventoryAdjustmentQueryRq",
    ]
    assert root.findtext(".//InventoryAdjustmentAdd/ExternalGUID") == payload(1)["externalGuid"]
    assert root.findtext(".//TxnDate") == "2024-03-10"  # counted in QB_TIMEZONE
    call = gateway.only("next_message")
    assert call.args == (ticket_hash("t-1"), 25, "", "13.0")


def test_batch_size_and_company_file_go_to_convex(
    service: SyncService, gateway: FakeGateway
) -> None:
    service = with_settings(service, batch_size=7)
    gateway.script("next_message", NOTHING)
    send(service, company_file="C:\\Books\\Acme.qbw")
    assert gateway.only("next_message").args[1:3] == (7, "C:\\Books\\Acme.qbw")


@pytest.mark.parametrize(
    ("configured", "major", "minor", "agreed"),
    [
        ("13.0", 16, 0, "13.0"),
        ("13.0", 12, 0, "12.0"),
        ("13.0", None, None, "13.0"),
        ("13.0", 0, 0, "13.0"),
        ("11.0", 13, 0, "11.0"),
        ("13.0", 8, 1, "8.1"),
    ],
)
def test_the_qbxml_version_is_the_lower_of_setting_and_qbwc(
    service: SyncService,
    gateway: FakeGateway,
    configured: str,
    major: int | None,
    minor: int | None,
    agreed: str,
) -> None:
    service = with_settings(service, qbxml_version=QbxmlVersion.parse(configured))
    gateway.script("next_message", claimed(payload(1, site=None)))
    xml = send(service, major=major, minor=minor)
    assert f'<?qbxml version="{agreed}"?>' in xml
    assert gateway.only("next_message").args[3] == agreed
    # Below 9.0 QuickBooks would refuse the whole message over an ExternalGUID.
    assert ("<ExternalGUID>" in xml) == (QbxmlVersion.parse(agreed) >= QbxmlVersion(9, 0))


def test_nothing_to_send_is_an_empty_string(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("next_message", NOTHING)
    assert send(service) == qbwc.NO_REQUEST
    gateway.only("next_message")


def test_a_rejected_ticket_is_an_empty_string(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("next_message", REJECTED)
    assert send(service) == qbwc.NO_REQUEST
    gateway.only("next_message")


@pytest.mark.parametrize("error", [ConvexUnavailable("down"), RuntimeError("boom")])
def test_a_failing_convex_is_an_empty_string(
    service: SyncService, gateway: FakeGateway, error: Exception
) -> None:
    gateway.script("next_message", error)
    assert send(service) == qbwc.NO_REQUEST
    gateway.only("next_message")


def test_unrenderable_events_are_refused_and_the_rest_is_sent(
    service: SyncService, gateway: FakeGateway
) -> None:
    no_account = payload(2, account=None, reasonCode="SHRINK")
    unreadable = payload(3, mode="resend")
    gateway.script("next_message", claimed(payload(1), no_account, unreadable, payload(4)))
    gateway.script("refuse", refused_all)
    xml = send(service)
    assert request_ids(xml) == ["e1:1", "e4:1"]
    assert gateway.methods == ["next_message", "refuse"]
    ticket, refusals = gateway.calls[1].args
    assert ticket == ticket_hash("t-1")
    assert [token for token, _ in refusals] == ["e3:1", "e2:1"]  # unreadable first, then render
    reasons = dict(refusals)
    assert "unreadable event" in reasons["e3:1"]
    assert "reason code SHRINK has no QuickBooks account mapped" in reasons["e2:1"]


def test_refusals_are_logged_as_events_and_as_reads(
    service: SyncService, gateway: FakeGateway
) -> None:
    # A refused read is no event: it is logged under its own name, with its kind and id.
    events = claimed(payload(1), payload(2, account=None), payload(3, mode="resend"))
    unpaged = contract.QueryRequest("r1", "ItemInventoryQuery")
    gateway.script("next_message", dataclasses.replace(events, queries=(unpaged,)))
    gateway.script("refuse", refused_all)
    with capture_logs() as logs:
        assert request_ids(send(service)) == ["e1:1"]
    assert [token for token, _ in gateway.calls[1].args[1]] == ["e3:1", "e2:1", "r1"]
    refused = [entry for entry in logs if entry["event"].endswith("_unrenderable")]
    assert [
        (entry["event"], entry.get("event_id"), entry.get("ref_number")) for entry in refused
    ] == [
        ("event_unrenderable", "e3", "AD-000003"),
        ("event_unrenderable", "e2", "AD-000002"),
        ("quickbooks_read_unrenderable", None, None),
    ]
    assert [entry.get("claim_token") for entry in refused] == ["e3:1", "e2:1", None]
    read = refused[2]
    assert (read["kind"], read["request_id"]) == ("ItemInventoryQuery", "r1")
    assert "must be read in pages" in read["reason"]
    assert all(entry["log_level"] == "error" for entry in refused)


def test_when_every_event_is_refused_the_next_batch_is_claimed(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script(
        "next_message",
        claimed(payload(1, lines=[]), payload(2, account=None)),
        claimed(payload(3)),
    )
    gateway.script("refuse", refused_all)
    xml = send(service)
    assert request_ids(xml) == ["e3:1"]
    assert gateway.methods == ["next_message", "refuse", "next_message"]
    assert [token for token, _ in gateway.calls[1].args[1]] == ["e1:1", "e2:1"]
    # Every claim goes out under the same ticket and the same agreed version.
    assert {call.args[0] for call in gateway.calls} == {ticket_hash("t-1")}


def test_when_everything_is_refused_and_nothing_is_left_qbwc_hears_nothing(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("next_message", claimed(payload(1, lines=[])), NOTHING)
    gateway.script("refuse", refused_all)
    assert send(service) == qbwc.NO_REQUEST
    assert gateway.methods == ["next_message", "refuse", "next_message"]


def test_a_refusal_that_fails_sends_nothing(service: SyncService, gateway: FakeGateway) -> None:
    """The refused event stays claimed; QBWC hears "" rather than a half-recorded message."""
    gateway.script("next_message", claimed(payload(1), payload(2, lines=[])))
    gateway.script("refuse", ConvexUnavailable("down"))
    assert send(service) == qbwc.NO_REQUEST
    assert gateway.methods == ["next_message", "refuse"]


def test_the_host_answer_is_only_logged(service: SyncService, gateway: FakeGateway) -> None:
    hcp = (
        "<QBXML><QBXMLMsgsRs><HostQueryRs><HostRet><ProductName>QuickBooks Enterprise"
        "</ProductName><SupportedQBXMLVersion>13.0</SupportedQBXMLVersion></HostRet>"
        "</HostQueryRs></QBXMLMsgsRs></QBXML>"
    )
    gateway.script("next_message", NOTHING, NOTHING)
    with capture_logs() as logs:
        assert send(service, hcp_response=hcp) == ""
        assert send(service, hcp_response="<<garbage") == ""
    host = next(entry for entry in logs if entry["event"] == "quickbooks_host")
    assert host["product"] == "QuickBooks Enterprise"
    assert host["supported_versions"] == ("13.0",)
    assert gateway.methods == ["next_message", "next_message"]
    # What QuickBooks said goes to Convex with the call; garbage says nothing.
    assert [type(f).__name__ for f in gateway.hcp[0]] == ["HostInfo"]
    assert gateway.hcp[1] == ()
    assert gateway.list_max_age_ms == [24 * 3600 * 1000] * 2


# -- receiveResponseXML ---------------------------------------------------------------------------


def recorded(percent: int = 50) -> contract.Recorded:
    return contract.Recorded(SESSION, percent, ())


def sent_response(service: SyncService, gateway: FakeGateway, response: str) -> contract.Response:
    """What receive_response passed to the gateway for `response` (Convex says 50%)."""
    gateway.script("record_answer", recorded())
    before = len(gateway.calls)
    assert service.receive_response("t-1", response, "", "") == 50
    assert gateway.methods[before:] == ["record_answer"]
    call = gateway.calls[-1]
    assert call.args[0] == ticket_hash("t-1")
    return cast(contract.Response, call.args[1])


def outcomes(service: SyncService, gateway: FakeGateway, *rs: str) -> dict[str, contract.Outcome]:
    response = sent_response(
        service, gateway, f"<QBXML><QBXMLMsgsRs>{''.join(rs)}</QBXMLMsgsRs></QBXML>"
    )
    assert isinstance(response, contract.Answers)
    return {answer.request_id: answer.outcome for answer in response.answers}


def rs(kind: str, request_id: str, code: int, message: str = "", body: str = "") -> str:
    severity = "Info" if code < 500 else "Warn" if code < 1000 else "Error"
    return (
        f'<{kind}Rs requestID="{request_id}" statusCode="{code}" statusSeverity="{severity}" '
        f'statusMessage="{escape(message, quote=True)}">{body}</{kind}Rs>'
    )


ADJ_RET = (
    "<InventoryAdjustmentRet><TxnID>1A-1700000026</TxnID><TxnDate>2024-03-10</TxnDate>"
    "<RefNumber>AD-000001</RefNumber></InventoryAdjustmentRet>"
)
BAD_REF = 'There is an invalid reference to QuickBooks Item "GHOST" in the Inventory Adjustment.'


def test_an_add_with_a_txn_id_is_a_success(service: SyncService, gateway: FakeGateway) -> None:
    got = outcomes(service, gateway, rs("InventoryAdjustmentAdd", "e1:1", 0, "Status OK", ADJ_RET))
    assert got == {"e1:1": contract.Success("1A-1700000026", "0")}


def test_a_warning_with_a_txn_id_is_a_success(service: SyncService, gateway: FakeGateway) -> None:
    got = outcomes(service, gateway, rs("InventoryAdjustmentAdd", "e1:1", 530, "odd", ADJ_RET))
    assert got == {"e1:1": contract.Success("1A-1700000026", "530")}


@pytest.mark.parametrize("code", [0, 510])
def test_an_add_success_without_a_txn_id_needs_a_lookup(
    service: SyncService, gateway: FakeGateway, code: int
) -> None:
    got = outcomes(service, gateway, rs("TransferInventoryAdd", "e1:1", code, "OK"))
    outcome = got["e1:1"]
    assert isinstance(outcome, contract.Retryable)
    assert outcome.lookup_required is True
    assert outcome.status_code == str(code)
    assert "without a TxnID" in outcome.message


def test_an_error_is_not_a_success_even_with_a_ret(
    service: SyncService, gateway: FakeGateway
) -> None:
    """Only the status decides; a stray Ret in an error answer records nothing as applied."""
    got = outcomes(service, gateway, rs("InventoryAdjustmentAdd", "e1:1", 3140, BAD_REF, ADJ_RET))
    assert isinstance(got["e1:1"], contract.Permanent)


def test_a_query_without_match_is_not_found(service: SyncService, gateway: FakeGateway) -> None:
    got = outcomes(service, gateway, rs("TransferInventoryQuery", "e1:2", 1, "No match"))
    assert got == {"e1:2": contract.NotFound()}


def test_a_query_with_matches_is_found_with_their_content(
    service: SyncService, gateway: FakeGateway
) -> None:
    body = (
        "<InventoryAdjustmentRet><TxnID>5-5</TxnID>"
        "<AccountRef><FullName>Shrinkage</FullName></AccountRef>"
        "<TxnDate>2024-03-10</TxnDate><RefNumber>AD-000001</RefNumber>"
        "<ExternalGUID>{0123ABCD-0000-4000-8000-000000000001}</ExternalGUID>"
        "<InventoryAdjustmentLineRet><ItemRef><ListID>80-1</ListID></ItemRef>"
        "<QuantityDifference>-1</QuantityDifference></InventoryAdjustmentLineRet>"
        "</InventoryAdjustmentRet>"
        "<InventoryAdjustmentRet><TxnID>6-6</TxnID><RefNumber>AD-0000011</RefNumber>"
        "</InventoryAdjustmentRet>"
    )
    got = outcomes(service, gateway, rs("InventoryAdjustmentQuery", "e1:2", 0, "OK", body))
    assert got == {
        "e1:2": contract.Found(
            (
                FoundTransaction(
                    txn_id="5-5",
                    ref_number="AD-000001",
                    txn_date="2024-03-10",
                    external_guid="{0123ABCD-0000-4000-8000-000000000001}",
                    account=QbRef(None, "Shrinkage"),
                    lines=(FoundLine(QbRef("80-1", None), -1.0),),
                ),
                FoundTransaction(txn_id="6-6", ref_number="AD-0000011", txn_date=None),
            )
        )
    }


def test_a_query_success_with_no_match_listed_is_found_nothing(
    service: SyncService, gateway: FakeGateway
) -> None:
    """Convex decides what an empty list means; the bridge does not guess 'not found'."""
    got = outcomes(service, gateway, rs("InventoryAdjustmentQuery", "e1:2", 0, "OK"))
    assert got == {"e1:2": contract.Found(())}


def test_a_permanent_code_carries_quickbooks_message_and_the_hint(
    service: SyncService, gateway: FakeGateway
) -> None:
    got = outcomes(service, gateway, rs("InventoryAdjustmentAdd", "e1:1", 3140, BAD_REF))
    outcome = got["e1:1"]
    assert isinstance(outcome, contract.Permanent)
    assert outcome.status_code == "3140"
    hint = status_codes.classify(3140).hint
    assert hint and "map it in Convex" in hint
    assert outcome.message == f"QuickBooks error 3140: {BAD_REF} -> {hint}"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (3175, "This record is in use by another QuickBooks user."),
        (3180, "There was an error when saving. This record is being used by another user."),
        (1010, "System not available"),
        (3231, "The request has not been processed."),
        (9999, "Something new"),  # unknown codes are retried, not killed
    ],
)
def test_locks_and_temporary_failures_are_retryable(
    service: SyncService, gateway: FakeGateway, code: int, message: str
) -> None:
    got = outcomes(service, gateway, rs("TransferInventoryAdd", "e1:1", code, message))
    outcome = got["e1:1"]
    assert isinstance(outcome, contract.Retryable)
    assert (outcome.status_code, outcome.lookup_required) == (str(code), False)
    assert outcome.message.startswith(f"QuickBooks error {code}: {message}")


def test_3180_that_is_not_a_lock_is_permanent(service: SyncService, gateway: FakeGateway) -> None:
    message = "There was an error when saving. You cannot transfer more than you have."
    got = outcomes(service, gateway, rs("TransferInventoryAdd", "e1:1", 3180, message))
    assert isinstance(got["e1:1"], contract.Permanent)


def test_a_failed_query_is_classified_like_an_add(
    service: SyncService, gateway: FakeGateway
) -> None:
    got = outcomes(
        service,
        gateway,
        rs("TransferInventoryQuery", "e1:2", 3175, "in use by another user"),
        rs("TransferInventoryQuery", "e2:2", 3250, "feature not enabled"),
    )
    assert isinstance(got["e1:2"], contract.Retryable)
    assert isinstance(got["e2:2"], contract.Permanent)


def test_every_answer_of_a_message_goes_in_one_call_in_order(
    service: SyncService, gateway: FakeGateway
) -> None:
    response = sent_response(
        service,
        gateway,
        "<QBXML><QBXMLMsgsRs>"
        + rs("InventoryAdjustmentAdd", "e1:1", 0, "OK", ADJ_RET)
        + rs("InventoryAdjustmentAdd", "e2:1", 3140, BAD_REF)
        + rs("TransferInventoryQuery", "e3:2", 1, "No match")
        + "</QBXMLMsgsRs></QBXML>",
    )
    assert isinstance(response, contract.Answers)
    assert [(a.request_id, type(a.outcome).__name__) for a in response.answers] == [
        ("e1:1", "Success"),
        ("e2:1", "Permanent"),
        ("e3:2", "NotFound"),
    ]


@pytest.mark.parametrize("percent", [0, 37, 100])
def test_recorded_percent_is_returned_as_is(
    service: SyncService, gateway: FakeGateway, percent: int
) -> None:
    gateway.script("record_answer", recorded(percent))
    body = rs("InventoryAdjustmentAdd", "e1:1", 0, "OK", ADJ_RET)
    response = f"<QBXML><QBXMLMsgsRs>{body}</QBXMLMsgsRs></QBXML>"
    assert service.receive_response("t-1", response, "", "") == percent
    gateway.only("record_answer")


def test_an_hresult_fails_the_whole_message_with_its_hint(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("record_answer", contract.ResponseFailed(SESSION, "recorded"))
    message = "QuickBooks found an error when parsing the provided XML text stream."
    result = service.receive_response("t-1", "", "0x80040400", message)
    assert result == qbwc.PERCENT_ERROR
    call = gateway.only("record_answer")
    assert call.args[0] == ticket_hash("t-1")
    failed = call.args[1]
    assert isinstance(failed, contract.WholeMessageFailed)
    assert failed.status_code == "0x80040400"
    assert "0x80040400" in failed.message
    assert message in failed.message
    hint = status_codes.hresult_hint("0x80040400")
    assert hint and failed.message.endswith(hint)


def test_an_unknown_hresult_still_fails_the_whole_message(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("record_answer", contract.ResponseFailed(SESSION, "recorded"))
    assert service.receive_response("t-1", "<QBXML/>", "0x8004FFFF", "odd") == -1
    failed = gateway.only("record_answer").args[1]
    assert isinstance(failed, contract.WholeMessageFailed)
    assert failed.status_code == "0x8004FFFF"
    assert failed.message == "QuickBooks could not process the request (0x8004FFFF: odd)"


@pytest.mark.parametrize(
    ("response", "needle"),
    [
        ("not xml <", "unreadable"),
        ("<html>502 Bad gateway</html>", "unreadable"),
        (
            '<QBXML><QBXMLMsgsRs><InventoryAdjustmentAddRs requestID="e1:1"/></QBXMLMsgsRs></QBXML>',
            "statusCode",
        ),
        ("", "empty response"),
        ("   ", "empty response"),
    ],
)
def test_an_unreadable_or_empty_response_fails_the_whole_message(
    service: SyncService, gateway: FakeGateway, response: str, needle: str
) -> None:
    gateway.script("record_answer", contract.ResponseFailed(SESSION, "recorded"))
    assert service.receive_response("t-1", response, "", "") == qbwc.PERCENT_ERROR
    failed = gateway.only("record_answer").args[1]
    assert isinstance(failed, contract.WholeMessageFailed)
    assert failed.status_code is None
    assert needle in failed.message


@pytest.mark.parametrize(
    "reply",
    [
        contract.Mismatch(SESSION, "This answer does not belong to the request sent last"),
        contract.ResponseFailed(SESSION, "recorded"),
        REJECTED,
        ConvexUnavailable("down"),
        RuntimeError("boom"),
    ],
    ids=["mismatch", "failed", "rejected", "unavailable", "bug"],
)
def test_anything_but_recorded_is_minus_one(
    service: SyncService, gateway: FakeGateway, reply: Any
) -> None:
    gateway.script("record_answer", reply)
    body = rs("InventoryAdjustmentAdd", "e1:1", 0, "OK", ADJ_RET)
    response = f"<QBXML><QBXMLMsgsRs>{body}</QBXMLMsgsRs></QBXML>"
    assert service.receive_response("t-1", response, "", "") == qbwc.PERCENT_ERROR
    gateway.only("record_answer")


def test_a_round_trip_through_simulated_quickbooks(
    service: SyncService, gateway: FakeGateway
) -> None:
    """Render -> QuickBooks (simulated) -> parse: every claim token answered with its TxnID."""
    qb = QuickBooksSimulator(load_schema(), items=["SKU-1"], sites=["Main"], accounts=["Shrinkage"])
    bad_item = payload(2, lines=[{"sku": "GHOST", "item": None, "quantity": 1}])
    gateway.script("next_message", claimed(payload(1), bad_item, payload(3, mode="lookup")))
    answer = qb.process(send(service))
    response = sent_response(service, gateway, answer)
    assert isinstance(response, contract.Answers)
    got = {a.request_id: a.outcome for a in response.answers}
    assert got["e1:1"] == contract.Success(qb.find_by_ref("AD-000001")[0].txn_id, "0")
    assert isinstance(got["e2:1"], contract.Permanent)
    assert got["e3:1"] == contract.NotFound()


# -- the endings -----------------------------------------------------------------------------------


def test_connection_error_closes_the_session_with_the_error_and_is_done(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("close", None)
    assert service.connection_error("t-1", "0x80040408", "Could not start QuickBooks.") == "done"
    call = gateway.only("close")
    assert call.args == (ticket_hash("t-1"), "QuickBooks could not be opened")
    error = call.kwargs["error"]
    assert "0x80040408" in error
    assert "Could not start QuickBooks." in error
    assert status_codes.hresult_hint("0x80040408") in error


@pytest.mark.parametrize("failure", [ConvexUnavailable("down"), RuntimeError("boom")])
def test_connection_error_is_done_even_when_convex_fails(
    service: SyncService, gateway: FakeGateway, failure: Exception
) -> None:
    gateway.script("close", failure)
    assert service.connection_error("t-1", "0x80040408", "x") == qbwc.CONNECTION_DONE
    gateway.only("close")


def test_get_last_error_is_what_convex_says(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("last_error", "Nothing left to send")
    assert service.get_last_error("t-1") == "Nothing left to send"
    assert gateway.only("last_error").args == (ticket_hash("t-1"),)


def test_get_last_error_without_convex_says_so(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("last_error", ConvexUnavailable("down"))
    assert service.get_last_error("t-1") == CONVEX_DOWN
    gateway.only("last_error")


def test_get_last_error_on_a_bug_points_to_the_log(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("last_error", ConvexCallError("qbSessions:getLastError", "expected text"))
    assert service.get_last_error("t-1") == "Internal bridge error; see the bridge log."


def view(**tallies: int) -> contract.SessionView:
    counts = {"claimed": 0, "applied": 0, "failed": 0, "dead": 0, "held": 0, **tallies}
    return contract.SessionView(
        session_id=SESSION,
        status="closed",
        user_name=USER,
        company_file=None,
        opened_at=0.0,
        last_seen_at=0.0,
        expires_at=0.0,
        live=False,
        outstanding=0,
        last_error=None,
        close_reason="closed by the Web Connector",
        **counts,
    )


def test_close_of_an_unknown_session_has_nothing_to_sync(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("close", None)
    assert service.close_connection("t-1") == "OK: nothing to sync."
    call = gateway.only("close")
    assert call.args == (ticket_hash("t-1"), "closed by the Web Connector")
    assert call.kwargs == {"error": None}


def test_close_reports_the_tallies(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("close", view(claimed=9, applied=5, failed=2, dead=1))
    assert service.close_connection("t-1") == (
        "OK: 5 applied, 2 failed (will retry), 1 need attention (run `qbwc-bridge status`)."
    )


def test_close_mentions_held_events(service: SyncService, gateway: FakeGateway) -> None:
    gateway.script("close", view(claimed=4, applied=1, failed=0, dead=0, held=3))
    assert service.close_connection("t-1") == (
        "OK: 1 applied, 0 failed (will retry), 0 need attention, "
        "3 held for a decision (run `qbwc-bridge status`)."
    )


@pytest.mark.parametrize("failure", [ConvexUnavailable("down"), RuntimeError("boom")])
def test_close_when_convex_fails(
    service: SyncService, gateway: FakeGateway, failure: Exception
) -> None:
    gateway.script("close", failure)
    assert service.close_connection("t-1") == "Closed, with an error; see the bridge log."


# -- one call per SOAP call ------------------------------------------------------------------------


def test_a_whole_session_is_one_gateway_call_per_soap_call(
    service: SyncService, gateway: FakeGateway
) -> None:
    gateway.script("authenticate", contract.SessionOpened(SESSION, 1.0))
    gateway.script("next_message", claimed(payload(1)), NOTHING)
    gateway.script("record_answer", recorded(100))
    gateway.script("last_error", "Nothing left to send")
    gateway.script("close", view(claimed=1, applied=1))
    steps: list[tuple[str, Callable[[str], object], str | None]] = [
        ("send_request", lambda t: send(service, t), "next_message"),
        (
            "receive_response",
            lambda t: service.receive_response(
                t,
                "<QBXML><QBXMLMsgsRs>"
                + rs("InventoryAdjustmentAdd", "e1:1", 0, "OK", ADJ_RET)
                + "</QBXMLMsgsRs></QBXML>",
                "",
                "",
            ),
            "record_answer",
        ),
        ("send_request", lambda t: send(service, t), "next_message"),
        ("get_last_error", service.get_last_error, "last_error"),
        ("close_connection", service.close_connection, "close"),
    ]
    assert service.server_version()
    assert service.client_version("2.3.0.215") == ""
    assert gateway.calls == []
    ticket, _ = service.authenticate(USER, PASSWORD)
    assert gateway.methods == ["authenticate"]
    for name, step, expected in steps:
        before = len(gateway.calls)
        step(ticket)
        assert gateway.methods[before:] == [expected], name
    # One ticket hash for the whole session.
    assert {call.args[0] for call in gateway.calls} == {ticket_hash(ticket)}
