"""End to end: QBWC simulator -> bridge (waitress, real HTTP) -> local Convex
runtime (the real convex/ functions) and back, with QuickBooks simulated.

Every scenario ends with the same two checks: each applied event is in
QuickBooks exactly once, and QuickBooks' QOH per item and site equals the
Convex balances.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest
from support.bridge import (
    PASSWORD,
    USERNAME,
    RunningBridge,
    bridge_settings,
    installed_bridge,
    qbwc,
    serve_bridge,
)
from support.qbwc_simulator import QbwcSimulator, SoapClient
from support.world import World

MINUTE_MS = 60_000


def test_happy_path_syncs_every_event_once_and_books_agree(
    world: World, bridge: RunningBridge
) -> None:
    world.open_stock()
    world.transfer("00123", "WH", "TRUCK-1", 50, memo="Restock truck 1")
    world.transfer("FLT-200", "WH", "STORE", 10)
    same_site = world.transfer("1E5", "WH", "WH-DOCK", 5)
    world.adjust("GSK-9", "WH", -3, reason="DAMAGE", memo="Crushed & torn <box>")
    assert same_site["qbStatus"] == "not_required"

    report = qbwc(bridge, world.quickbooks).run_session()

    assert report.authenticate_result[1] == ""
    assert report.percents[-1] == 100
    assert report.close_message is not None and report.close_message.startswith("OK: 8 applied")
    assert world.quickbooks.count_by_ref(same_site["refNumber"]) == 0
    assert world.queue()["counts"]["applied"] == 8
    world.assert_exactly_once()
    world.assert_books_agree()

    # The next scheduled run finds nothing to do.
    again = qbwc(bridge, world.quickbooks).run_session()
    assert again.authenticate_result[1] == "none"
    assert again.calls == ["serverVersion", "clientVersion", "authenticate", "closeConnection"]


def test_batches_report_progress_until_done(world: World, convex: Any) -> None:
    settings = bridge_settings(convex.url, convex.admin_key, QBWC_BATCH_SIZE="10")
    with installed_bridge(settings, world.quickbooks) as small:
        world.open_stock()
        for _ in range(30):
            world.transfer("00123", "WH", "TRUCK-1", 1)
        report = qbwc(small, world.quickbooks).run_session()
    assert len(report.requests) == 4  # 35 events, 10 per exchange
    assert report.percents == sorted(report.percents) and report.percents[-1] == 100
    assert all(0 < p < 100 for p in report.percents[:-1])
    world.assert_exactly_once()
    world.assert_books_agree()


def test_bad_password_is_refused_and_repeated_failures_are_slowed(
    world: World, bridge: RunningBridge
) -> None:
    world.open_stock()
    for _ in range(4):
        report = QbwcSimulator(bridge.soap_url, USERNAME, "wrong", world.quickbooks).run_session()
        assert report.authenticate_result == ["", "nvu"]
    # Throttled now: even the right password waits its turn.
    assert qbwc(bridge, world.quickbooks).run_session().authenticate_result == ["", "nvu"]
    assert world.quickbooks.transactions == []


def test_record_locked_is_retried_after_the_backoff(
    world: World, bridge: RunningBridge, convex: Any
) -> None:
    world.open_stock()
    moved = world.transfer("00123", "WH", "TRUCK-1", 7)
    world.quickbooks.lock_next(moved["refNumber"])

    first = qbwc(bridge, world.quickbooks).run_session()
    assert first.percents[-1] == 100
    failed = world.state(moved["refNumber"])
    assert failed["qbStatus"] == "failed" and failed["retryCount"] == 1
    assert "3175" in failed["lastError"]

    # Not due yet: the next run has nothing to send.
    assert qbwc(bridge, world.quickbooks).run_session().authenticate_result[1] == "none"
    convex.advance_clock(MINUTE_MS + 1)
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state(moved["refNumber"])["qbStatus"] == "applied"
    world.assert_exactly_once()
    world.assert_books_agree()


def test_invalid_reference_is_held_until_mapped_then_posts(
    world: World, bridge: RunningBridge
) -> None:
    world.open_stock()
    world.admin.mutation(
        "parts:upsertBatch",
        {"parts": [{"sku": "NEW-1", "name": "New part", "qbItemFullName": "Not In QB"}]},
    )
    world.adjust("NEW-1", "WH", 4)
    report = qbwc(bridge, world.quickbooks).run_session()
    held = world.state("AD-000006")
    # Never sent, no retry spent: QuickBooks' item list has no such item.
    assert held["qbStatus"] == "held" and held["retryCount"] == 0
    assert (
        "Not In QB" in held["holdReason"] and "not in QuickBooks' items list" in held["holdReason"]
    )
    assert not any("AD-000006" in request for request in report.requests)
    assert world.admin.query("qbQueue:getQueueStatus", {})["counts"]["applied"] == 5

    # The item is created in QuickBooks; the lists are read again; then it is mapped.
    world.quickbooks.add_item("Hardware:New part")
    world.admin.mutation("qbMapping:requestListRefresh", {})
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state("AD-000006")["qbStatus"] == "held"
    world.admin.mutation("qbMapping:mapItem", {"sku": "NEW-1", "qbItem": "Hardware:New part"})
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state("AD-000006")["qbStatus"] == "applied"
    assert world.quickbooks.count_by_ref("AD-000006") == 1


def test_lost_response_is_looked_up_not_resent(
    world: World, bridge: RunningBridge, convex: Any
) -> None:
    world.open_stock()
    moved = world.transfer("00123", "WH", "TRUCK-1", 9)
    world.quickbooks.lose_next_response()

    cut = qbwc(bridge, world.quickbooks).run_session()
    assert cut.interrupted
    assert world.quickbooks.count_by_ref(moved["refNumber"]) == 1  # QuickBooks saved it
    assert world.state(moved["refNumber"])["qbStatus"] == "in_flight"

    # While the session could still post, nothing is touched: its claims are nobody else's work.
    assert qbwc(bridge, world.quickbooks).run_session().authenticate_result[1] == "none"
    assert world.state(moved["refNumber"])["qbStatus"] == "in_flight"
    # Once it is over (silent past its TTL), the next run asks QuickBooks first.
    convex.advance_clock(bridge.settings.session_ttl_seconds * 1000 + 1)
    after = qbwc(bridge, world.quickbooks).run_session()
    assert any("TransferInventoryQueryRq" in request for request in after.requests)
    state = world.state(moved["refNumber"])
    assert state["qbStatus"] == "applied"
    assert state["qbTxnId"] == world.quickbooks.find_by_ref(moved["refNumber"])[0].txn_id
    world.assert_exactly_once()
    world.assert_books_agree()


def test_lookup_that_finds_nothing_sends_the_event(
    world: World, bridge: RunningBridge, convex: Any
) -> None:
    world.open_stock()
    qbwc(bridge, world.quickbooks).run_session()
    moved = world.transfer("PMP-1", "WH", "STORE", 2)
    # A session claims and sends it, then dies before QuickBooks runs the request.
    soap = SoapClient(bridge.soap_url)
    ticket = soap.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD)[0]
    request = soap.send_request(ticket)
    assert moved["refNumber"] in request  # claimed and sent, but QuickBooks never ran it
    convex.advance_clock(bridge.settings.session_ttl_seconds * 1000 + 1)
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state(moved["refNumber"])["qbStatus"] == "applied"
    world.assert_exactly_once()
    world.assert_books_agree()


def test_whole_message_parse_error_releases_the_batch(
    world: World, bridge: RunningBridge, convex: Any
) -> None:
    world.open_stock()
    world.quickbooks.reject_next_message()
    report = qbwc(bridge, world.quickbooks).run_session()
    assert report.percents == [-1]
    assert report.last_error is not None and "0x80040400" in report.last_error
    assert world.queue()["counts"]["failed"] == 5
    convex.advance_clock(MINUTE_MS + 1)
    qbwc(bridge, world.quickbooks).run_session()
    assert world.queue()["counts"]["applied"] == 5
    world.assert_exactly_once()
    world.assert_books_agree()


def test_bridge_restart_between_send_and_receive(world: World, convex: Any) -> None:
    settings = bridge_settings(convex.url, convex.admin_key)
    with installed_bridge(settings, world.quickbooks):
        world.open_stock()
    with serve_bridge(settings) as first:
        soap = SoapClient(first.soap_url)
        ticket = soap.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD)[0]
        request = soap.send_request(ticket)
    response = world.quickbooks.process(request)
    with serve_bridge(settings) as second:
        soap = SoapClient(second.soap_url)
        percent = soap.call(
            "receiveResponseXML", ticket=ticket, response=response, hresult="", message=""
        )
        assert int(percent) == 100
        assert soap.call("closeConnection", ticket=ticket).startswith("OK: 5 applied")
    world.assert_exactly_once()
    world.assert_books_agree()


def test_quickbooks_not_running_ends_the_session_cleanly(
    world: World, bridge: RunningBridge
) -> None:
    world.open_stock()
    world.quickbooks.stop()
    report = qbwc(bridge, world.quickbooks).run_session()
    assert report.connection_error_answer == "done"
    assert world.queue()["counts"]["pending"] == 5
    world.quickbooks.start()
    qbwc(bridge, world.quickbooks).run_session()
    assert world.queue()["counts"]["applied"] == 5


def test_unknown_ticket_gets_a_clear_message(bridge: RunningBridge, world: World) -> None:
    soap = SoapClient(bridge.soap_url)
    assert soap.send_request("forged") == ""
    assert "unknown or has expired" in soap.call("getLastError", ticket="forged")
    assert (
        int(
            soap.call(
                "receiveResponseXML", ticket="forged", response="<QBXML/>", hresult="", message=""
            )
        )
        == -1
    )
    assert soap.call("closeConnection", ticket="forged").startswith("OK")


def test_expired_ticket_is_refused(world: World, bridge: RunningBridge, convex: Any) -> None:
    world.open_stock()
    soap = SoapClient(bridge.soap_url)
    ticket = soap.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD)[0]
    convex.advance_clock(bridge.settings.session_ttl_seconds * 1000 + 1)
    assert soap.send_request(ticket) == ""
    assert "expired" in soap.call("getLastError", ticket=ticket)
    assert world.queue()["counts"]["pending"] == 5


def test_old_qbxml_version_kills_transfers_with_a_reason(
    world: World, bridge: RunningBridge
) -> None:
    world.open_stock()
    moved = world.transfer("00123", "WH", "TRUCK-1", 3)
    qbwc(bridge, world.quickbooks, qbxml_major=8, qbxml_minor=0).run_session()
    dead = world.state(moved["refNumber"])
    assert dead["qbStatus"] == "dead" and "10.0" in dead["lastError"]
    assert world.quickbooks.count_by_ref(moved["refNumber"]) == 0


def test_old_web_connector_is_refused(world: World, bridge: RunningBridge) -> None:
    report = qbwc(bridge, world.quickbooks, client_version="1.5.0.0").run_session()
    assert report.last_error is not None and report.last_error.startswith("E:")
    assert "authenticate" not in report.calls


def test_http_surface_wsdl_healthz_and_root(bridge: RunningBridge) -> None:
    with urllib.request.urlopen(f"{bridge.url}/qbwc?wsdl", timeout=10) as response:
        wsdl = response.read().decode()
    for name in (
        "authenticateResult",
        "sendRequestXMLResult",
        "receiveResponseXMLResult",
        "qbXMLMajorVers",
        "strHCPResponse",
    ):
        assert name in wsdl
    with urllib.request.urlopen(f"{bridge.url}/healthz", timeout=10) as response:
        assert response.status == 200 and b'"convex": "ok"' in response.read()
    with urllib.request.urlopen(f"{bridge.url}/", timeout=10) as response:
        assert b"/qbwc" in response.read()


def test_healthz_reports_convex_down(convex: Any) -> None:
    with serve_bridge(bridge_settings("http://127.0.0.1:9", "k")) as down:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{down.url}/healthz", timeout=30)
        assert error.value.code == 503
