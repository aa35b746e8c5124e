"""The one door to Convex.

Every call the bridge, the CLI and the importer make goes through
`ConvexGateway`: it authenticates with the deploy key (internal functions
only answer to it), retries transport failures with bounded jittered
backoff, and never retries an answer from a function. A `ConvexError` is a
decision (bad input, a stale claim), and repeating it changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

    # -- the queue, named as the sync step uses it ---------------------------

    def has_work(self) -> bool:
        return bool(self.query("qbQueue:hasWork"))

    def open_session(self, ticket_hash: str, user_name: str, ttl_ms: int, company_file: str) -> Any:
        args: dict[str, Any] = {"ticketHash": ticket_hash, "userName": user_name, "ttlMs": ttl_ms}
        if company_file:
            args["companyFile"] = company_file
        return self.mutation("qbQueue:openSession", args)

    def resume_session(
        self, ticket_hash: str, company_file: str | None = None, qbxml_version: str | None = None
    ) -> Any:
        args: dict[str, Any] = {"ticketHash": ticket_hash}
        if company_file:
            args["companyFile"] = company_file
        if qbxml_version:
            args["qbXmlVersion"] = qbxml_version
        return self.mutation("qbQueue:resumeSession", args)

    def session_by_ticket(self, ticket_hash: str) -> Any:
        return self.query("qbQueue:getSessionByTicket", {"ticketHash": ticket_hash})

    def record_session_error(self, ticket_hash: str, message: str) -> None:
        self.mutation("qbQueue:recordSessionError", {"ticketHash": ticket_hash, "message": message})

    def close_session(self, ticket_hash: str, reason: str) -> Any:
        return self.mutation("qbQueue:closeSession", {"ticketHash": ticket_hash, "reason": reason})

    def claim_batch(self, session_id: str, limit: int, lease_ms: int) -> list[dict[str, Any]]:
        return list(
            self.mutation(
                "qbQueue:claimBatch", {"sessionId": session_id, "limit": limit, "leaseMs": lease_ms}
            )
        )

    def apply_results(self, results: list[dict[str, Any]]) -> Any:
        return self.mutation("qbQueue:applyQbResults", {"results": results})

    def list_session_claims(self, session_id: str) -> list[dict[str, Any]]:
        return list(self.query("qbQueue:listSessionClaims", {"sessionId": session_id}))

    def release_session_claims(
        self, session_id: str, message: str, lookup_required: bool, status_code: str | None = None
    ) -> list[Any]:
        args: dict[str, Any] = {
            "sessionId": session_id,
            "message": message,
            "lookupRequired": lookup_required,
        }
        if status_code:
            args["statusCode"] = status_code
        return list(self.mutation("qbQueue:releaseSessionClaims", args))

    def queue_status(self, dead_limit: int = 20) -> Any:
        return self.query("qbQueue:getQueueStatus", {"deadLimit": dead_limit})

    def event_state(self, event_id_or_ref: str) -> Any:
        key = "refNumber" if re.fullmatch(r"(TR|AD)-\d+", event_id_or_ref) else "eventId"
        return self.query("qbQueue:getEventState", {key: event_id_or_ref})

    def retry_event(self, event_id: str) -> Any:
        return self.mutation("qbQueue:retryFailedEvent", {"eventId": event_id})

    def retry_all_dead(self, limit: int = 100) -> Any:
        return self.mutation("qbQueue:retryAllDead", {"limit": limit})

    def health(self) -> Any:
        return self.query("functions:health")
