"""A Convex that accepts connections and never answers (why item 1 of issue 10).

Before: authenticate gave no answer in 330 s, serverVersion timed out, and 8
/healthz requests took every server thread. Now every SOAP call that needs
Convex answers "try later" within CONVEX_RETRY_BUDGET_SECONDS and logs one
error; serverVersion, clientVersion and the WSDL answer at once; /healthz
asks Convex once for everyone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from support.black_hole import BlackHole, black_hole
from support.bridge import PASSWORD, USERNAME, RunningBridge, bridge_settings, serve_bridge
from support.load import http_request
from support.qbwc_simulator import SoapClient

from qbwc_bridge import qbwc
from qbwc_bridge.convex_gateway import SLOW_CALL_SECONDS
from qbwc_bridge.sync import CONVEX_DOWN

BUDGET = 3  # CONVEX_RETRY_BUDGET_SECONDS for these tests
FAST = 1.0  # "at once", with room for a loaded test machine


@contextmanager
def bridge_on_a_hung_convex() -> Iterator[tuple[RunningBridge, BlackHole]]:
    with black_hole() as hole:
        settings = bridge_settings(
            hole.url,
            "prod:hung|key",
            CONVEX_CONNECT_TIMEOUT_SECONDS="1",
            CONVEX_READ_TIMEOUT_SECONDS="1",
            CONVEX_RETRY_BUDGET_SECONDS=str(BUDGET),
        )
        with serve_bridge(settings) as bridge:
            yield bridge, hole


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def handshake_is_instant(bridge: RunningBridge) -> None:
    soap = SoapClient(bridge.soap_url, timeout=10)
    version, seconds = timed(lambda: soap.call("serverVersion"))
    assert version.startswith("qbwc-bridge") and seconds < FAST
    answer, seconds = timed(lambda: soap.call("clientVersion", strVersion="2.3.0.215"))
    assert answer == "" and seconds < FAST
    (status, wsdl), seconds = timed(lambda: http_request("GET", f"{bridge.soap_url}?wsdl"))
    assert status == 200 and b"authenticateResult" in wsdl and seconds < FAST


def test_every_convex_call_answers_try_later_within_the_budget(
    json_logs: Callable[[], list[str]],
) -> None:
    with bridge_on_a_hung_convex() as (bridge, _hole):
        soap = SoapClient(bridge.soap_url, timeout=30)
        calls: dict[str, Callable[[], Any]] = {
            "authenticate": lambda: soap.call(
                "authenticate", strUserName=USERNAME, strPassword=PASSWORD
            ),
            "sendRequestXML": lambda: soap.send_request("t" * 43),
            "receiveResponseXML": lambda: soap.receive("t" * 43, "<QBXML/>"),
            "getLastError": lambda: soap.call("getLastError", ticket="t" * 43),
        }
        with ThreadPoolExecutor(len(calls)) as pool:
            running = {name: pool.submit(timed, call) for name, call in calls.items()}
            time.sleep(0.3)  # all four are waiting on Convex now
            handshake_is_instant(bridge)
            answers = {name: future.result(timeout=30) for name, future in running.items()}
    for name, (_answer, seconds) in answers.items():
        assert seconds < BUDGET + 1.5, (name, seconds)
    assert answers["authenticate"][0] == ["", qbwc.AUTH_BUSY]
    assert answers["sendRequestXML"][0] == qbwc.NO_REQUEST
    assert answers["receiveResponseXML"][0] == qbwc.PERCENT_ERROR
    assert answers["getLastError"][0] == CONVEX_DOWN
    errors = [json.loads(line) for line in json_logs() if '"level": "error"' in line]
    # One error line per SOAP call, saying which call and why; retries are warnings.
    assert sorted(e["call"] for e in errors) == sorted(
        ["authenticate", "send_request", "receive_response", "get_last_error"]
    )
    assert {e["event"] for e in errors} == {"convex_unavailable"}


def test_many_healthz_share_one_probe_and_never_block_soap() -> None:
    with bridge_on_a_hung_convex() as (bridge, hole):
        with ThreadPoolExecutor(40) as pool:
            checks = [
                pool.submit(timed, lambda: http_request("GET", f"{bridge.url}/healthz"))
                for _ in range(40)
            ]
            time.sleep(0.3)
            handshake_is_instant(bridge)
            results = [check.result(timeout=30) for check in checks]
        assert {status for (status, _), _ in results} == {503}
        assert max(seconds for _, seconds in results) < 2.0 + 1.5  # one probe's timeout
        assert hole.connections == 1  # one probe for all 40
        # Cached: asking again costs Convex nothing.
        assert http_request("GET", f"{bridge.url}/healthz")[0] == 503
        assert hole.connections == 1


def test_a_flood_of_bad_tickets_cannot_take_every_thread() -> None:
    # Bad tickets reach Convex (only Convex knows tickets); with Convex hung, each
    # would hold a thread for the whole budget. Only a few may wait at a time.
    with bridge_on_a_hung_convex() as (bridge, _hole):
        flood = SoapClient(bridge.soap_url, timeout=30)
        stop = threading.Event()

        def attacker() -> None:
            while not stop.is_set():
                flood.send_request("x" * 43)

        threads = [threading.Thread(target=attacker, daemon=True) for _ in range(30)]
        for thread in threads:
            thread.start()
        try:
            # Past the first second of the hang the bridge knows Convex is slow: no
            # request waits for a Convex slot, so the flood cannot queue up ahead.
            time.sleep(SLOW_CALL_SECONDS + 0.5)
            handshake_is_instant(bridge)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)


def test_healthz_says_only_whether_bridge_and_convex_are_up(bridge: RunningBridge) -> None:
    # Why item 9: /healthz showed queue counts to anyone.
    status, body = http_request("GET", f"{bridge.url}/healthz")
    assert status == 200
    assert json.loads(body) == {"ok": True, "convex": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/qbwc?wsdl", "/"])
def test_no_convex_needed_for_the_pages_that_need_none(path: str) -> None:
    with bridge_on_a_hung_convex() as (bridge, _hole):
        (status, _), seconds = timed(lambda: http_request("GET", f"{bridge.url}{path}"))
        assert status in (200, 503) and seconds < 2.0 + FAST
