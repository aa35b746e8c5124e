"""What reaches the SOAP endpoint that is not a good QBWC call (issue 10, why items 2, 3, 4, 6).

Every bad body gets a SOAP Fault (or a 4xx for what is not SOAP), never a
traceback or a bare 500 page; bodies are limited per method before they are
read whole; credentials of absurd length are refused without being kept or
logged; a guesser at one address does not lock out the Web Connector at
another; and no password or ticket reaches the log, whatever was sent.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

import pytest
from lxml import etree
from support.bridge import PASSWORD, USERNAME, RunningBridge, bridge_settings, serve_bridge
from support.load import ATTACKER_ADDRESS, BoundSoapClient, http_request, random_ticket
from support.local_convex import LocalConvex
from support.qbwc_simulator import QBWC_NS, SOAP_NS, SoapClient

from qbwc_bridge import qbwc
from qbwc_bridge.auth import MAX_CREDENTIAL_CHARS, _user_key

XML = {"Content-Type": "text/xml; charset=utf-8"}
LogLines = Callable[[], list[str]]


def envelope(method: str, **params: str) -> bytes:
    inner = "".join(f"<{name}>{value}</{name}>" for name, value in params.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
        f'<{method} xmlns="{QBWC_NS}">{inner}</{method}></soap:Body></soap:Envelope>'
    ).encode()


AUTH = envelope("authenticate", strUserName=USERNAME, strPassword=PASSWORD)


def fault_string(body: bytes) -> str:
    root = etree.fromstring(body)
    fault = root.find(f".//{{{SOAP_NS}}}Fault")
    assert fault is not None, body[:300]
    return str(fault.findtext("faultstring"))


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"", XML, 400, "empty"),
        (b"   \n", XML, 400, "empty"),
        (
            AUTH.replace(USERNAME.encode(), "m\xfcller".encode("latin-1")),
            XML,
            400,
            "not valid utf-8",
        ),
        (AUTH, {"Content-Type": "text/xml; charset=klingon"}, 415, "Unsupported charset"),
        (AUTH, {"Content-Type": "text/xml; charset=base64"}, 415, "Unsupported charset"),
        (AUTH[:150], XML, 400, "not well-formed"),
        (AUTH, {"Content-Type": "application/json"}, 415, "text/xml"),
        (AUTH, {}, 415, "text/xml"),
        (b"<html><body>hi</body></html>", XML, 400, "Not a SOAP"),
        (
            f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body/></soap:Envelope>'.encode(),
            XML,
            400,
            "names no method",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            + AUTH.split(b"?>", 1)[1],
            XML,
            400,
            "",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "not-utf8",
        "unknown-charset",
        "non-text-charset",
        "truncated",
        "json",
        "no-content-type",
        "html",
        "no-method",
        "dtd",
    ],
)
def test_a_bad_body_gets_a_soap_fault(
    bridge: RunningBridge, body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    # Why item 6: empty body, non-UTF-8 bytes and an unknown charset gave a plain 500.
    got, answer = http_request("POST", bridge.soap_url, body, headers)
    if "dtd" in says or not says:
        # A DTD: refused or harmless, never a crash.
        assert got in (200, 400), answer[:300]
        return
    assert got == status, answer[:300]
    assert says in fault_string(answer)
    assert b"Traceback" not in answer


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_soap_wants_post(bridge: RunningBridge, method: str) -> None:
    status, answer = http_request(method, bridge.soap_url, AUTH if method == "PUT" else None, XML)
    assert status == 405 and b"POST" in answer
    assert http_request("GET", f"{bridge.soap_url}?wsdl")[0] == 200


def test_an_unknown_method_is_a_fault_not_a_traceback(bridge: RunningBridge) -> None:
    status, answer = http_request("POST", bridge.soap_url, envelope("dropTables"), XML)
    assert status == 500 and b"Fault" in answer and b"Traceback" not in answer


def test_only_receive_response_xml_may_be_large(bridge: RunningBridge) -> None:
    small = bridge.settings.max_soap_body_bytes
    big_user = envelope("authenticate", strUserName="u" * small, strPassword="p")
    status, answer = http_request("POST", bridge.soap_url, big_user, XML)
    assert status == 413 and "receiveResponseXML" in fault_string(answer)
    # Naming receiveResponseXML in SOAPAction buys nothing: the body's method decides.
    status, _ = http_request(
        "POST", bridge.soap_url, big_user, {**XML, "SOAPAction": f'"{QBWC_NS}receiveResponseXML"'}
    )
    assert status == 413
    # QuickBooks' answers may be megabytes (list queries).
    response = "<QBXML>" + "x" * (2 * 1024 * 1024) + "</QBXML>"
    answer_percent = SoapClient(bridge.soap_url).receive(random_ticket(), response)
    assert answer_percent == qbwc.PERCENT_ERROR  # unknown ticket, but read and answered


def test_receive_response_xml_has_its_own_limit(convex: LocalConvex) -> None:
    settings = bridge_settings(
        convex.url, convex.admin_key, SOAP_MAX_RESPONSE_BYTES=str(1024 * 1024)
    )
    with serve_bridge(settings) as bridge:
        # Refused from the Content-Length alone: the body is never sent, let alone read.
        port = int(bridge.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                b"POST /qbwc HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\n"
                + f"Content-Length: {1024 * 1024 + 1}\r\n\r\n".encode()
                + envelope("receiveResponseXML")[:100]
            )
            status_line = conn.recv(200).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize("length", [MAX_CREDENTIAL_CHARS + 1, 100_000])
def test_oversized_credentials_are_refused_unkept_and_unlogged(
    bridge: RunningBridge, json_logs: LogLines, length: int
) -> None:
    # Why item 2: 1.9 MB user names went into the throttle and, whole, into the log.
    name = "N" * length
    answer = SoapClient(bridge.soap_url).call("authenticate", strUserName=name, strPassword="x")
    assert answer == ["", qbwc.AUTH_NOT_VALID_USER]
    answer = SoapClient(bridge.soap_url).call(
        "authenticate", strUserName=USERNAME, strPassword=name
    )
    assert answer == ["", qbwc.AUTH_NOT_VALID_USER]
    lines = json_logs()
    assert not any("N" * 50 in line for line in lines)
    logged = [json.loads(line) for line in lines if "auth_oversized_credentials" in line]
    assert [(r["user_length"], r["pw_length"]) for r in logged] == [
        (length, 1),
        (len(USERNAME), length),
    ]
    throttle = bridge.sync.throttle
    assert (_user_key(name), "127.0.0.1") not in throttle._pairs
    assert throttle.tracked_bytes < 10_000


def test_a_guesser_elsewhere_does_not_lock_out_the_web_connector(bridge: RunningBridge) -> None:
    # Why item 3: four wrong tries a second for the real user name kept QBWC out.
    attacker = BoundSoapClient(bridge.soap_url, ATTACKER_ADDRESS)
    for _ in range(12):
        assert attacker.call("authenticate", strUserName=USERNAME, strPassword="guess")[1] == "nvu"
    assert bridge.sync.throttle.retry_after(USERNAME, ATTACKER_ADDRESS) > 0
    answer = SoapClient(bridge.soap_url).call(
        "authenticate", strUserName=USERNAME, strPassword=PASSWORD
    )
    assert answer[0] and answer[1] != qbwc.AUTH_NOT_VALID_USER  # in
    # The attacker stays locked, even with the right password now.
    assert attacker.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD)[1] == "nvu"


def test_behind_a_trusted_proxy_the_forwarded_address_counts(convex: LocalConvex) -> None:
    settings = bridge_settings(convex.url, convex.admin_key, TRUSTED_PROXIES="127.0.0.1")
    with serve_bridge(settings) as bridge:

        def login(forwarded_for: str, password: str) -> str:
            body = envelope("authenticate", strUserName=USERNAME, strPassword=password)
            headers = {**XML, "X-Forwarded-For": forwarded_for}
            status, answer = http_request("POST", bridge.soap_url, body, headers)
            assert status == 200
            strings = etree.fromstring(answer).findall(f".//{{{QBWC_NS}}}string")
            return str(strings[1].text or "")

        for _ in range(6):
            assert login("203.0.113.66", "guess") == "nvu"
        assert login("203.0.113.66", PASSWORD) == "nvu"  # that address is locked
        assert login("198.51.100.7", PASSWORD) != "nvu"  # the Web Connector is not
        # Forging the header to look like the Web Connector gains nothing: the proxy appends.
        assert login("198.51.100.7, 203.0.113.66", PASSWORD) == "nvu"


def test_no_secret_reaches_the_log_whatever_is_sent(
    bridge: RunningBridge, json_logs: LogLines
) -> None:
    # Why item 4: a truncated body made spyne log it whole, password and tickets included.
    ticket = random_ticket()
    secret = "Pa55-word-nobody-may-see"
    bodies = [
        envelope("authenticate", strUserName=USERNAME, strPassword=secret)[:-40],
        envelope("sendRequestXML", ticket=ticket, strHCPResponse="<x>")[:-20],
        envelope("authenticate", strUserName=USERNAME, strPassword=secret).replace(
            b"utf-8", b"klingon"
        ),
        envelope("getLastError", ticket=ticket).replace(b"<ticket>", b"<ticket a='1'>"),
        envelope("receiveResponseXML", ticket=ticket, response="1", hresult="", message="").replace(
            b"<response>1", b"<response>abc&bogus;"
        ),
        envelope("sendRequestXML", ticket=ticket, qbXMLMajorVers="thirteen"),
    ]
    for body in bodies:
        status, answer = http_request("POST", bridge.soap_url, body, XML)
        assert status in (200, 400, 500), answer[:200]
        assert b"Traceback" not in answer
    SoapClient(bridge.soap_url).call("authenticate", strUserName=USERNAME, strPassword=secret)
    SoapClient(bridge.soap_url).send_request(ticket)
    lines = json_logs()
    assert lines, "nothing was logged"
    for line in lines:
        json.loads(line)
        assert secret not in line and ticket not in line, line
        assert len(line) < 4000, line[:300]
