"""The sync step: what each QBWC call means, free of SOAP (spyne only translates).

Each QBWC call that touches the queue is ONE Convex call, keyed by the
ticket's hash (`qbSessions:*`); the rules (one live writer, claims,
answers, progress, releases) live in Convex (`convex/lib/sync.ts`). What
stays here is what only the bridge can do: check the password, render
qbXML, read QuickBooks' answers and classify their status codes, and word
what QBWC shows its user. Nothing that matters is kept between calls, so a
bridge restarted mid-session, or two bridges behind one URL, carry on.
"""

from __future__ import annotations

import functools
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import structlog

from qbwc_bridge import __version__, client_address, contract, qbwc
from qbwc_bridge.auth import LoginThrottle, new_ticket, ticket_hash, verify_password
from qbwc_bridge.config import Settings
from qbwc_bridge.convex_gateway import ConvexGateway, ConvexUnavailable
from qbwc_bridge.logging import get_logger
from qbwc_bridge.qbxml import hcp, parse, render, status_codes
from qbwc_bridge.qbxml.model import Answer
from qbwc_bridge.versions import negotiate, parse_dotted

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Batches in a row that could not be rendered at all before one sendRequestXML gives up
# (each one is marked dead, so the next call starts past them).
MAX_REFUSED_BATCHES = 20
CONVEX_DOWN = (
    "The bridge cannot reach Convex right now; events stay queued. Check CONVEX_URL and the "
    "network, then run the Web Connector again."
)


def _never_raise(
    fallback: Callable[[Exception], R],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Last line of defence: QBWC gets a clean answer, never a SOAP fault with a traceback.

    The error is logged with its traceback here (not swallowed); `fallback`
    builds the answer QBWC should see from the exception.
    """

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except ConvexUnavailable as error:
                log.error("convex_unavailable", call=method.__name__, error=str(error))
                return fallback(error)
            except Exception as error:
                # The id names this one failure when it is reported. Unlike soap_call_failed's,
                # it is not shown to QBWC: `fallback` answers from the exception alone.
                log.exception(
                    "sync_call_failed", call=method.__name__, error_id=uuid.uuid4().hex[:12]
                )
                return fallback(error)
            finally:
                structlog.contextvars.clear_contextvars()

        return wrapper

    return decorate


@dataclass
class SyncService:
    settings: Settings
    gateway: ConvexGateway
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    # -- handshake (no Convex call) ----------------------------------------------

    def server_version(self) -> str:
        return f"qbwc-bridge {__version__}"

    def client_version(self, version: str | None) -> str:
        """'' accepts; 'E:' makes QBWC refuse to run with a message the user can act on."""
        if not version:
            return ""
        try:
            below = parse_dotted(version) < self.settings.min_client_version
        except ValueError:
            log.warning("client_version_unreadable", client_version=version[:40])
            return ""
        if below:
            oldest = ".".join(str(part) for part in self.settings.min_client_version)
            log.warning("client_version_too_old", client_version=version)
            return (
                f"E:This Web Connector ({version}) is older than {oldest}. "
                "Install the current QuickBooks Web Connector from Intuit, then try again."
            )
        return ""

    def _credentials_ok(self, user: str, password: str) -> bool:
        settings = self.settings
        user_ok = hmac.compare_digest(user.encode(), (settings.qbwc_username or "").encode())
        if settings.qbwc_password_hash:
            password_ok = verify_password(password, settings.qbwc_password_hash)
        else:
            password_ok = hmac.compare_digest(
                password.encode(), (settings.qbwc_password or "").encode()
            )
        return user_ok and password_ok

    def _schedules(self) -> dict[str, int]:
        """When Convex should read QuickBooks by itself (told with every call that can start it)."""
        return {
            "list_max_age_ms": self.settings.list_max_age_hours * 3600 * 1000,
            "reconcile_every_ms": self.settings.reconcile_every_hours * 3600 * 1000,
        }

    # -- authenticate: one call --------------------------------------------------------

    @_never_raise(lambda error: ["", qbwc.AUTH_BUSY])
    def authenticate(self, user: str, password: str) -> list[str]:
        """An internal error answers "busy" (QBWC tries again at its next run), never
        "nvu", which QBWC would show as a wrong password."""
        # Failures count per (user name, client address); the SOAP gate binds the address.
        address = client_address.current()
        wait = self.throttle.retry_after(user, address)
        if wait > 0:
            log.warning(
                "auth_throttled", user=user, client=address, retry_after_seconds=round(wait)
            )
            return ["", qbwc.AUTH_NOT_VALID_USER]
        if not self._credentials_ok(user, password):
            self.throttle.failed(user, address)
            log.warning("auth_failed", user=user, client=address)
            return ["", qbwc.AUTH_NOT_VALID_USER]
        self.throttle.succeeded(user, address)
        ticket = new_ticket()
        decision = self.gateway.authenticate(
            ticket_hash(ticket),
            user,
            self.settings.session_ttl_seconds * 1000,
            self.settings.company_file,
            **self._schedules(),
        )
        if isinstance(decision, contract.NothingDue):
            log.info("auth_ok_nothing_due", user=user)
            answer = [ticket, qbwc.AUTH_NONE]
            if self.settings.postpone_seconds:
                answer.append(str(self.settings.postpone_seconds))
            return answer
        if isinstance(decision, contract.WriterBusy):
            log.warning("auth_busy_other_writer", user=user, reason=decision.message)
            return [ticket, qbwc.AUTH_BUSY]
        log.info("session_opened", user=user, session_id=decision.session_id)
        return [ticket, self.settings.company_file or qbwc.AUTH_USE_OPEN_COMPANY]

    # -- sendRequestXML: one call (plus one per batch of unrenderable events) ------------------

    @_never_raise(lambda error: qbwc.NO_REQUEST)
    def send_request(
        self,
        ticket: str,
        hcp_response: str,
        company_file: str,
        country: str,
        major: int | None,
        minor: int | None,
    ) -> str:
        version = negotiate(self.settings.qbxml_version, major, minor)
        facts = hcp.read_hcp(hcp_response) if hcp_response else ()
        if hcp_response:
            _log_host(facts, len(hcp_response), country)
        hashed = ticket_hash(ticket)
        for _ in range(MAX_REFUSED_BATCHES):
            result = self.gateway.next_message(
                hashed,
                self.settings.batch_size,
                company_file,
                str(version),
                hcp=facts,
                **self._schedules(),
            )
            # The HCP response is QuickBooks' answer once; a second round must not repeat it.
            facts = ()
            if isinstance(result, contract.TicketRejected):
                log.warning("session_rejected", reason=result.reason)
                return qbwc.NO_REQUEST
            structlog.contextvars.bind_contextvars(session_id=result.session_id)
            if isinstance(result, contract.NothingToSend):
                log.info("nothing_due")
                return qbwc.NO_REQUEST
            batch = render.render_batch(
                result.events, version, queries=result.queries, tz=self.settings.qb_timezone
            )
            refused_events: list[contract.Unreadable | render.Refusal] = [
                *result.unreadable,
                *batch.refusals,
            ]
            if refused_events or batch.query_refusals:
                self._refuse(hashed, refused_events, batch.query_refusals)
            if batch.xml is not None:
                for query in batch.queries:
                    log.info("quickbooks_read_sent", kind=query.kind, request_id=query.request_id)
                for request in batch.requests:
                    log.info(
                        "event_sent",
                        event_id=request.event_id,
                        ref_number=request.ref_number,
                        mode=request.mode,
                    )
                return batch.xml
            # Every claimed event was refused: the next batch may still hold work.
        log.error("too_many_unrenderable_batches", batches=MAX_REFUSED_BATCHES)
        return qbwc.NO_REQUEST

    def _refuse(
        self,
        hashed: str,
        events: Sequence[contract.Unreadable | render.Refusal],
        reads: Sequence[render.QueryRefusal],
    ) -> None:
        """One Convex call for everything left out: the events die, the reads fail."""
        self.gateway.refuse(
            hashed,
            [(event.claim_token, event.reason) for event in events]
            + [(read.request_id, read.reason) for read in reads],
        )
        for event in events:
            log.error(
                "event_unrenderable",
                event_id=event.event_id,
                # Still names the event when Convex's payload was too broken to carry its id.
                claim_token=event.claim_token,
                ref_number=event.ref_number,
                reason=event.reason,
            )
        for read in reads:
            log.error(
                "quickbooks_read_unrenderable",
                kind=read.kind,
                request_id=read.request_id,
                reason=read.reason,
            )

    # -- receiveResponseXML: one call ------------------------------------------------------

    @_never_raise(lambda error: qbwc.PERCENT_ERROR)
    def receive_response(self, ticket: str, response: str, hresult: str, message: str) -> int:
        result = self.gateway.record_answer(
            ticket_hash(ticket), read_response(response, hresult, message)
        )
        if isinstance(result, contract.TicketRejected):
            log.warning("session_rejected", reason=result.reason)
            return qbwc.PERCENT_ERROR
        structlog.contextvars.bind_contextvars(session_id=result.session_id)
        if isinstance(result, contract.ResponseFailed):
            log.error("response_failed", hresult=hresult, error=result.message)
            return qbwc.PERCENT_ERROR
        if isinstance(result, contract.Mismatch):
            log.warning("response_not_for_outstanding_message", error=result.message)
            return qbwc.PERCENT_ERROR
        for item in result.results:
            state = item.state
            log.info(
                "event_result",
                event_id=state.event_id,
                ref_number=state.ref_number,
                qb_status=state.qb_status,
                qb_txn_id=state.qb_txn_id,
                error=state.last_error if state.qb_status != "applied" else None,
                stale=item.stale,
            )
        return result.percent

    # -- endings: one call each -------------------------------------------------------------

    @_never_raise(lambda error: qbwc.CONNECTION_DONE)
    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        hint = status_codes.hresult_hint(hresult)
        text = f"QBWC could not open QuickBooks ({hresult}: {message}). {hint}".strip()
        self.gateway.close(ticket_hash(ticket), "QuickBooks could not be opened", error=text)
        log.error("connection_error", hresult=hresult, error=message, hint=hint)
        return qbwc.CONNECTION_DONE

    @_never_raise(
        lambda error: (
            CONVEX_DOWN
            if isinstance(error, ConvexUnavailable)
            else "Internal bridge error; see the bridge log."
        )
    )
    def get_last_error(self, ticket: str) -> str:
        return self.gateway.last_error(ticket_hash(ticket))

    @_never_raise(lambda error: "Closed, with an error; see the bridge log.")
    def close_connection(self, ticket: str) -> str:
        closed = self.gateway.close(ticket_hash(ticket), "closed by the Web Connector")
        if closed is None:
            return "OK: nothing to sync."
        if closed.status == "refused":
            return closed.last_error or "Another Web Connector is syncing; nothing was done."
        structlog.contextvars.bind_contextvars(session_id=closed.session_id)
        log.info(
            "session_closed",
            claimed=closed.claimed,
            applied=closed.applied,
            failed=closed.failed,
            dead=closed.dead,
            held=closed.held,
        )
        held = f", {closed.held} held for a decision" if closed.held else ""
        return (
            f"OK: {closed.applied} applied, {closed.failed} failed (will retry), "
            f"{closed.dead} need attention{held} (run `qbwc-bridge status`)."
        )


# -- reading QuickBooks' answers --------------------------------------------------------------


def read_response(response: str, hresult: str, message: str) -> contract.Response:
    """QBWC's receiveResponseXML arguments as what Convex records.

    A failure that names no request (an HRESULT, an empty or unreadable
    response) cannot say which message it answers; Convex keeps the claims
    outstanding and only records the error.
    """
    if hresult or not response.strip():
        text = f"QuickBooks could not process the request ({hresult or 'no hresult'}: {message or 'empty response'})"
        hint = status_codes.hresult_hint(hresult)
        return contract.WholeMessageFailed(f"{text}. {hint}" if hint else text, hresult or None)
    try:
        answers = parse.parse_response(response)
    except parse.QbxmlParseError as error:
        return contract.WholeMessageFailed(f"QuickBooks' response is unreadable: {error}")
    return contract.Answers(
        tuple(contract.Answered(answer.request_id, outcome_of(answer)) for answer in answers)
    )


def outcome_of(answer: Answer) -> contract.Outcome:
    """Turns one QuickBooks answer into the outcome Convex records."""
    code = str(answer.status_code)
    verdict = status_codes.classify(
        answer.status_code, answer.status_severity, answer.status_message
    )
    if parse.is_read(answer):
        try:
            read = parse.query_outcome(answer)
        except parse.QbxmlParseError as error:
            return contract.Permanent(f"QuickBooks' answer is unreadable: {error}", code)
        return read if read is not None else _failure(verdict, code, answer.status_message)
    if answer.is_query:
        if answer.status_code == parse.QUERY_NO_MATCH:
            return contract.NotFound()
        if verdict.kind == "success":
            return contract.Found(answer.transactions)
        return _failure(verdict, code, answer.status_message)
    if verdict.kind == "success" and answer.txn_id:
        return contract.Success(answer.txn_id, code)
    if verdict.kind == "success":
        # Success without a TxnID cannot be recorded as applied: ask QuickBooks next time.
        return contract.Retryable(
            f"QuickBooks answered {code} without a TxnID", code, lookup_required=True
        )
    return _failure(verdict, code, answer.status_message)


def _failure(
    verdict: status_codes.Verdict, code: str, message: str
) -> contract.Retryable | contract.Permanent:
    text = f"QuickBooks error {code}: {message}"
    if verdict.hint:
        text = f"{text} -> {verdict.hint}"
    if verdict.kind == "permanent":
        return contract.Permanent(text, code)
    return contract.Retryable(text, code)


def _log_host(facts: Sequence[contract.QueryOutcome], length: int, country: str) -> None:
    """The first sendRequestXML carries QuickBooks' host/company/preferences answers."""
    if not facts:
        log.warning("hcp_response_unreadable", length=length)
        return
    fields: dict[str, object] = {"country": country}
    for fact in facts:
        if isinstance(fact, contract.HostInfo):
            fields.update(
                product=fact.product_name, supported_versions=fact.supported_versions[-3:]
            )
        elif isinstance(fact, contract.CompanyInfo):
            fields.update(company=fact.company_name)
        elif isinstance(fact, contract.PreferencesInfo):
            fields.update(multi_location_inventory=fact.multi_location_enabled)
    log.info("quickbooks_host", **fields)
