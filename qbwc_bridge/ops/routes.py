"""The operator page's HTTP surface, under /ops.

    GET  /ops                 the page (sign-in first)
    GET  /ops/report          every row of the last drift report, a page at a time
    GET  /ops/login           the sign-in form;  POST /ops/login  signs in
    POST /ops/logout          signs out
    POST /ops/retry           one failed or dead event       = qbwc-bridge retry REF
    POST /ops/retry-all-dead  every dead event               = qbwc-bridge retry --all-dead
    POST /ops/map             map a part/location/reason     = qbwc-bridge map item|location|reason
    POST /ops/snapshot        ask for a quantity snapshot    = qbwc-bridge reconcile
    POST /ops/refresh-lists   pull QuickBooks' lists again   = qbwc-bridge refresh-lists

Reading the page is one Convex query (ops:overview); each button calls the
same Convex function as its CLI command, through the same gateway, and is
logged as `ops_action` with who (the name typed at sign-in), what and on
what. Every POST but the sign-in needs the session's CSRF token; a GET on
an action answers 405. After an action the browser is sent back to the page
(post, redirect, get) with a one-shot message in a signed cookie.

A finished quantity snapshot that no drift report covers yet is turned into
one while the page loads, as `reconcile --report` would: the report is
derived from data already taken, decides nothing and changes no event, and a
page showing the report of an older snapshot would mislead. Building is
bounded in time per load and done by one request at a time; a large report
is finished by the next loads.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from qbwc_bridge import __version__, client_address
from qbwc_bridge.cli.queue import QB_STATUS_ORDER
from qbwc_bridge.config import Settings
from qbwc_bridge.contract import OpsOverview, ReportToBuild
from qbwc_bridge.convex_gateway import (
    REF_NUMBER,
    ConvexCallError,
    ConvexGateway,
    ConvexUnavailable,
    deadline,
)
from qbwc_bridge.logging import get_logger
from qbwc_bridge.ops import chart, health, present
from qbwc_bridge.ops.access import Login, OpsAccess, Session, clean_name
from qbwc_bridge.wsgi import StartResponse, respond

log = get_logger(__name__)

PREFIX = "/ops"
SESSION_COOKIE = "ops_session"
FLASH_COOKIE = "ops_flash"
# A sign-in or a button is a few fields: anything larger is not from the page.
MAX_FORM_BYTES = 8 * 1024
MAX_FIELD_CHARS = 200
# All Convex work of one request (the page's query, a button's calls).
CONVEX_SECONDS = 15.0
# Time one page load may spend building a drift report (see the module's doc).
REPORT_BUILD_SECONDS = 3.0
# Dead events one "Retry all dead" press moves, in batches of 100 (qbQueue:retryAllDead).
RETRY_ALL_BATCHES = 100
REPORT_PAGE_ROWS = 100
_CONVEX_ID = re.compile(r"[A-Za-z0-9_]{8,64}")
_CURSOR_MAX = 4000

ACTIONS = frozenset(
    f"{PREFIX}/{name}"
    for name in ("logout", "retry", "retry-all-dead", "map", "snapshot", "refresh-lists")
)


class Refused(Exception):
    """A request the page answers with an error status and a short page."""

    def __init__(self, status: str, message: str, *headers: tuple[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass(frozen=True)
class Flash:
    kind: str  # "ok" | "error"
    text: str
    anchor: str = ""


@dataclass
class Request:
    environ: dict[str, Any]
    address: str
    https: bool
    nonce: str

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", ""))

    def cookie(self, name: str) -> str | None:
        for part in str(self.environ.get("HTTP_COOKIE", "")).split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def query(self) -> dict[str, str]:
        try:
            parsed = parse_qs(
                str(self.environ.get("QUERY_STRING", ""))[: _CURSOR_MAX * 2], max_num_fields=10
            )
        except ValueError:
            raise Refused("400 Bad Request", "That address has too many parameters.") from None
        return {key: values[0] for key, values in parsed.items()}

    def form(self) -> dict[str, str]:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or "0")
        except ValueError:
            raise Refused("400 Bad Request", "That Content-Length is not a number.") from None
        if not 0 <= length <= MAX_FORM_BYTES:
            raise Refused("413 Content Too Large", "That form is too large.")
        if length == 0:
            return {}  # no fields at all (and so no CSRF token): refused by the caller
        kind = str(self.environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise Refused("415 Unsupported Media Type", "Send the page's form.")
        body = self.environ["wsgi.input"].read(length)
        try:
            fields = parse_qs(
                body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20
            )
        except ValueError:
            raise Refused("400 Bad Request", "That form has too many fields.") from None
        return {key: values[0] for key, values in fields.items()}


def _field(form: dict[str, str], name: str, what: str) -> str:
    value = " ".join(form.get(name, "").split())
    if not value:
        raise Refused("400 Bad Request", f"Fill in {what}.")
    if len(value) > MAX_FIELD_CHARS or not value.isprintable():
        raise Refused("400 Bad Request", f"That {what} is not valid.")
    return value


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("qbwc_bridge.ops", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        split_error=present.split_error,
        map_kind=present.map_kind,
        map_command=present.map_command,
        target_nouns=present.TARGET_NOUNS,
        version=__version__,
    )
    return env


class OpsApp:
    """WSGI app for every path under /ops."""

    def __init__(self, settings: Settings, gateway: ConvexGateway, access: OpsAccess) -> None:
        self.settings = settings
        self.gateway = gateway
        self.access = access
        self.templates = _templates()
        self._building = threading.Lock()
        self.started = time.time()
        self._actions: dict[str, Callable[[Session, dict[str, str]], Flash]] = {
            f"{PREFIX}/retry": self._retry,
            f"{PREFIX}/retry-all-dead": self._retry_all_dead,
            f"{PREFIX}/map": self._map,
            f"{PREFIX}/snapshot": self._snapshot,
            f"{PREFIX}/refresh-lists": self._refresh_lists,
        }

    # -- dispatch -----------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "")).rstrip("/") or "/"
        proxies = self.settings.trusted_proxies
        address = client_address.from_environ(environ, proxies)
        request = Request(environ, address, _https(environ, proxies), secrets.token_urlsafe(12))
        try:
            with client_address.bound(address):
                return self._route(path, request, start_response)
        except Refused as refused:
            return self._message(
                request, start_response, refused.status, refused.message, *refused.headers
            )
        except Exception:
            # A bug: the id ties the traceback in the log to what the operator saw.
            error_id = uuid.uuid4().hex[:12]
            log.exception("ops_failed", path=path[:100], error_id=error_id)
            return self._message(
                request,
                start_response,
                "500 Internal Server Error",
                f"Something went wrong on the bridge (error id {error_id}). Reload the page to "
                "see where things stand; report the error id if it happens again.",
            )

    def _route(self, path: str, request: Request, start_response: StartResponse) -> Iterable[bytes]:
        method = request.method
        if path == f"{PREFIX}/login":
            if method == "GET":
                return self._login_form(request, start_response)
            if method == "POST":
                return self._login(request, start_response)
            raise Refused("405 Method Not Allowed", "Use the sign-in form.", ("Allow", "GET, POST"))
        if path in ACTIONS:
            if method != "POST":
                raise Refused(
                    "405 Method Not Allowed",
                    "This is a button of the operator page: it only answers a POST from the page.",
                    ("Allow", "POST"),
                )
            return self._action(path, request, start_response)
        if path not in (PREFIX, f"{PREFIX}/report"):
            raise Refused("404 Not Found", "There is no such page.")
        if method != "GET":
            raise Refused("405 Method Not Allowed", "Only GET here.", ("Allow", "GET"))
        session = self.access.session(request.cookie(SESSION_COOKIE))
        if session is None:
            return _redirect(start_response, f"{PREFIX}/login")
        if path == PREFIX:
            return self._page(request, session, start_response)
        return self._report(request, session, start_response)

    # -- rendering ---------------------------------------------------------------------------

    def _html(
        self,
        request: Request,
        start_response: StartResponse,
        status: str,
        template: str,
        *headers: tuple[str, str],
        **context: Any,
    ) -> list[bytes]:
        body = self.templates.get_template(template).render(nonce=request.nonce, **context)
        return respond(
            start_response,
            status,
            body.encode("utf-8"),
            "text/html; charset=utf-8",
            *_security_headers(request.nonce),
            *headers,
        )

    def _message(
        self,
        request: Request,
        start_response: StartResponse,
        status: str,
        text: str,
        *headers: tuple[str, str],
    ) -> list[bytes]:
        return self._html(
            request, start_response, status, "message.html", *headers, heading=status, text=text
        )

    # -- signing in and out -------------------------------------------------------------------

    def _login_form(self, request: Request, start_response: StartResponse) -> list[bytes]:
        if self.access.session(request.cookie(SESSION_COOKIE)) is not None:
            return _redirect(start_response, PREFIX)
        return self._html(request, start_response, "200 OK", "login.html", name="", error=None)

    def _login(self, request: Request, start_response: StartResponse) -> list[bytes]:
        form = request.form()
        name = clean_name(form.get("name", ""))
        password = form.get("password", "")
        if name is None or not password:
            return self._html(
                request,
                start_response,
                "400 Bad Request",
                "login.html",
                name=form.get("name", "")[:64],
                error="Type your name (so the log says who acted) and the operator password.",
            )
        outcome = self.access.login(name, password, request.address)
        if outcome is Login.THROTTLED:
            wait = max(1, round(self.access.retry_after(name, request.address)))
            log.warning(
                "ops_login_throttled", user=name, client=request.address, retry_after_seconds=wait
            )
            return self._html(
                request,
                start_response,
                "429 Too Many Requests",
                "login.html",
                ("Retry-After", str(wait)),
                name=name,
                error=f"Too many wrong passwords from here: wait {wait} seconds, then try again.",
            )
        if outcome is Login.BUSY:
            return self._html(
                request,
                start_response,
                "503 Service Unavailable",
                "login.html",
                ("Retry-After", "1"),
                name=name,
                error="Busy checking other sign-ins: try again in a second.",
            )
        if outcome is Login.WRONG:
            log.warning("ops_login_failed", user=name, client=request.address)
            return self._html(
                request,
                start_response,
                "401 Unauthorized",
                "login.html",
                name=name,
                error="Wrong password.",
            )
        _, cookie = self.access.issue(name)
        log.info("ops_login", user=name, client=request.address)
        return _redirect(start_response, PREFIX, self._cookie(request, SESSION_COOKIE, cookie))

    def _cookie(
        self, request: Request, name: str, value: str, max_age: int | None = None
    ) -> tuple[str, str]:
        parts = [f"{name}={value}", f"Path={PREFIX}", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if request.https:
            parts.append("Secure")
        return ("Set-Cookie", "; ".join(parts))

    # -- buttons ---------------------------------------------------------------------------------

    def _action(self, path: str, request: Request, start_response: StartResponse) -> list[bytes]:
        session = self.access.session(request.cookie(SESSION_COOKIE))
        if session is None:
            log.warning("ops_refused", reason="no session", path=path, client=request.address)
            raise Refused(
                "403 Forbidden", "You are not signed in (or your sign-in expired): sign in again."
            )
        form = request.form()
        if not self.access.csrf_ok(session, form.get("csrf")):
            log.warning(
                "ops_refused", reason="csrf", path=path, user=session.user, client=request.address
            )
            raise Refused(
                "403 Forbidden",
                "This form is out of date (or did not come from this page): reload the page and try again.",
            )
        if path == f"{PREFIX}/logout":
            log.info("ops_logout", user=session.user, client=request.address)
            return _redirect(
                start_response,
                f"{PREFIX}/login",
                self._cookie(request, SESSION_COOKIE, "", max_age=0),
            )
        action = path.removeprefix(f"{PREFIX}/")
        try:
            with deadline(CONVEX_SECONDS):
                flash = self._actions[path](session, form)
            outcome = "ok" if flash.kind == "ok" else "refused"
        except ConvexCallError as error:
            flash, outcome = Flash("error", f"Convex refused: {error.message}"), "refused"
        except ConvexUnavailable as error:
            flash, outcome = (
                Flash("error", f"Convex did not answer, nothing changed: {error}"),
                "unavailable",
            )
        log.info(
            "ops_action",
            user=session.user,
            action=action,
            target=_target(form),
            outcome=outcome,
            detail=flash.text[:300],
            client=request.address,
        )
        sealed = self.access.seal(session, {"kind": flash.kind, "text": flash.text[:1000]})
        where = PREFIX + (f"#{flash.anchor}" if flash.anchor else "")
        return _redirect(
            start_response, where, self._cookie(request, FLASH_COOKIE, sealed, max_age=120)
        )

    def _event_id(self, key: str) -> str:
        if not REF_NUMBER.fullmatch(key) and not _CONVEX_ID.fullmatch(key):
            raise Refused("400 Bad Request", "That is not an event.")
        return self.gateway.event_id_of(key)

    def _retry(self, session: Session, form: dict[str, str]) -> Flash:
        state = self.gateway.retry_event(self._event_id(_field(form, "event", "the event")))
        return Flash(
            "ok",
            f"{state.ref_number} is {state.qb_status} again: it goes to QuickBooks at the next Web Connector run.",
            "attention",
        )

    def _retry_all_dead(self, session: Session, form: dict[str, str]) -> Flash:
        total = 0
        for _ in range(RETRY_ALL_BATCHES):
            batch = self.gateway.retry_all_dead()
            total += len(batch.retried)
            if not batch.more:
                break
        return Flash(
            "ok",
            f"{total} dead event(s) are pending again: they go to QuickBooks at the next Web Connector run.",
            "attention",
        )

    def _map(self, session: Session, form: dict[str, str]) -> Flash:
        kind = form.get("kind", "")
        name = _field(form, "name", "the name")
        if kind not in present.TARGET_NOUNS:
            raise Refused("400 Bad Request", "Map an item, a location or a reason.")
        noun = present.TARGET_NOUNS[kind]
        target = _field(form, "target", f"the {noun}")
        call = {
            "item": self.gateway.map_item,
            "location": self.gateway.map_location,
            "reason": self.gateway.map_reason,
        }[kind]
        mapped = call(name, target)
        woken = (
            f" {mapped.held_events_woken} held event(s) go out at the next Web Connector run."
            if mapped.held_events_woken
            else ""
        )
        return Flash(
            "ok", f"{kind} {name} now maps to {noun} {mapped.full_name}.{woken}", "attention"
        )

    def _snapshot(self, session: Session, form: dict[str, str]) -> Flash:
        self.gateway.request_snapshot()
        return Flash(
            "ok",
            "Snapshot requested: the next Web Connector run reads QuickBooks' quantities after its "
            "events; the report appears here after that run.",
            "reconciliation",
        )

    def _refresh_lists(self, session: Session, form: dict[str, str]) -> Flash:
        company = self.gateway.request_list_refresh()
        where = f" of {company}" if company else ""
        return Flash(
            "ok",
            f"The next Web Connector run pulls QuickBooks' items, sites and accounts{where} before sending any event.",
            "health",
        )

    # -- the page ----------------------------------------------------------------------------------

    def _overview(self) -> tuple[OpsOverview | None, str | None]:
        try:
            with deadline(CONVEX_SECONDS):
                view = self.gateway.ops_overview()
                if view.report_to_build is not None and self._build_report(view.report_to_build):
                    view = self.gateway.ops_overview()
            return view, None
        except (ConvexUnavailable, ConvexCallError) as error:
            log.warning("ops_convex_failed", error=str(error))
            return None, str(error)

    def _build_report(self, pending: ReportToBuild) -> bool:
        """Builds (or goes on building) the report of the newest snapshot, for a bounded time."""
        if not self._building.acquire(blocking=False):
            return False  # another request is at it
        try:
            ends = time.monotonic() + REPORT_BUILD_SECONDS
            progress = self.gateway.build_report(pending.report_id)
            steps = 1
            while not progress.done and time.monotonic() < ends:
                progress = self.gateway.build_report(progress.report_id)
                steps += 1
            log.info(
                "ops_report_built", report_id=progress.report_id, steps=steps, done=progress.done
            )
            return True
        except ConvexCallError as error:
            log.warning("ops_report_failed", error=str(error))
            return False
        finally:
            self._building.release()

    def _page(
        self, request: Request, session: Session, start_response: StartResponse
    ) -> list[bytes]:
        view, error = self._overview()
        flash = self.access.unseal(session, request.cookie(FLASH_COOKIE))
        headers = (
            [self._cookie(request, FLASH_COOKIE, "", max_age=0)]
            if request.cookie(FLASH_COOKIE)
            else []
        )
        now = view.server_time if view is not None else time.time() * 1000
        fmt = present.Format(now, self.settings.qb_timezone)
        return self._html(
            request,
            start_response,
            "200 OK" if view is not None else "503 Service Unavailable",
            "overview.html",
            *headers,
            session=session,
            view=view,
            error=error,
            verdict=health.verdict(view, error),
            charts=chart.charts(view.hours, view.server_time, self.settings.qb_timezone)
            if view
            else [],
            slots=chart.slots(view.hours, view.server_time) if view else [],
            flash=flash,
            fmt=fmt,
            statuses=QB_STATUS_ORDER,
            bridge_up_since=self.started * 1000,
        )

    def _report(
        self, request: Request, session: Session, start_response: StartResponse
    ) -> list[bytes]:
        query = request.query()
        report_id = query.get("report", "")
        if not _CONVEX_ID.fullmatch(report_id):
            raise Refused("400 Bad Request", "Which report? Open it from the page.")
        cursor = query.get("cursor") or None
        if cursor is not None and len(cursor) > _CURSOR_MAX:
            raise Refused("400 Bad Request", "That page of the report is not valid.")
        only_drift = query.get("rows") != "all"
        try:
            with deadline(CONVEX_SECONDS):
                page = self.gateway.report_rows(
                    report_id, only_drift=only_drift, cursor=cursor, page_size=REPORT_PAGE_ROWS
                )
        except ConvexCallError as error:
            raise Refused("404 Not Found", f"No such report: {error.message}") from None
        except ConvexUnavailable as error:
            raise Refused("503 Service Unavailable", f"Convex did not answer: {error}") from None
        fmt = present.Format(time.time() * 1000, self.settings.qb_timezone)
        base = {"report": report_id, "rows": "drift" if only_drift else "all"}
        next_url = (
            None
            if page.is_done
            else f"{PREFIX}/report?{urlencode({**base, 'cursor': page.continue_cursor}, quote_via=quote)}"
        )
        return self._html(
            request,
            start_response,
            "200 OK",
            "report.html",
            page=page,
            only_drift=only_drift,
            report_id=report_id,
            next_url=next_url,
            first_page=cursor is None,
            fmt=fmt,
        )


def _target(form: dict[str, str]) -> str:
    for key in ("event", "name"):
        if form.get(key):
            kind = form.get("kind")
            return f"{kind} {form[key]}" if key == "name" and kind else form[key][:100]
    return "-"


def _https(environ: dict[str, Any], proxies: client_address.Networks) -> bool:
    """Served over https: directly, or by a trusted proxy that says so (Caddy sets
    X-Forwarded-Proto); a client's own X-Forwarded-Proto proves nothing."""
    if environ.get("wsgi.url_scheme") == "https":
        return True
    try:
        peer = ip_address(str(environ.get("REMOTE_ADDR") or ""))
    except ValueError:
        return False
    trusted = any(peer in network for network in proxies)
    return trusted and str(environ.get("HTTP_X_FORWARDED_PROTO", "")).lower() == "https"


def _security_headers(nonce: str) -> list[tuple[str, str]]:
    policy = (
        "default-src 'none'; "
        f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return [
        ("Content-Security-Policy", policy),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ]


def _redirect(
    start_response: StartResponse, location: str, *headers: tuple[str, str]
) -> list[bytes]:
    return respond(
        start_response,
        "303 See Other",
        b"",
        "text/plain",
        ("Location", location),
        ("Cache-Control", "no-store"),
        *headers,
    )


def build_ops_app(settings: Settings, gateway: ConvexGateway) -> OpsApp | None:
    """The page's WSGI app, or None when it is off (no OPS_PASSWORD_HASH / OPS_PASSWORD)."""
    if not settings.ops_enabled:
        return None
    return OpsApp(settings, gateway, OpsAccess.from_settings(settings))
