"""The one door to Convex.

Every call the bridge, the CLI and the importer make goes through
`ConvexGateway`: it authenticates with the deploy key (internal functions
only answer to it), retries transport failures with bounded jittered
backoff, and never retries an answer from a function. A `ConvexError` is a
decision (bad input, a stale claim), and repeating it changes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from convex.http_client import ConvexExecutionError, ConvexHttpClient
from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from convex import ConvexError
from qbwc_bridge import contract
from qbwc_bridge.contract import ContractError
from qbwc_bridge.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")


class ConvexCallError(Exception):
    """Convex answered, and the answer is no: a validation error or a failed function."""

    def __init__(self, path: str, message: str, code: str | None = None, data: Any = None):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.code = code
        self.message = message
        self.data = data


class ConvexUnavailable(Exception):
    """Convex could not be reached, even after retries."""


class _Transient(Exception):
    """Internal marker for failures worth retrying."""


_STATUS_PREFIX = re.compile(r"^(\d{3}) ")


def _call(client_call: Callable[[], T], path: str) -> T:
    """Runs one client call and sorts its failure into retryable or final."""
    try:
        return client_call()
    except ConvexError as error:
        data = error.data
        code = data.get("code") if isinstance(data, dict) else None
        message = data.get("message") if isinstance(data, dict) else None
        raise ConvexCallError(path, str(message or data), code=code, data=data) from None
    except ConvexExecutionError as error:
        raise ConvexCallError(path, str(error)) from None
    except (requests.ConnectionError, requests.Timeout) as error:
        raise _Transient(f"{type(error).__name__}: {error}") from error
    except requests.HTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        if status >= 500 or status in (408, 429):
            raise _Transient(f"HTTP {status}") from error
        raise ConvexCallError(path, f"HTTP {status}") from None
    except ValueError as error:
        # The reply was JSON but not Convex's encoding: not something a retry fixes.
        raise ConvexCallError(path, f"malformed reply from Convex: {error}") from None
    except Exception as error:
        # ConvexHttpClient raises a bare Exception("<status> <code>: <message>")
        # for JSON error bodies; the status decides whether to try again.
        match = _STATUS_PREFIX.match(str(error))
        if match is None:
            raise
        status = int(match.group(1))
        if status >= 500 or status in (408, 429):
            raise _Transient(str(error)) from error
        raise ConvexCallError(path, str(error)) from None


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    log.warning(
        "convex_retry",
        attempt=state.attempt_number,
        error=str(outcome.exception()) if outcome is not None else None,
    )


class ConvexGateway:
    """Calls Convex functions with admin (deploy key) auth and transport retries."""

    def __init__(
        self,
        url: str,
        deploy_key: str,
        *,
        max_attempts: int = 5,
        max_seconds: float = 30.0,
        max_wait: float = 4.0,
    ) -> None:
        self.url = url
        self._client = ConvexHttpClient(url)
        self._client.set_admin_auth(deploy_key)
        self._retrying = retry(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(max_attempts) | stop_after_delay(max_seconds),
            wait=wait_random_exponential(multiplier=0.2, max=max_wait),
            before_sleep=_log_retry,
            reraise=True,
        )

    def _run(self, kind: str, path: str, args: dict[str, Any] | None) -> Any:
        method = getattr(self._client, kind)
        try:
            return self._retrying(_call)(lambda: method(path, args or {}), path)
        except _Transient as error:
            raise ConvexUnavailable(f"Convex at {self.url} is unreachable: {error}") from None

    def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._run("query", path, args)

    def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._run("mutation", path, args)

    def _parsed(self, kind: str, path: str, args: dict[str, Any], parse: Callable[[Any], T]) -> T:
        reply = self._run(kind, path, args)
        try:
            return parse(reply)
        except ContractError as error:
            raise ConvexCallError(path, f"unexpected reply from Convex: {error}") from None

    # -- the seam: one call per QBWC call, keyed by the ticket's hash -----------

    def authenticate(
        self, ticket_hash: str, user_name: str, ttl_ms: int, company_file: str
    ) -> contract.AuthDecision:
        args: dict[str, Any] = {"ticketHash": ticket_hash, "userName": user_name, "ttlMs": ttl_ms}
        if company_file:
            args["companyFile"] = company_file
        return self._parsed(
            "mutation", "qbSessions:authenticate", args, contract.parse_auth_decision
        )

    def next_message(
        self, ticket_hash: str, limit: int, company_file: str, qbxml_version: str
    ) -> contract.SendResult:
        # One call id per SOAP call: a transport retry of it gets the same answer.
        args: dict[str, Any] = {
            "ticketHash": ticket_hash,
            "callId": _call_id(),
            "limit": limit,
            "qbXmlVersion": qbxml_version,
        }
        if company_file:
            args["companyFile"] = company_file
        return self._parsed("mutation", "qbSessions:nextMessage", args, contract.parse_send_result)

    def refuse(
        self, ticket_hash: str, refusals: Sequence[tuple[str, str]]
    ) -> tuple[contract.ClaimResult, ...]:
        """(claim token, reason) pairs the bridge could not render."""
        args = {
            "ticketHash": ticket_hash,
            "refusals": [{"claimToken": token, "reason": reason} for token, reason in refusals],
        }
        return self._parsed("mutation", "qbSessions:refuse", args, contract.parse_claim_results)

    def record_answer(
        self, ticket_hash: str, response: contract.Response
    ) -> contract.ReceiveResult:
        args = {"ticketHash": ticket_hash, "callId": _call_id(), "response": response.to_payload()}
        return self._parsed(
            "mutation", "qbSessions:recordAnswer", args, contract.parse_receive_result
        )

    def close(
        self, ticket_hash: str, reason: str, error: str | None = None
    ) -> contract.SessionView | None:
        args: dict[str, Any] = {"ticketHash": ticket_hash, "reason": reason}
        if error is not None:
            args["error"] = error[:2000]
        return self._parsed("mutation", "qbSessions:close", args, contract.parse_session)

    def last_error(self, ticket_hash: str) -> str:
        return self._parsed("query", "qbSessions:getLastError", {"ticketHash": ticket_hash}, _text)

    # -- operators ---------------------------------------------------------------

    def queue_status(self, dead_limit: int = 20) -> contract.QueueStatus:
        return self._parsed(
            "query",
            "qbQueue:getQueueStatus",
            {"deadLimit": dead_limit},
            contract.QueueStatus.parse,
        )

    def event_state(self, event_id_or_ref: str) -> contract.QueueState | None:
        key = "refNumber" if REF_NUMBER.fullmatch(event_id_or_ref) else "eventId"
        return self._parsed(
            "query", "qbQueue:getEventState", {key: event_id_or_ref}, contract.parse_event_state
        )

    def retry_event(self, event_id: str) -> contract.QueueState:
        return self._parsed(
            "mutation",
            "qbQueue:retryFailedEvent",
            {"eventId": event_id},
            contract.QueueState.parse,
        )

    def retry_all_dead(self, limit: int = 100) -> contract.RetriedBatch:
        return self._parsed(
            "mutation", "qbQueue:retryAllDead", {"limit": limit}, contract.parse_retried
        )

    def resolve_held(
        self, event_id: str, *, send: bool = False, txn_id: str | None = None
    ) -> contract.QueueState:
        args: dict[str, Any] = {"eventId": event_id}
        if send:
            args["send"] = True
        if txn_id is not None:
            args["txnId"] = txn_id
        return self._parsed("mutation", "qbQueue:resolveHeldEvent", args, contract.QueueState.parse)

    def end_open_sessions(self) -> tuple[contract.SessionView, ...]:
        return self._parsed("mutation", "qbQueue:endOpenSessions", {}, contract.parse_sessions)

    def health(self) -> contract.Health:
        return self._parsed("query", "functions:health", {}, contract.Health.parse)


REF_NUMBER = re.compile(r"(TR|AD)-\d+")


def _call_id() -> str:
    return uuid.uuid4().hex


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ContractError(f"expected text, got {type(value).__name__}")
    return value
