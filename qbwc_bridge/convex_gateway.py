"""The one door to Convex.

Every call the bridge, the CLI and the importer make goes through
`ConvexGateway`: it authenticates with the deploy key (internal functions
only answer to it), bounds every call in time, retries transport failures
with jittered backoff within that bound, and never retries an answer from a
function. A `ConvexError` is a decision (bad input, a stale claim), and
repeating it changes nothing.

The transport is a small caller of our own on one `requests.Session`
(connections are kept alive and reused), not `convex.ConvexHttpClient`,
which posts without a timeout: a Convex that accepts connections and never
answers would hold the calling thread for ever. The wire format is the one
ConvexHttpClient speaks, and values are still encoded and decoded by the
`convex` package (`convex_to_json` / `json_to_convex`).

Time bounds: every attempt has a connect and a read timeout (the read
timeout is the longest wait for the next bytes); all attempts of one call,
backoff included, fit in the retry budget; and inside `deadline(...)` (one
SOAP call) all Convex calls share one budget, so QBWC gets its answer, "try
later" at worst, before it stops waiting.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import requests
from convex.values import convex_to_json, json_to_convex
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from convex import __version__ as convex_version
from qbwc_bridge import admin_contract, contract
from qbwc_bridge.config import Settings
from qbwc_bridge.contract import ContractError
from qbwc_bridge.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# (function path, seconds, outcome: "ok" | "error" | "unavailable"), e.g. for /metrics.
CallObserver = Callable[[str, float, str], None]

# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_SECONDS = 0.1
# A Convex function answers in milliseconds: a call in flight for longer than this
# means Convex is in trouble, and nobody should wait for a slot behind it.
SLOW_CALL_SECONDS = 1.0
# How long a call may wait for a slot while Convex answers quickly (a burst).
SLOT_WAIT_SECONDS = 2.0


class ConvexCallError(Exception):
    """Convex answered, and the answer is no: a validation error or a failed function."""

    def __init__(self, path: str, message: str, code: str | None = None, data: Any = None):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.code = code
        self.message = message
        self.data = data


class ConvexUnavailable(Exception):
    """Convex could not be reached, or did not answer within the time allowed."""


class _Transient(Exception):
    """Internal marker for failures worth retrying."""


def _retryable(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def _decode(path: str, response: requests.Response) -> Any:
    """Convex's reply as a value, or the failure sorted into retryable or final."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body:
        # Not JSON: a proxy or the network speaking, not a Convex function.
        if status >= 400:
            if _retryable(status):
                raise _Transient(f"HTTP {status}")
            raise ConvexCallError(path, f"HTTP {status}")
        raise ConvexCallError(path, f"unexpected reply from Convex (HTTP {status})")
    if status >= 400:
        text = f"{status} {body.get('code')}: {body.get('message')}"
        if _retryable(status):
            raise _Transient(text)
        raise ConvexCallError(path, text)
    try:
        if body.get("status") == "success":
            return json_to_convex(body["value"])
        if body.get("status") == "error":
            if "errorData" in body:
                data = json_to_convex(body["errorData"])
                code = data.get("code") if isinstance(data, dict) else None
                code = code if isinstance(code, str) else None
                message = data.get("message") if isinstance(data, dict) else None
                raise ConvexCallError(path, str(message or data), code=code, data=data)
            raise ConvexCallError(path, str(body.get("errorMessage")))
    except (KeyError, TypeError, ValueError) as error:
        # JSON, but not Convex's encoding: not something a retry fixes.
        raise ConvexCallError(path, f"malformed reply from Convex: {error}") from None
    raise ConvexCallError(path, "malformed reply from Convex: no status")


class _ConvexAuth(requests.auth.AuthBase):
    """`Authorization: Convex <deploy key>`; as an auth object, never replaced by ~/.netrc."""

    def __init__(self, deploy_key: str) -> None:
        self._value = f"Convex {deploy_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request


class _StopAt(stop_base):
    def __init__(self, ends: float) -> None:
        self.ends = ends

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.ends - time.monotonic() < MIN_ATTEMPT_SECONDS


class _WaitWithin(wait_base):
    """Backoff, but never past the point where no attempt fits any more."""

    def __init__(self, ends: float, backoff: wait_base) -> None:
        self.ends = ends
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        left = self.ends - time.monotonic() - MIN_ATTEMPT_SECONDS
        return float(max(0.0, min(self.backoff(retry_state), left)))


class _Slots:
    """At most `size` Convex calls in flight at once.

    While Convex answers quickly, a caller waits briefly for a slot (a burst
    passes in milliseconds). Once a call in flight has taken longer than
    SLOW_CALL_SECONDS, nobody waits: no slot will come soon, and the thread
    is worth more answering other requests (serverVersion, the WSDL, /healthz).
    """

    def __init__(self, size: int) -> None:
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}
        self._next = itertools.count()

    def _convex_is_slow(self) -> bool:
        with self._lock:
            oldest = min(self._started.values(), default=None)
        return oldest is not None and time.monotonic() - oldest > SLOW_CALL_SECONDS

    def take(self) -> int | None:
        """A slot's key, or None when no slot is free (soon enough)."""
        ends = time.monotonic() + SLOT_WAIT_SECONDS
        while not self._free.acquire(timeout=0.05):
            if time.monotonic() >= ends or self._convex_is_slow():
                return None
        key = next(self._next)
        with self._lock:
            self._started[key] = time.monotonic()
        return key

    def give(self, key: int) -> None:
        with self._lock:
            del self._started[key]
        self._free.release()


_shared_deadline: ContextVar[float | None] = ContextVar("convex_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every Convex call made inside shares this many seconds (one SOAP call's budget)."""
    ends = time.monotonic() + seconds
    outer = _shared_deadline.get()
    token = _shared_deadline.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _shared_deadline.reset(token)


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    log.warning(
        "convex_retry",
        attempt=state.attempt_number,
        error=str(outcome.exception()) if outcome is not None else None,
    )


class ConvexGateway:
    """Calls Convex functions with admin (deploy key) auth, time bounds and transport retries."""

    def __init__(
        self,
        url: str,
        deploy_key: str,
        *,
        max_attempts: int = 5,
        max_seconds: float = 30.0,
        max_wait: float = 4.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        max_in_flight: int | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        """`max_seconds` is the retry budget of one call; `max_in_flight` (the server sets
        it below its thread count) refuses calls beyond that many at once, so threads
        stuck on a Convex that does not answer never take the whole server."""
        self.url = url.rstrip("/")
        self.max_attempts = max_attempts
        self.budget = max_seconds
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._backoff = wait_random_exponential(multiplier=0.2, max=max_wait)
        self._observer = observer
        self._slots = _Slots(max_in_flight) if max_in_flight else None
        self._session = requests.Session()
        self._session.auth = _ConvexAuth(deploy_key)
        self._session.headers["Convex-Client"] = f"python-{convex_version.replace('a', '-a')}"
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(16, max_in_flight or 0))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        url: str,
        deploy_key: str,
        *,
        max_in_flight: int | None = None,
        observer: CallObserver | None = None,
    ) -> ConvexGateway:
        return cls(
            url,
            deploy_key,
            max_seconds=settings.convex_retry_budget_seconds,
            connect_timeout=settings.convex_connect_timeout_seconds,
            read_timeout=settings.convex_read_timeout_seconds,
            max_in_flight=max_in_flight,
            observer=observer,
        )

    def _run(
        self,
        kind: str,
        path: str,
        args: dict[str, Any] | None,
        *,
        attempts: int | None = None,
        budget: float | None = None,
    ) -> Any:
        started = time.monotonic()
        ends = started + (self.budget if budget is None else budget)
        shared = _shared_deadline.get()
        if shared is not None:
            ends = min(ends, shared)
        try:
            payload = {
                "path": path,
                "format": "convex_encoded_json",
                "args": convex_to_json(args or {}),
            }
        except (TypeError, ValueError) as error:
            raise ConvexCallError(path, f"arguments Convex cannot take: {error}") from None
        slot = self._slots.take() if self._slots is not None else None
        if self._slots is not None and slot is None:
            self._observe(path, started, "unavailable")
            raise ConvexUnavailable(
                f"Convex at {self.url} is too slow: every Convex slot is busy; try again later"
            )
        outcome = "error"
        try:
            retrying = Retrying(
                retry=retry_if_exception_type(_Transient),
                stop=stop_after_attempt(attempts or self.max_attempts) | _StopAt(ends),
                wait=_WaitWithin(ends, self._backoff),
                before_sleep=_log_retry,
                reraise=True,
            )
            value = retrying(self._post, kind, path, payload, ends)
            outcome = "ok"
            return value
        except _Transient as error:
            outcome = "unavailable"
            raise ConvexUnavailable(f"Convex at {self.url} is unreachable: {error}") from None
        finally:
            if self._slots is not None and slot is not None:
                self._slots.give(slot)
            self._observe(path, started, outcome)

    def _post(self, kind: str, path: str, payload: dict[str, Any], ends: float) -> Any:
        left = ends - time.monotonic()
        if left < MIN_ATTEMPT_SECONDS:
            raise _Transient("no time left for another attempt")
        timeout = (min(self.connect_timeout, left), min(self.read_timeout, left))
        try:
            response = self._session.post(f"{self.url}/api/{kind}", json=payload, timeout=timeout)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as error:
            raise _Transient(f"{type(error).__name__}: {str(error)[:300]}") from error
        except requests.RequestException as error:
            raise ConvexCallError(path, f"{type(error).__name__}: {str(error)[:300]}") from None
        return _decode(path, response)

    def _observe(self, path: str, started: float, outcome: str) -> None:
        if self._observer is not None:
            self._observer(path, time.monotonic() - started, outcome)

    def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._run("query", path, args)

    def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._run("mutation", path, args)

    def _parsed(
        self,
        kind: str,
        path: str,
        args: dict[str, Any],
        parse: Callable[[Any], T],
        **bounds: Any,
    ) -> T:
        reply = self._run(kind, path, args, **bounds)
        try:
            return parse(reply)
        except ContractError as error:
            raise ConvexCallError(path, f"unexpected reply from Convex: {error}") from None

    # -- the seam: one call per QBWC call, keyed by the ticket's hash -----------

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
        args: dict[str, Any] = {"ticketHash": ticket_hash, "userName": user_name, "ttlMs": ttl_ms}
        if company_file:
            args["companyFile"] = company_file
        if list_max_age_ms is not None:
            args["listMaxAgeMs"] = list_max_age_ms
        if reconcile_every_ms is not None:
            args["reconcileEveryMs"] = reconcile_every_ms
        return self._parsed(
            "mutation", "qbSessions:authenticate", args, contract.parse_auth_decision
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
        # One call id per SOAP call: a transport retry of it gets the same answer.
        args: dict[str, Any] = {
            "ticketHash": ticket_hash,
            "callId": _call_id(),
            "limit": limit,
            "qbXmlVersion": qbxml_version,
        }
        if company_file:
            args["companyFile"] = company_file
        if hcp:
            args["hcp"] = [fact.to_payload() for fact in hcp]
        if list_max_age_ms is not None:
            args["listMaxAgeMs"] = list_max_age_ms
        if reconcile_every_ms is not None:
            args["reconcileEveryMs"] = reconcile_every_ms
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
        return self._parsed(
            "query",
            "qbSessions:getLastError",
            {"ticketHash": ticket_hash},
            contract.parse_last_error,
        )

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

    def event_id_of(self, key: str) -> str:
        """An event id as it is, or a refNumber (TR-000123) looked up to its event's id."""
        if not REF_NUMBER.fullmatch(key):
            return key
        state = self.event_state(key)
        if state is None:
            raise ConvexCallError("qbQueue:getEventState", f"no event {key}", "EVENT_NOT_FOUND")
        return state.event_id

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

    def ping(self, timeout: float = 2.0) -> float:
        """Convex's clock (ms) from the public `functions:ping`: one attempt, at most
        `timeout` seconds. The /healthz probe: it must be quick, even when Convex is not."""
        return self._parsed(
            "query", "functions:ping", {}, contract.parse_server_time, attempts=1, budget=timeout
        )

    # -- admin role (convex/admins.ts), with the deploy key ------------------------

    def grant_admin(self, subject: str, note: str | None = None) -> admin_contract.AdminGrant:
        args: dict[str, Any] = {"subject": subject}
        if note:
            args["note"] = note
        return self._parsed("mutation", "admins:grant", args, admin_contract.AdminGrant.parse)

    def revoke_admin(self, subject: str) -> admin_contract.AdminRevoke:
        return self._parsed(
            "mutation", "admins:revoke", {"subject": subject}, admin_contract.AdminRevoke.parse
        )

    def list_admins(self, limit: int = 200) -> admin_contract.AdminList:
        return self._parsed(
            "query", "admins:list", {"limit": limit}, admin_contract.AdminList.parse
        )

    # -- reading QuickBooks: mapping and lists (operator CLI) ------------------------

    def company(self) -> contract.CompanyView | None:
        return self._parsed("query", "qbMapping:getCompany", {}, contract.CompanyView.parse)

    def request_list_refresh(self) -> str | None:
        """The company file whose lists the next session pulls (None: nothing read yet)."""
        return self._parsed(
            "mutation", "qbMapping:requestListRefresh", {}, contract.parse_list_refresh
        )

    def map_item(self, sku: str, qb_item: str) -> contract.Mapped:
        args = {"sku": sku, "qbItem": qb_item}
        return self._parsed("mutation", "qbMapping:mapItem", args, contract.Mapped.parse)

    def map_location(self, code: str, qb_site: str) -> contract.Mapped:
        args = {"code": code, "qbSite": qb_site}
        return self._parsed("mutation", "qbMapping:mapLocation", args, contract.Mapped.parse)

    def map_reason(self, code: str, qb_account: str) -> contract.Mapped:
        args = {"code": code, "qbAccount": qb_account}
        return self._parsed("mutation", "qbMapping:mapReason", args, contract.Mapped.parse)

    def map_items_auto(
        self, match: str, *, dry_run: bool, force: bool, cursor: str | None, page_size: int
    ) -> contract.AutoMapPage:
        args = {
            "match": match,
            "dryRun": dry_run,
            "force": force,
            "paginationOpts": {"numItems": page_size, "cursor": cursor},
        }
        return self._parsed("mutation", "qbMapping:mapItemsAuto", args, contract.AutoMapPage.parse)

    def unmapped(self, cursor: str | None, page_size: int = 500) -> contract.UnmappedPage:
        args = {"paginationOpts": {"numItems": page_size, "cursor": cursor}}
        return self._parsed("query", "qbMapping:listUnmapped", args, contract.UnmappedPage.parse)

    # -- reconciliation (operator CLI) -------------------------------------------------

    def request_snapshot(self) -> contract.SnapshotRequest:
        return self._parsed(
            "mutation", "qbRecon:requestSnapshot", {}, contract.SnapshotRequest.parse
        )

    def build_report(self, report_id: str | None) -> contract.ReportProgress:
        args: dict[str, Any] = {} if report_id is None else {"reportId": report_id}
        return self._parsed("mutation", "qbRecon:buildReport", args, contract.ReportProgress.parse)

    def report_rows(
        self, report_id: str, *, only_drift: bool, cursor: str | None, page_size: int = 2000
    ) -> contract.ReportPage:
        args = {
            "reportId": report_id,
            "onlyDrift": only_drift,
            "paginationOpts": {"numItems": page_size, "cursor": cursor},
        }
        return self._parsed("query", "qbRecon:reportRows", args, contract.ReportPage.parse)

    # -- the operator page (/ops) --------------------------------------------------------

    def ops_overview(self) -> contract.OpsOverview:
        """Everything one page load shows, in one bounded query (convex/ops.ts)."""
        return self._parsed("query", "ops:overview", {}, contract.OpsOverview.parse)


REF_NUMBER = re.compile(r"(TR|AD)-\d+")


def _call_id() -> str:
    return uuid.uuid4().hex
