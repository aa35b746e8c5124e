"""The sync step: what each QBWC call means for the queue in Convex.

`SyncService` is the whole protocol, free of SOAP: the spyne layer only
translates. It keeps nothing between calls that matters. Tickets, sessions
and claimed events live in Convex, so a bridge restarted between
sendRequestXML and receiveResponseXML (or two bridges behind one URL) carry
on where the other left off.

Exactly once: a claimed event is answered by the response that carries its
requestID (the claim token). Anything whose outcome is unknown (a lost or
unreadable response, a session that ended early) is released with
`lookupRequired`, and its next claim asks QuickBooks for the RefNumber
before anything is sent again.
"""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import structlog
from lxml import etree

from qbwc_bridge import __version__
from qbwc_bridge.auth import LoginThrottle, new_ticket, ticket_hash, verify_password
from qbwc_bridge.config import Settings
from qbwc_bridge.convex_gateway import ConvexGateway, ConvexUnavailable
from qbwc_bridge.logging import get_logger
from qbwc_bridge.qbxml import parse, render, status_codes

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

NOTHING_DUE = "Nothing left to send: every due event has been handled."
UNKNOWN_TICKET = (
    "This Web Connector session is unknown or has expired. Nothing was lost: the Web "
    "Connector starts a new session at its next scheduled run."
)
CONVEX_DOWN = (
    "The bridge cannot reach Convex right now; events stay queued. Check CONVEX_URL and the "
    "network, then run the Web Connector again."
)
# A request QuickBooks could not parse was never executed: nothing to look up.
NOTHING_RAN_HRESULTS = frozenset({"0x80040400"})
MIN_TRANSFER_VERSION = (10, 0)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def negotiate_version(configured: str, major: int | None, minor: int | None) -> str:
    """min(configured, what QBWC reports): never ask QuickBooks for more than it speaks."""
    if major is None or major <= 0:
        return configured
    reported = (major, minor or 0)
    mine = _version_tuple(configured)
    chosen = min(mine, reported)
    return f"{chosen[0]}.{chosen[1]}"


def _never_raise(fallback: Callable[..., Any]) -> Callable[[Callable[P, R]], Callable[P, R]]:
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
                return fallback(error)  # type: ignore[no-any-return]
            except Exception as error:
                log.exception("sync_call_failed", call=method.__name__)
                return fallback(error)  # type: ignore[no-any-return]
            finally:
                structlog.contextvars.clear_contextvars()

        return wrapper

    return decorate


@dataclass
class SyncService:
    settings: Settings
    gateway: ConvexGateway
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    clock: Callable[[], float] = time.time

    @property
    def timezone(self) -> tzinfo | None:
        return ZoneInfo(self.settings.qb_timezone) if self.settings.qb_timezone else None

    # -- handshake -------------------------------------------------------------

    def server_version(self) -> str:
        return f"qbwc-bridge {__version__}"

    def client_version(self, version: str | None) -> str:
        """'' accepts; 'E:' makes QBWC refuse to run with a message the user can act on."""
        if not version:
            return ""
        try:
            below = _version_tuple(version) < _version_tuple(self.settings.min_client_version)
        except ValueError:
            log.warning("client_version_unreadable", client_version=version)
            return ""
        if below:
            log.warning("client_version_too_old", client_version=version)
            return (
                f"E:This Web Connector ({version}) is older than {self.settings.min_client_version}. "
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

    @_never_raise(
        lambda error: ["", "busy"] if isinstance(error, ConvexUnavailable) else ["", "nvu"]
    )
    def authenticate(self, user: str, password: str) -> list[str]:
        wait = self.throttle.retry_after(user)
        if wait > 0:
            log.warning("auth_throttled", user=user, retry_after_seconds=round(wait))
            return ["", "nvu"]
        if not self._credentials_ok(user, password):
            self.throttle.failed(user)
            log.warning("auth_failed", user=user)
            return ["", "nvu"]
        self.throttle.succeeded(user)
        if not self.gateway.has_work():
            log.info("auth_ok_nothing_due", user=user)
            answer = [new_ticket(), "none"]
            if self.settings.postpone_seconds:
                answer.append(str(self.settings.postpone_seconds))
            return answer
        ticket = new_ticket()
        opened = self.gateway.open_session(
            ticket_hash(ticket),
            user,
            self.settings.session_ttl_seconds * 1000,
            self.settings.company_file,
        )
        log.info("session_opened", user=user, session_id=opened["sessionId"])
        return [ticket, self.settings.company_file]

    # -- the exchange ------------------------------------------------------------

    def _resume(self, ticket: str, **extra: str | None) -> dict[str, Any] | None:
        resumed = self.gateway.resume_session(ticket_hash(ticket), **extra)
        if not resumed["ok"]:
            log.warning("session_rejected", reason=resumed["reason"])
            return None
        session: dict[str, Any] = resumed["session"]
        structlog.contextvars.bind_contextvars(session_id=session["_id"])
        return session

    @_never_raise(lambda error: "")
    def send_request(
        self,
        ticket: str,
        hcp_response: str,
        company_file: str,
        country: str,
        major: int | None,
        minor: int | None,
    ) -> str:
        version = negotiate_version(self.settings.qbxml_version, major, minor)
        session = self._resume(ticket, company_file=company_file, qbxml_version=version)
        if session is None:
            return ""
        if hcp_response:
            _log_host(hcp_response, country)
        # Unrenderable events die at once; keep claiming so QBWC still gets work.
        while claims := self.gateway.claim_batch(
            session["_id"], self.settings.batch_size, self.settings.lease_seconds * 1000
        ):
            batch = render.render_batch(claims, version, tz=self.timezone)
            if batch.refusals:
                self._refuse(batch.refusals)
            if batch.xml is not None:
                for request in batch.requests:
                    log.info(
                        "event_sent",
                        event_id=request.event_id,
                        ref_number=request.ref_number,
                        mode=request.mode,
                    )
                return batch.xml
        self.gateway.record_session_error(ticket_hash(ticket), NOTHING_DUE)
        log.info("nothing_due")
        return ""

    def _refuse(self, refusals: Sequence[render.Refusal]) -> None:
        outcome = self.gateway.apply_results(
            [
                {
                    "eventId": refusal.event_id,
                    "claimToken": refusal.claim_token,
                    "outcome": {"kind": "permanent", "message": refusal.reason},
                }
                for refusal in refusals
            ]
        )
        for refusal, result in zip(refusals, outcome["results"], strict=True):
            log.error(
                "event_unrenderable",
                event_id=refusal.event_id,
                ref_number=refusal.ref_number,
                qb_status=result["qbStatus"],
                reason=refusal.reason,
            )

    @_never_raise(lambda error: -1)
    def receive_response(self, ticket: str, response: str, hresult: str, message: str) -> int:
        session = self._resume(ticket)
        if session is None:
            return -1
        if hresult or not response.strip():
            return self._fail_whole_message(ticket, session, hresult, message or "empty response")
        try:
            answers = parse.parse_response(response)
        except parse.QbxmlParseError as error:
            return self._fail_whole_message(ticket, session, "", f"unreadable response: {error}")
        claims = {
            claim["claimToken"]: claim for claim in self.gateway.list_session_claims(session["_id"])
        }
        results = []
        for answer in answers:
            claim = claims.pop(answer.request_id, None)
            if claim is None:
                log.warning("unexpected_request_id", request_id=answer.request_id, kind=answer.kind)
                continue
            results.append(
                {
                    "eventId": claim["eventId"],
                    "claimToken": answer.request_id,
                    "outcome": _outcome(answer, claim),
                }
            )
        for token, claim in claims.items():
            results.append(
                {
                    "eventId": claim["eventId"],
                    "claimToken": token,
                    "outcome": {
                        "kind": "retryable",
                        "message": "QuickBooks returned no answer for this request.",
                        "lookupRequired": True,
                    },
                }
            )
        applied = (
            self.gateway.apply_results(results) if results else {"results": [], "remainingDue": 0}
        )
        for sent, result in zip(results, applied["results"], strict=True):
            outcome = sent["outcome"]
            log.info(
                "event_result",
                event_id=result["eventId"],
                ref_number=result["refNumber"],
                outcome=outcome["kind"],
                qb_status=result["qbStatus"],
                qb_txn_id=result["qbTxnId"],
                status_code=outcome.get("statusCode"),
                error=outcome.get("message"),
                stale=result["stale"],
            )
        remaining = int(applied["remainingDue"])
        if remaining == 0:
            return 100
        handled = int(session["claimed"])
        return max(1, min(99, handled * 100 // (handled + remaining)))

    def _fail_whole_message(
        self, ticket: str, session: dict[str, Any], hresult: str, message: str
    ) -> int:
        lookup = hresult.lower() not in NOTHING_RAN_HRESULTS
        text = f"QuickBooks could not process the request ({hresult or 'no hresult'}: {message})"
        hint = status_codes.hresult_hint(hresult)
        if hint:
            text = f"{text}. {hint}"
        released = self.gateway.release_session_claims(
            session["_id"], text, lookup, hresult or None
        )
        self.gateway.record_session_error(ticket_hash(ticket), text)
        log.error(
            "response_failed",
            hresult=hresult,
            error=message,
            released=len(released),
            lookup_required=lookup,
        )
        return -1

    # -- endings -------------------------------------------------------------------

    @_never_raise(lambda error: "done")
    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        hint = status_codes.hresult_hint(hresult)
        text = f"QBWC could not open QuickBooks ({hresult}: {message}). {hint}".strip()
        self._end(ticket, "QuickBooks could not be opened", error=text)
        log.error("connection_error", hresult=hresult, error=message, hint=hint)
        return "done"

    @_never_raise(
        lambda error: (
            CONVEX_DOWN
            if isinstance(error, ConvexUnavailable)
            else "Internal bridge error; see the bridge log."
        )
    )
    def get_last_error(self, ticket: str) -> str:
        session = self.gateway.session_by_ticket(ticket_hash(ticket))
        if session is None or (
            session["lastError"] is None and (session["expired"] or session["status"] != "open")
        ):
            return UNKNOWN_TICKET
        return str(session["lastError"] or "No error.")

    @_never_raise(lambda error: "Closed, with an error; see the bridge log.")
    def close_connection(self, ticket: str) -> str:
        closed = self._end(ticket, "closed by the Web Connector")
        if closed is None:
            return "OK: nothing to sync."
        tally = {key: int(closed[key]) for key in ("claimed", "applied", "failed", "dead")}
        log.info("session_closed", **tally)
        return (
            f"OK: {tally['applied']} applied, {tally['failed']} failed (will retry), "
            f"{tally['dead']} need attention (run `qbwc-bridge status`)."
        )

    def _end(self, ticket: str, reason: str, error: str | None = None) -> dict[str, Any] | None:
        """Closes the session; claims it never answered are released for a lookup."""
        hashed = ticket_hash(ticket)
        session = self.gateway.session_by_ticket(hashed)
        if session is None:
            return None
        structlog.contextvars.bind_contextvars(session_id=session["sessionId"])
        if session["status"] == "open":
            released = self.gateway.release_session_claims(
                session["sessionId"], f"Session ended before QuickBooks answered ({reason}).", True
            )
            if released:
                log.warning("claims_released_on_close", count=len(released))
        if error is not None:
            self.gateway.record_session_error(hashed, error)
        closed: dict[str, Any] | None = self.gateway.close_session(hashed, reason)
        return closed


def _outcome(answer: parse.Answer, claim: dict[str, Any]) -> dict[str, Any]:
    """Turns one QuickBooks answer into the outcome Convex records."""
    code = str(answer.status_code)
    if answer.is_query:
        if answer.status_code == parse.QUERY_NO_MATCH:
            return {"kind": "not_found"}
        verdict = status_codes.classify(
            answer.status_code, answer.status_severity, answer.status_message
        )
        if verdict.kind == "success":
            match = next(
                (t for t in answer.transactions if t.ref_number == claim["refNumber"]), None
            )
            if match is None:
                return {"kind": "not_found"}
            return {"kind": "success", "qbTxnId": match.txn_id, "statusCode": code}
        return _failure(verdict, code, answer.status_message)
    verdict = status_codes.classify(
        answer.status_code, answer.status_severity, answer.status_message
    )
    if verdict.kind == "success" and answer.txn_id:
        return {"kind": "success", "qbTxnId": answer.txn_id, "statusCode": code}
    if verdict.kind == "success":
        # Success without a TxnID cannot be recorded as applied: ask QuickBooks next time.
        return {
            "kind": "retryable",
            "message": f"QuickBooks answered {code} without a TxnID",
            "statusCode": code,
            "lookupRequired": True,
        }
    return _failure(verdict, code, answer.status_message)


def _failure(verdict: status_codes.Verdict, code: str, message: str) -> dict[str, Any]:
    text = f"QuickBooks error {code}: {message}"
    if verdict.hint:
        text = f"{text} -> {verdict.hint}"
    kind = "permanent" if verdict.kind == "permanent" else "retryable"
    return {"kind": kind, "message": text[:2000], "statusCode": code}


def _log_host(hcp_response: str, country: str) -> None:
    """The first sendRequestXML carries QuickBooks' host/company/preferences answers."""
    try:
        root = etree.fromstring(hcp_response.encode("utf-8"), etree.XMLParser(recover=True))
    except etree.XMLSyntaxError:
        log.warning("hcp_response_unreadable", length=len(hcp_response))
        return
    if root is None:
        log.warning("hcp_response_unreadable", length=len(hcp_response))
        return
    log.info(
        "quickbooks_host",
        product=root.findtext(".//ProductName"),
        company=root.findtext(".//CompanyName"),
        supported_versions=[v.text for v in root.iter("SupportedQBXMLVersion")][-3:],
        country=country,
    )
