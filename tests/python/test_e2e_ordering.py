"""Exactly once when the calls do NOT come in QBWC's documented order.

Each test replays one bad day, end to end (QBWC calls by hand over real
HTTP -> bridge -> local Convex runtime, QuickBooks simulated), and ends with
the same verdict: no RefNumber posted twice, every event applied exactly
once (or held for a person), and QuickBooks' QOH equal to Convex per item
and site.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

from support.bridge import (
    PASSWORD,
    USERNAME,
    RunningBridge,
    bridge_settings,
    installed_bridge,
    qbwc,
    serve_bridge,
)
from support.flaky_proxy import flaky_proxy
from support.local_convex import LocalConvex
from support.qbwc_simulator import HCP_RESPONSE, SoapClient
from support.world import ITEMS, SITES, World

SECOND_MS = 1000


def login(soap: SoapClient) -> list[str]:
    return list(soap.call("authenticate", strUserName=USERNAME, strPassword=PASSWORD))


def drain(bridge: RunningBridge | list[RunningBridge], world: World) -> None:
    """Scheduled runs until one finds nothing to do."""
    for _ in range(10):
        if qbwc(bridge, world.quickbooks).run_session().authenticate_result[1] == "none":
            return
    raise AssertionError("the queue never drained")


def refs_in(request: str) -> list[str]:
    return [
        ref
        for ref in (f"{p}-{n:06d}" for p in ("AD", "TR") for n in range(1, 40))
        if ref in request
    ]


def test_two_web_connectors_and_a_slow_quickbooks_post_nothing_twice(
    world: World, convex: LocalConvex
) -> None:
    """Item 1: a second Web Connector is kept out while the first one's message may still post."""
    settings = bridge_settings(convex.url, convex.admin_key, QBWC_BATCH_SIZE="3")
    with installed_bridge(settings, world.quickbooks) as bridge:
        world.open_stock()
        for n in range(5):
            world.adjust("00123", "WH", -(n + 1), reason="DAMAGE")
        a, b = SoapClient(bridge.soap_url), SoapClient(bridge.soap_url)
        ticket_a = login(a)[0]
        message_a = a.send_request(ticket_a, HCP_RESPONSE)
        assert refs_in(message_a) == ["AD-000001", "AD-000002", "AD-000003"]

        # B, the .qwc on a second workstation, authenticates at the same time: busy, no claims.
        ticket_b, verdict_b = login(b)[:2]
        assert verdict_b == "busy"
        assert b.send_request(ticket_b) == ""
        assert "Another Web Connector" in b.call("getLastError", ticket=ticket_b)
        assert world.queue()["counts"]["in_flight"] == 3

        # A's QuickBooks sits behind a modal dialog for 700 s; a third run is still kept out.
        convex.advance_clock(700 * SECOND_MS)
        assert qbwc(bridge, world.quickbooks).run_session().authenticate_result[1] == "busy"
        assert world.quickbooks.transactions == []

        # Then QuickBooks runs A's message, and A carries on to the end.
        percent = a.receive(ticket_a, world.quickbooks.process(message_a))
        while 0 <= percent < 100:
            percent = a.receive(ticket_a, world.quickbooks.process(a.send_request(ticket_a)))
        assert percent == 100
        a.call("closeConnection", ticket=ticket_a)
        drain(bridge, world)

    assert len(world.quickbooks.transactions) == 10
    assert world.queue()["counts"]["applied"] == 10
    world.assert_exactly_once()
    world.assert_books_agree()


def test_a_receive_that_names_no_request_changes_nothing(
    world: World, bridge: RunningBridge
) -> None:
    """Item 2: a stray HRESULT on the ticket cannot release the outstanding message."""
    world.open_stock()
    drain(bridge, world)
    adjusted = world.adjust("PMP-1", "WH", -2, reason="DAMAGE")
    moved = world.transfer("FLT-200", "WH", "STORE", 4)
    soap = SoapClient(bridge.soap_url)
    ticket = login(soap)[0]
    message = soap.send_request(ticket)
    answer = world.quickbooks.process(message)  # QuickBooks saves both

    # A replayed / delayed "nothing ran" arrives first.
    assert soap.receive(ticket, hresult="0x80040400", message="parse error") == -1
    assert world.state(adjusted["refNumber"])["qbStatus"] == "in_flight"
    assert world.state(moved["refNumber"])["qbStatus"] == "in_flight"
    refused = world.refusal("inventory:voidEvent", eventId=adjusted["eventId"], reason="typo")
    assert refused["code"] == "VOID_IN_FLIGHT"
    # An answer naming requests this message never held is refused too.
    foreign = answer.replace(adjusted["eventId"], "k57xyz0000000000000000000000000")
    assert soap.receive(ticket, foreign) == -1
    assert "does not belong" in soap.call("getLastError", ticket=ticket)
    assert world.state(adjusted["refNumber"])["qbStatus"] == "in_flight"

    # The real answer follows and is recorded.
    assert soap.receive(ticket, answer) == 100
    soap.call("closeConnection", ticket=ticket)
    drain(bridge, world)
    assert world.state(adjusted["refNumber"])["qbStatus"] == "applied"
    assert world.state(moved["refNumber"])["qbStatus"] == "applied"
    world.assert_exactly_once()
    world.assert_books_agree()


def test_a_lookup_that_finds_someone_elses_entry_holds_the_event(
    world: World, bridge: RunningBridge
) -> None:
    """Item 3: a RefNumber found in QuickBooks is the event only if its content is."""
    world.open_stock()
    drain(bridge, world)
    world.adjust("1E5", "WH", 3)  # AD-000006
    ours = world.adjust("GSK-9", "WH", -4, reason="DAMAGE")  # AD-000007
    assert ours["refNumber"] == "AD-000007"
    # Someone types an adjustment with that RefNumber by hand: other item, other site.
    hand = world.quickbooks.enter_adjustment_by_hand(
        "AD-000007", "Shrinkage", [(ITEMS["PMP-1"], -1)], site="Store"
    )
    # AD-000007's own message fails whole before QuickBooks runs it, so its outcome is unknown.
    world.quickbooks.reject_next_message()
    first = qbwc(bridge, world.quickbooks).run_session()
    assert first.percents == [-1]
    second = qbwc(bridge, world.quickbooks).run_session()  # lookups of AD-000006/7, then sends
    assert any("InventoryAdjustmentQueryRq" in r for r in second.requests)

    held = world.state("AD-000007")
    assert held["qbStatus"] == "held"
    assert hand.txn_id in held["holdReason"] and "not this event" in held["holdReason"]
    assert held["qbTxnId"] is None
    assert world.state("AD-000006")["qbStatus"] == "applied"
    assert [txn.txn_id for txn in world.quickbooks.find_by_ref("AD-000007")] == [hand.txn_id]
    status = world.queue()
    assert [e["refNumber"] for e in status["held"]] == ["AD-000007"]
    # Books agree once the hand entry and the held event are set aside.
    assert books_without(world, [hand], held=[("GSK-9", "WH", -4)]) == world.convex_qoh()

    # A person checks QuickBooks and decides: this event never reached it.
    world.admin.mutation("qbQueue:resolveHeldEvent", {"eventId": ours["eventId"], "send": True})
    drain(bridge, world)
    applied = world.state("AD-000007")
    assert applied["qbStatus"] == "applied" and applied["qbTxnId"] != hand.txn_id
    assert books_without(world, [hand], held=[]) == world.convex_qoh()


def books_without(
    world: World, hand_entries: list[Any], held: list[tuple[str, str, int]]
) -> dict[tuple[str, str | None], Decimal]:
    """QuickBooks' QOH without the hand entries, plus what the held (sku, location, qty) would post."""
    table = Counter(world.quickbooks.qoh_table())
    for txn in hand_entries:
        for line in txn.lines:
            table[(line.item.full_name, txn.site.full_name if txn.site else None)] -= line.quantity
    for sku, location, quantity in held:
        table[(ITEMS[sku], SITES[location])] += Decimal(quantity)
    return {key: qty for key, qty in table.items() if qty != 0}


def test_a_retried_authenticate_after_a_lost_reply_opens_one_session(
    world: World, convex: LocalConvex
) -> None:
    """Item 4: every call the bridge may retry is idempotent (lost replies on each of them)."""
    with flaky_proxy(convex.url) as proxy:
        settings = bridge_settings(proxy.url, convex.admin_key)
        with installed_bridge(settings, world.quickbooks) as bridge:
            world.open_stock()
            proxy.lose_reply_once("qbSessions:authenticate")
            proxy.lose_reply_once("qbSessions:nextMessage")
            proxy.lose_reply_once("qbSessions:recordAnswer")
            proxy.lose_reply_once("qbSessions:close")
            report = qbwc(bridge, world.quickbooks).run_session()
    assert proxy.lost == [
        "qbSessions:authenticate",
        "qbSessions:nextMessage",
        "qbSessions:recordAnswer",
        "qbSessions:close",
    ]
    assert report.authenticate_result[1] == ""
    assert report.percents == [100]
    assert report.close_message is not None and report.close_message.startswith("OK: 5 applied")
    sessions = convex.admin_client().query("qbQueue:getQueueStatus", {})
    assert sessions["openSessions"] == []
    world.assert_exactly_once()
    world.assert_books_agree()


def test_an_expired_ticket_releases_its_claims_for_lookup_at_once(
    world: World, convex: LocalConvex
) -> None:
    """Item 5: a ticket that expires between send and receive strands nothing."""
    settings = bridge_settings(convex.url, convex.admin_key, QBWC_SESSION_TTL_SECONDS="86400")
    with installed_bridge(settings, world.quickbooks) as bridge:
        world.open_stock()
        soap = SoapClient(bridge.soap_url)
        ticket = login(soap)[0]
        answer = world.quickbooks.process(soap.send_request(ticket))
        convex.advance_clock(86400 * SECOND_MS + 1)
        assert soap.receive(ticket, answer) == -1
        assert "expired" in soap.call("getLastError", ticket=ticket)
        # Released at once, as lookups: not stranded in flight, and still not voidable.
        state = world.state("AD-000001")
        assert state["qbStatus"] == "failed" and state["qbLookupRequired"] is True
        assert world.queue()["counts"]["in_flight"] == 0
        drain(bridge, world)
    assert world.queue()["counts"]["applied"] == 5
    world.assert_exactly_once()
    world.assert_books_agree()


def test_progress_counts_what_is_really_still_due(world: World, convex: LocalConvex) -> None:
    """Item 6: no 100 while work is due; a receive that matches nothing is an error, not done."""
    settings = bridge_settings(convex.url, convex.admin_key, QBWC_BATCH_SIZE="2")
    with installed_bridge(settings, world.quickbooks) as bridge:
        world.open_stock()
        soap = SoapClient(bridge.soap_url)
        ticket = login(soap)[0]
        message = soap.send_request(ticket)
        assert soap.receive(ticket, "<QBXML><QBXMLMsgsRs/></QBXML>") == -1
        first = soap.receive(ticket, world.quickbooks.process(message))
        assert 0 < first < 100
        second = soap.receive(ticket, world.quickbooks.process(soap.send_request(ticket)))
        assert first < second < 100
        third = soap.receive(ticket, world.quickbooks.process(soap.send_request(ticket)))
        assert third == 100
        soap.call("closeConnection", ticket=ticket)
    world.assert_exactly_once()
    world.assert_books_agree()


def test_two_concurrent_authenticates_open_one_session(world: World, bridge: RunningBridge) -> None:
    world.open_stock()
    answers: list[list[str]] = []
    barrier = threading.Barrier(2)

    def authenticate() -> None:
        soap = SoapClient(bridge.soap_url)
        barrier.wait()
        answers.append(login(soap))

    threads = [threading.Thread(target=authenticate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answer[1] for answer in answers) == ["", "busy"]
    assert len(world.queue()["openSessions"]) == 1


def test_two_bridges_behind_one_url(world: World, convex: LocalConvex) -> None:
    settings = bridge_settings(convex.url, convex.admin_key, QBWC_BATCH_SIZE="4")
    with installed_bridge(settings, world.quickbooks) as first, serve_bridge(settings) as second:
        world.open_stock()
        for n in range(12):
            world.transfer("00123", "WH", "TRUCK-1", n + 1)
        report = qbwc([first, second], world.quickbooks).run_session()
    assert report.percents[-1] == 100 and len(report.requests) == 5
    assert world.queue()["counts"]["applied"] == 17
    world.assert_exactly_once()
    world.assert_books_agree()


def test_one_convex_call_per_soap_call(
    world: World, bridge: RunningBridge, convex: LocalConvex
) -> None:
    """Counted by the local runtime, not by the bridge: 1 per queue-touching call, 0 otherwise."""
    world.open_stock()
    soap = SoapClient(bridge.soap_url)
    convex.calls(reset=True)

    def calls_of(method: str, **params: Any) -> dict[str, int]:
        soap.call(method, **params)
        return convex.calls(reset=True)

    assert calls_of("serverVersion") == {}
    assert calls_of("clientVersion", strVersion="2.3.0.215") == {}
    ticket = login(soap)[0]
    assert convex.calls(reset=True) == {"mutation qbSessions:authenticate": 1}
    request = soap.send_request(ticket, HCP_RESPONSE)
    assert convex.calls(reset=True) == {"mutation qbSessions:nextMessage": 1}
    soap.receive(ticket, world.quickbooks.process(request))
    assert convex.calls(reset=True) == {"mutation qbSessions:recordAnswer": 1}
    assert calls_of("getLastError", ticket=ticket) == {"query qbSessions:getLastError": 1}
    assert calls_of("closeConnection", ticket=ticket) == {"mutation qbSessions:close": 1}
