"""The SOAP face of the bridge: QBWC's eight methods, as QBWC names them.

Spyne maps each call onto the sync step (`qbwc_bridge.sync.SyncService`) and
back. Names here are binding: QBWC builds its calls from Intuit's WSDL, so
parameter names, the `<method>Result` element names, `int` for the versions
and for receiveResponseXML's percent, and `string` items inside
authenticateResult must match it exactly.

In front of spyne sits `SoapGate`, which checks every request before spyne
parses it, so anything that is not a well-formed SOAP call is answered with
a SOAP Fault (or a 4xx for what is not SOAP at all), never a traceback, and
spyne never logs a request body:

- POST only (GET only for `?wsdl`: 405 otherwise); an XML Content-Type (415)
  in a charset we know (415);
- a body limit per method, decided before the body is read whole: the large
  one (SOAP_MAX_RESPONSE_BYTES) only for receiveResponseXML, which carries
  QuickBooks' answers, the small one (SOAP_MAX_BODY_BYTES) for everything
  else (413). Which method a body is comes from its first element inside
  soap:Body, as spyne dispatches it, not from the SOAPAction header a client
  can set to anything;
- a body that is empty, not in its charset, or not well-formed XML (400).

Each call runs with the client's address bound (the login throttle counts
per address) and one Convex deadline for all of its Convex calls
(CONVEX_RETRY_BUDGET_SECONDS), and is counted for /metrics.
"""

from __future__ import annotations

import codecs
import io
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import Message
from typing import Any

from lxml import etree
from spyne import Application, Array, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from qbwc_bridge import client_address, qbwc
from qbwc_bridge.auth import MAX_CREDENTIAL_CHARS
from qbwc_bridge.convex_gateway import deadline
from qbwc_bridge.logging import excerpt, get_logger
from qbwc_bridge.metrics import BridgeMetrics
from qbwc_bridge.qbxml.parse import safe_parser
from qbwc_bridge.sync import SyncService
from qbwc_bridge.wsgi import StartResponse, respond

log = get_logger(__name__)

NAMESPACE = "http://developer.intuit.com/"
SERVICE_NAME = "QBWebConnectorSvc"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
RESPONSE_METHOD = "receiveResponseXML"
XML_MEDIA_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})
# Charsets a SOAP client may declare (by codecs' canonical name); QBWC sends utf-8.
CHARSETS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "ascii", "iso8859-1", "cp1252"})
_READ_CHUNK = 64 * 1024


@dataclass
class _Call:
    """What /metrics learns about the SOAP call being served."""

    method: str | None = None
    outcome: str = "fault"


_current_call: ContextVar[_Call | None] = ContextVar("qbwc_soap_call", default=None)


def _outcome(outcome: str) -> None:
    call = _current_call.get()
    if call is not None:
        call.outcome = outcome


def _sync(ctx: Any) -> SyncService:
    sync: SyncService = ctx.app.sync
    return sync


def _auth_outcome(answer: list[str]) -> str:
    verdict = answer[1] if len(answer) > 1 else ""
    return (
        verdict if verdict in (qbwc.AUTH_NOT_VALID_USER, qbwc.AUTH_BUSY, qbwc.AUTH_NONE) else "ok"
    )


class QBWebConnectorSvc(ServiceBase):
    """One method per QBWC call; each only translates, the work is in SyncService."""

    @rpc(_returns=Unicode, _out_variable_name="serverVersionResult")
    def serverVersion(ctx: Any) -> str:
        _outcome("ok")
        return _sync(ctx).server_version()

    @rpc(Unicode, _returns=Unicode, _out_variable_name="clientVersionResult")
    def clientVersion(ctx: Any, strVersion: str | None) -> str:
        answer = _sync(ctx).client_version(strVersion)
        _outcome("refused" if answer.startswith("E:") else "ok")
        return answer

    @rpc(
        Unicode,
        Unicode,
        _returns=Array(Unicode),
        _out_variable_name="authenticateResult",
    )
    def authenticate(ctx: Any, strUserName: str | None, strPassword: str | None) -> list[str]:
        user, password = strUserName or "", strPassword or ""
        if len(user) > MAX_CREDENTIAL_CHARS or len(password) > MAX_CREDENTIAL_CHARS:
            # Never stored or logged: only their lengths. The address still pays for it.
            log.warning(
                "auth_oversized_credentials", user_length=len(user), pw_length=len(password)
            )
            _sync(ctx).throttle.failed("")
            _outcome(qbwc.AUTH_NOT_VALID_USER)
            return ["", qbwc.AUTH_NOT_VALID_USER]
        answer = _sync(ctx).authenticate(user, password)
        _outcome(_auth_outcome(answer))
        return answer

    @rpc(
        Unicode,
        Unicode,
        Unicode,
        Unicode,
        Integer32,
        Integer32,
        _returns=Unicode,
        _out_variable_name="sendRequestXMLResult",
    )
    def sendRequestXML(
        ctx: Any,
        ticket: str | None,
        strHCPResponse: str | None,
        strCompanyFileName: str | None,
        qbXMLCountry: str | None,
        qbXMLMajorVers: int | None,
        qbXMLMinorVers: int | None,
    ) -> str:
        answer = _sync(ctx).send_request(
            ticket or "",
            strHCPResponse or "",
            strCompanyFileName or "",
            qbXMLCountry or "",
            qbXMLMajorVers,
            qbXMLMinorVers,
        )
        _outcome("request" if answer else "empty")
        return answer

    @rpc(
        Unicode,
        Unicode,
        Unicode,
        Unicode,
        _returns=Integer32,
        _out_variable_name="receiveResponseXMLResult",
    )
    def receiveResponseXML(
        ctx: Any,
        ticket: str | None,
        response: str | None,
        hresult: str | None,
        message: str | None,
    ) -> int:
        percent = _sync(ctx).receive_response(
            ticket or "", response or "", hresult or "", message or ""
        )
        _outcome("error" if percent < 0 else "ok")
        return percent

    @rpc(Unicode, Unicode, Unicode, _returns=Unicode, _out_variable_name="connectionErrorResult")
    def connectionError(
        ctx: Any, ticket: str | None, hresult: str | None, message: str | None
    ) -> str:
        _outcome("ok")
        return _sync(ctx).connection_error(ticket or "", hresult or "", message or "")

    @rpc(Unicode, _returns=Unicode, _out_variable_name="getLastErrorResult")
    def getLastError(ctx: Any, ticket: str | None) -> str:
        _outcome("ok")
        return _sync(ctx).get_last_error(ticket or "")

    @rpc(Unicode, _returns=Unicode, _out_variable_name="closeConnectionResult")
    def closeConnection(ctx: Any, ticket: str | None) -> str:
        _outcome("ok")
        return _sync(ctx).close_connection(ticket or "")


# -- the gate in front of spyne ----------------------------------------------------------------


class Refused(Exception):
    """A request answered with an HTTP error and a SOAP Fault, without reaching spyne."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def fault_body(code: str, message: str) -> bytes:
    """A SOAP 1.1 Fault envelope (what a SOAP client, QBWC included, can read)."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault"
    )
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _media_type(environ: dict[str, Any]) -> tuple[str, str | None]:
    header = Message()
    header["content-type"] = str(environ.get("CONTENT_TYPE") or "")
    charset = header.get_param("charset")
    return header.get_content_type(), str(charset).strip().lower() if charset else None


def _charset(declared: str | None) -> str | None:
    if declared is None:
        return None
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        name = ""
    if name not in CHARSETS:
        raise Refused(
            "415 Unsupported Media Type", f"Unsupported charset {declared[:40]!r}; send utf-8."
        )
    return declared


def _content_length(environ: dict[str, Any]) -> int:
    raw = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not raw.isdigit():
        raise Refused("400 Bad Request", "Content-Length is not a number.")
    return int(raw)


def _read(stream: Any, size: int) -> bytes:
    parts: list[bytes] = []
    while size > 0:
        chunk = stream.read(min(size, _READ_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def _first_body_element(head: bytes) -> str | None:
    """'{ns}name' of the first element inside soap:Body, from the start of a document."""
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        parser.feed(head)
        in_body = False
        for _event, element in parser.read_events():
            tag = getattr(element, "tag", None)  # "start" events carry elements
            if in_body:
                return str(tag)
            in_body = tag == f"{{{SOAP_ENV}}}Body"
    except etree.XMLSyntaxError:
        return None
    return None


def _operation(root: Any) -> str | None:
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Refused("400 Bad Request", "Not a SOAP 1.1 envelope.")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    operation = None if body is None else next(iter(body.iterchildren(tag=etree.Element)), None)
    if operation is None:
        raise Refused("400 Bad Request", "The SOAP body names no method.")
    name = etree.QName(operation)
    return name.localname if name.namespace == NAMESPACE else None


@dataclass(frozen=True)
class BodyLimits:
    response: int  # receiveResponseXML
    other: int  # every other call


def read_soap_body(environ: dict[str, Any], limits: BodyLimits) -> tuple[bytes, str | None]:
    """The checked request body and its QBWC method name (None: not one of ours).

    Raises Refused for anything spyne should never see.
    """
    media, declared = _media_type(environ)
    if media not in XML_MEDIA_TYPES:
        raise Refused("415 Unsupported Media Type", "Send SOAP as text/xml; charset=utf-8.")
    charset = _charset(declared)
    length = _content_length(environ)
    if length > limits.response:
        raise Refused(
            "413 Request Entity Too Large", f"Bodies are limited to {limits.response} bytes."
        )
    stream = environ["wsgi.input"]
    body = _read(stream, min(length, limits.other))
    if length > limits.other:
        # Only receiveResponseXML may be large; decide from the start of the body.
        if _first_body_element(body) != f"{{{NAMESPACE}}}{RESPONSE_METHOD}":
            raise Refused(
                "413 Request Entity Too Large",
                f"Only {RESPONSE_METHOD} may exceed {limits.other} bytes.",
            )
        body += _read(stream, length - len(body))
    if not body.strip():
        raise Refused("400 Bad Request", "The request body is empty.")
    if charset is not None:
        try:
            body.decode(charset)
        except UnicodeDecodeError:
            raise Refused("400 Bad Request", f"The body is not valid {charset[:40]}.") from None
    try:
        root = etree.fromstring(body, safe_parser(charset, remove_comments=True))
    except (etree.XMLSyntaxError, LookupError, ValueError) as error:
        raise Refused(
            "400 Bad Request", f"The body is not well-formed XML: {excerpt(str(error), 200)}"
        ) from None
    return body, _operation(root)


class SoapGate:
    """WSGI: checks, bounds and counts each SOAP request, then lets spyne answer it."""

    def __init__(self, sync: SyncService, metrics: BridgeMetrics | None = None) -> None:
        settings = sync.settings
        self.sync = sync
        self.metrics = metrics
        self.limits = BodyLimits(settings.max_response_body_bytes, settings.max_soap_body_bytes)
        application = Application(
            [QBWebConnectorSvc],
            tns=NAMESPACE,
            name=SERVICE_NAME,
            in_protocol=Soap11(validator=None),
            out_protocol=Soap11(),
        )
        application.sync = sync
        # The gate enforces the real limits; spyne's own must not be lower.
        self.spyne = WsgiApplication(application, max_content_length=self.limits.response + 1)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        if method == "GET" and str(environ.get("QUERY_STRING", "")).lower().startswith("wsdl"):
            wsdl: Iterable[bytes] = self.spyne(environ, start_response)  # no Convex call
            return wsdl
        if method != "POST":
            body = b"POST SOAP requests here; the WSDL is at ?wsdl.\n"
            return respond(
                start_response, "405 Method Not Allowed", body, "text/plain", ("Allow", "POST")
            )
        started = time.monotonic()
        call = _Call()
        token = _current_call.set(call)
        try:
            address = client_address.from_environ(environ, self.sync.settings.trusted_proxies)
            with client_address.bound(address):
                return self._serve(environ, start_response, call)
        finally:
            _current_call.reset(token)
            if self.metrics is not None:
                self.metrics.observe_soap(call.method, call.outcome, time.monotonic() - started)

    def _serve(
        self, environ: dict[str, Any], start_response: StartResponse, call: _Call
    ) -> Iterable[bytes]:
        try:
            body, call.method = read_soap_body(environ, self.limits)
        except Refused as refused:
            call.outcome = "refused"
            log.warning(
                "soap_request_refused",
                status=int(refused.status.split()[0]),
                reason=refused.message,
                content_length=str(environ.get("CONTENT_LENGTH", ""))[:20],
            )
            return _fault(start_response, refused.status, "Client", refused.message)
        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(body)
        inner["CONTENT_LENGTH"] = str(len(body))
        captured: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured[:] = [status, headers]

        try:
            with deadline(self.sync.settings.convex_retry_budget_seconds):
                # Joined here, inside the deadline and the bound address: spyne serializes lazily.
                answer = b"".join(self.spyne(inner, capture))
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("soap_call_failed", method=call.method, error_id=error_id)
            return _fault(
                start_response,
                "500 Internal Server Error",
                "Server",
                f"Internal bridge error (error id {error_id}); see the bridge log.",
            )
        status, headers = captured
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(answer)))])
        return [answer]


def _fault(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    return respond(start_response, status, fault_body(code, message), "text/xml; charset=utf-8")


def build_soap_app(sync: SyncService, metrics: BridgeMetrics | None = None) -> SoapGate:
    """A WSGI app serving the QBWC service (WSDL at `?wsdl`)."""
    return SoapGate(sync, metrics)
