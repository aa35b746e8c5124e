"""A QuickBooks Web Connector stand-in that drives the bridge over real HTTP.

It follows QBWC's call order and reactions as Intuit's QBWC Programmer's
Guide describes them: serverVersion (no argument) -> clientVersion ->
authenticate -> (open QuickBooks, else connectionError) -> loop of
sendRequestXML / receiveResponseXML -> closeConnection, with getLastError
after an empty request or a negative percent. QuickBooks itself is any
object with `process(request_xml) -> response_xml` (see qb_simulator);
its faults are exceptions this module knows how to route like QBWC does.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
QBWC_NS = "http://developer.intuit.com/"

# strHCPResponse for a QuickBooks object that cannot say what it is (no `hcp_response()`):
# an Enterprise company with multi-location inventory on.
HCP_RESPONSE = """<?xml version="1.0" ?>
<QBXML><QBXMLMsgsRs>
<HostQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<HostRet><ProductName>QuickBooks Enterprise Solutions 23.0</ProductName><MajorVersion>33</MajorVersion>
<MinorVersion>0</MinorVersion><Country>US</Country>
<SupportedQBXMLVersion>12.0</SupportedQBXMLVersion><SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>
<SupportedQBXMLVersion>16.0</SupportedQBXMLVersion>
<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode></HostRet></HostQueryRs>
<CompanyQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<CompanyRet><IsSampleCompany>false</IsSampleCompany><CompanyName>Acme Parts &amp; Supply</CompanyName></CompanyRet></CompanyQueryRs>
<PreferencesQueryRs requestID="2" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
<PreferencesRet><MultiLocationInventoryPreferences><IsMultiLocationInventoryAvailable>true</IsMultiLocationInventoryAvailable>
<IsMultiLocationInventoryEnabled>true</IsMultiLocationInventoryEnabled></MultiLocationInventoryPreferences></PreferencesRet></PreferencesQueryRs>
</QBXMLMsgsRs></QBXML>"""


class QuickBooks(Protocol):
    def process(self, request_xml: str) -> str: ...


class SoapFault(Exception):
    """The bridge answered with a SOAP fault: QBWC shows QBWC1012 for these."""


@dataclass
class SessionReport:
    """What one QBWC run saw, in order."""

    calls: list[str] = field(default_factory=list)
    authenticate_result: list[str] = field(default_factory=list)
    percents: list[int] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    last_error: str | None = None
    close_message: str | None = None
    connection_error_answer: str | None = None
    interrupted: bool = False


class SoapClient:
    """Raw SOAP 1.1 envelopes, as QBWC sends them (document/literal, Intuit namespace).

    Given several URLs it takes them in turn, one per call: bridges behind a
    load balancer, each call landing on another one.
    """

    def __init__(self, url: str | Sequence[str], timeout: float = 30.0):
        self.urls = [url] if isinstance(url, str) else list(url)
        self._next = 0
        self.timeout = timeout

    @property
    def url(self) -> str:
        url = self.urls[self._next % len(self.urls)]
        self._next += 1
        return url

    def send_request(self, ticket: str, hcp_response: str = "", major: int = 13) -> str:
        """One sendRequestXML as QBWC makes it (the HCP response only on the first)."""
        return str(
            self.call(
                "sendRequestXML",
                ticket=ticket,
                strHCPResponse=hcp_response,
                strCompanyFileName="",
                qbXMLCountry="US",
                qbXMLMajorVers=major,
                qbXMLMinorVers=0,
            )
        )

    def receive(self, ticket: str, response: str = "", hresult: str = "", message: str = "") -> int:
        return int(
            self.call(
                "receiveResponseXML",
                ticket=ticket,
                response=response,
                hresult=hresult,
                message=message,
            )
        )

    def post(self, url: str, payload: bytes, headers: dict[str, str]) -> bytes:
        """One HTTP POST; the answer's body, or SoapFault for an HTTP error."""
        request = urllib.request.Request(url, data=payload, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            raise SoapFault(error.read().decode("utf-8", "replace")) from None

    def call(self, method: str, **params: Any) -> Any:
        envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
        body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
        operation = etree.SubElement(body, f"{{{QBWC_NS}}}{method}", nsmap={None: QBWC_NS})
        for name, value in params.items():
            etree.SubElement(operation, f"{{{QBWC_NS}}}{name}").text = str(value)
        payload = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        text = self.post(
            self.url,
            payload,
            {
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{QBWC_NS}{method}"',
                "User-Agent": "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 4.0.30319.42000)",
            },
        )
        root = etree.fromstring(text)
        fault = root.find(f".//{{{SOAP_NS}}}Fault")
        if fault is not None:
            raise SoapFault(etree.tostring(fault, encoding="unicode"))
        result = root.find(f".//{{{QBWC_NS}}}{method}Result")
        if result is None:
            raise SoapFault(f"no {method}Result in {text[:300]!r}")
        strings = result.findall(f"{{{QBWC_NS}}}string")
        if strings:
            return [s.text or "" for s in strings]
        return result.text or ""


class ResponseLost(Exception):
    """QuickBooks did the work but its answer never reached the bridge (QBWC crash, network cut)."""


class QuickBooksUnavailable(Exception):
    """QBWC could not open QuickBooks (it routes this to connectionError)."""

    def __init__(self, hresult: str, message: str):
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


class RequestRejected(Exception):
    """QuickBooks refused the whole message (e.g. 0x80040400 parse error): QBWC passes hresult on."""

    def __init__(self, hresult: str, message: str):
        super().__init__(f"{hresult}: {message}")
        self.hresult = hresult
        self.message = message


@dataclass
class QbwcSimulator:
    url: str | Sequence[str]
    username: str
    password: str
    quickbooks: QuickBooks
    client_version: str = "2.3.0.215"
    qbxml_major: int = 13
    qbxml_minor: int = 0
    open_company_file: str = r"C:\Users\Public\Documents\Intuit\QuickBooks\Acme Parts.QBW"
    max_exchanges: int = 1000
    # Seconds to wait for each answer; benches raise it where one page takes long to store.
    soap_timeout: float = 30.0

    def run_session(self) -> SessionReport:
        """One scheduled run of the Web Connector, start to end."""
        soap = SoapClient(self.url, self.soap_timeout)
        report = SessionReport()

        def call(method: str, **params: Any) -> Any:
            report.calls.append(method)
            return soap.call(method, **params)

        call("serverVersion")
        answer = call("clientVersion", strVersion=self.client_version)
        if answer.startswith("E:"):
            report.last_error = answer
            return report
        auth = call("authenticate", strUserName=self.username, strPassword=self.password)
        report.authenticate_result = auth
        ticket, verdict = auth[0], auth[1]
        if verdict in ("nvu", "busy"):
            return report
        if verdict == "none":
            report.close_message = call("closeConnection", ticket=ticket)
            return report
        company = verdict or self.open_company_file
        first = True
        for _ in range(self.max_exchanges):
            try:
                if first:
                    self._open_quickbooks()
            except QuickBooksUnavailable as error:
                report.connection_error_answer = call(
                    "connectionError", ticket=ticket, hresult=error.hresult, message=error.message
                )
                return report
            request = call(
                "sendRequestXML",
                ticket=ticket,
                strHCPResponse=self._hcp_response() if first else "",
                strCompanyFileName=company,
                qbXMLCountry="US",
                qbXMLMajorVers=self.qbxml_major,
                qbXMLMinorVers=self.qbxml_minor,
            )
            first = False
            if request == "":
                report.last_error = call("getLastError", ticket=ticket)
                if report.last_error == "NoOp":
                    continue
                break
            report.requests.append(request)
            try:
                response, hresult, message = self.quickbooks.process(request), "", ""
            except ResponseLost:
                report.interrupted = True
                return report
            except RequestRejected as error:
                response, hresult, message = "", error.hresult, error.message
            percent = int(
                call(
                    "receiveResponseXML",
                    ticket=ticket,
                    response=response,
                    hresult=hresult,
                    message=message,
                )
            )
            report.percents.append(percent)
            if percent < 0:
                report.last_error = call("getLastError", ticket=ticket)
                break
            if percent >= 100:
                break
        report.close_message = call("closeConnection", ticket=ticket)
        return report

    def _hcp_response(self) -> str:
        """QBWC asks QuickBooks itself (Host, Company, Preferences) once the file is open."""
        answer = getattr(self.quickbooks, "hcp_response", None)
        return str(answer()) if callable(answer) else HCP_RESPONSE

    def _open_quickbooks(self) -> None:
        opener = getattr(self.quickbooks, "open_company", None)
        if opener is not None:
            opener()
