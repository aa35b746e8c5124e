"""Reading QuickBooks back, end to end: capabilities, lists, mapping, holds.

QBWC simulator -> bridge (real HTTP) -> local Convex runtime, with the
QuickBooks simulator answering HostQuery / PreferencesQuery and the list
queries (iterators included) as QuickBooks does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.bridge import (
    RunningBridge,
    bridge_settings,
    installed_bridge,
    qbwc,
    serve_bridge,
)
from support.local_convex import LocalConvex
from support.qb_simulator import QuickBooksSimulator
from support.world import ITEMS, World, build_world

from qbwc_bridge.cli import main as cli_main


@pytest.fixture
def pro_world(convex: LocalConvex) -> World:
    """A QuickBooks Pro company: no multi-location inventory, one QOH per item."""
    return build_world(convex.url, convex.admin_key, multi_location=False)


def cli(convex: LocalConvex, tmp_path: Path, *args: str) -> int:
    env = tmp_path / "cli.env"
    env.write_text(f"CONVEX_URL={convex.url}\nCONVEX_DEPLOY_KEY={convex.admin_key}\n")
    return cli_main(["--env-file", str(env), *args])


def test_pro_company_transfers_are_not_required_and_adjustments_go_without_sites(
    pro_world: World, convex: LocalConvex
) -> None:
    world = pro_world
    settings = bridge_settings(convex.url, convex.admin_key)
    with installed_bridge(settings, world.quickbooks) as bridge:
        company = world.admin.query("qbMapping:getCompany", {})
        assert company["multiLocationEnabled"] is False
        world.open_stock()
        moved = world.transfer("00123", "WH", "TRUCK-1", 50)
        damaged = world.adjust("FLT-200", "WH", -3, reason="DAMAGE")
        report = qbwc(bridge, world.quickbooks).run_session()
    assert report.percents[-1] == 100
    assert world.state(moved["refNumber"])["qbStatus"] == "not_required"
    assert world.state(damaged["refNumber"])["qbStatus"] == "applied"
    assert not any("InventorySiteRef" in r or "TransferInventoryAdd" in r for r in report.requests)
    counts = world.queue()["counts"]
    assert counts["dead"] == 0 and counts["held"] == 0 and counts["applied"] == 6
    world.assert_exactly_once()
    world.assert_books_agree()


def test_a_malformed_hcp_response_is_tolerated_and_quickbooks_is_asked(
    world: World, convex: LocalConvex
) -> None:
    class GarbledHcp:
        """QuickBooks as usual, but QBWC hands over a truncated HCP response."""

        def __init__(self, quickbooks: QuickBooksSimulator) -> None:
            self.quickbooks = quickbooks

        def hcp_response(self) -> str:
            return self.quickbooks.hcp_response()[:120]

        def process(self, request_xml: str) -> str:
            return self.quickbooks.process(request_xml)

    with serve_bridge(bridge_settings(convex.url, convex.admin_key)) as bridge:
        report = qbwc(bridge, GarbledHcp(world.quickbooks)).run_session()
    assert "HostQueryRq" in report.requests[0] and "PreferencesQueryRq" in report.requests[0]
    company = world.admin.query("qbMapping:getCompany", {})
    assert company["multiLocationEnabled"] is True
    assert company["listCounts"]["sites"] == 3


def test_a_rename_in_quickbooks_is_followed_through_the_list_id(
    world: World, bridge: RunningBridge
) -> None:
    before = world.admin.query("qbQueue:getEventState", {"refNumber": "AD-000001"})
    assert before is None  # nothing synced yet, but the lists are read: mappings hold ListIDs
    part_id = world.quickbooks.item(ITEMS["PMP-1"]).list_id
    world.quickbooks.rename_item(ITEMS["PMP-1"], "Pumps:Water pump 12V")
    world.adjust("PMP-1", "WH", 5)
    report = qbwc(bridge, world.quickbooks).run_session()
    # Sent by ListID, so the rename changes nothing for posting.
    assert any(f"<ListID>{part_id}</ListID>" in r for r in report.requests)
    assert world.state("AD-000001")["qbStatus"] == "applied"
    # The next pull brings the new name into the mapping, and logs it.
    world.admin.mutation("qbMapping:requestListRefresh", {})
    qbwc(bridge, world.quickbooks).run_session()
    detail = world.employee.query("inventory:getItemDetail", {"sku": "PMP-1"})
    assert detail["part"]["qbItemFullName"] == "Pumps:Water pump 12V"
    assert detail["part"]["qbItemListId"] == part_id
    changes = world.admin.query(
        "mappingLog:listRecent",
        {"paginationOpts": {"numItems": 10, "cursor": None}, "kind": "item", "key": "PMP-1"},
    )
    assert changes["page"][0]["changedBy"] == "quickbooks:rename"


def test_auto_mapping_reports_matched_unmatched_and_ambiguous(
    world: World, bridge: RunningBridge, convex: LocalConvex, tmp_path: Path, capsys: Any
) -> None:
    world.quickbooks.add_item("Valves:VLV-10")
    world.quickbooks.add_item("Hoses:HSE-20")
    world.quickbooks.add_item("Old stock:DUP-1")
    world.quickbooks.add_item("New stock:DUP-1")
    world.admin.mutation(
        "parts:upsertBatch",
        {"parts": [{"sku": s, "name": s} for s in ("VLV-10", "HSE-20", "DUP-1", "NOPE-9")]},
    )
    world.admin.mutation("qbMapping:requestListRefresh", {})
    qbwc(bridge, world.quickbooks).run_session()

    assert cli(convex, tmp_path, "map", "items", "--auto", "--dry-run") == 0
    dry = capsys.readouterr().out
    assert "would map 2, unmatched 1, ambiguous 1, already mapped 5" in dry
    assert (
        "DUP-1: Old stock:DUP-1 | New stock:DUP-1" in dry
        or "DUP-1: New stock:DUP-1 | Old stock:DUP-1" in dry
    )
    detail = world.employee.query("inventory:getItemDetail", {"sku": "VLV-10"})
    assert "qbItemListId" not in detail["part"]  # a dry run writes nothing

    assert cli(convex, tmp_path, "map", "items", "--auto") == 0
    assert "mapped 2, unmatched 1, ambiguous 1" in capsys.readouterr().out
    detail = world.employee.query("inventory:getItemDetail", {"sku": "VLV-10"})
    assert detail["part"]["qbItemFullName"] == "Valves:VLV-10"
    assert detail["part"]["qbItemListId"] == world.quickbooks.item("Valves:VLV-10").list_id

    # One by one, for the ambiguous one; a typo is refused with the closest names.
    assert cli(convex, tmp_path, "map", "item", "DUP-1", "New stok:DUP-1") == 1
    assert "Closest" in capsys.readouterr().err
    assert cli(convex, tmp_path, "map", "item", "DUP-1", "New stock:DUP-1") == 0
    assert "DUP-1 -> New stock:DUP-1" in capsys.readouterr().out


def test_an_unmapped_event_is_held_listed_and_posts_after_map_item(
    world: World, bridge: RunningBridge, convex: LocalConvex, tmp_path: Path, capsys: Any
) -> None:
    world.admin.mutation("parts:upsertBatch", {"parts": [{"sku": "WDG-7", "name": "Widget"}]})
    world.open_stock()
    world.adjust("WDG-7", "WH", 8)  # AD-000006: QuickBooks has no item called WDG-7
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state("AD-000006")["qbStatus"] == "held"

    assert cli(convex, tmp_path, "unmapped", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["name"], r["events"]) for r in rows] == [("part", "WDG-7", 1)]

    world.quickbooks.add_item("Widgets:Blue widget")
    assert cli(convex, tmp_path, "refresh-lists") == 0
    qbwc(bridge, world.quickbooks).run_session()
    assert cli(convex, tmp_path, "map", "item", "WDG-7", "Widgets:Blue widget") == 0
    assert "1 held event(s)" in capsys.readouterr().out
    qbwc(bridge, world.quickbooks).run_session()
    assert world.state("AD-000006")["qbStatus"] == "applied"
    assert world.state("AD-000006")["retryCount"] == 0
    assert cli(convex, tmp_path, "unmapped") == 0
    assert "Nothing is waiting" in capsys.readouterr().out


@pytest.fixture
def big_quickbooks_world(world: World) -> Iterator[World]:
    for n in range(1200):
        world.quickbooks.add_item(f"Bulk:BLK-{n:05d}")
    yield world


def test_a_list_pull_interrupted_mid_iterator_restarts_cleanly(
    big_quickbooks_world: World, convex: LocalConvex
) -> None:
    world = big_quickbooks_world
    with serve_bridge(bridge_settings(convex.url, convex.admin_key)) as bridge:
        first = qbwc(bridge, world.quickbooks)
        # Reads go: host/preferences, accounts, sites, items page 1, items page 2 ... ; the
        # connection dies after the first items page, with the iterator still open.
        original = world.quickbooks.process
        calls = {"n": 0}

        def dies_after_first_item_page(request_xml: str) -> str:
            answer = original(request_xml)
            if "ItemInventoryQueryRq" in request_xml and 'iterator="Start"' in request_xml:
                calls["n"] += 1
                from support.qbwc_simulator import ResponseLost

                raise ResponseLost("QBWC closed mid-pull")
            return answer

        world.quickbooks.process = dies_after_first_item_page  # type: ignore[method-assign]
        cut = first.run_session()
        world.quickbooks.process = original  # type: ignore[method-assign]
        assert cut.interrupted and calls["n"] == 1
        company = world.admin.query("qbMapping:getCompany", {})
        assert company["listCounts"] is None  # a half-finished pull replaces nothing
        assert company["pullInProgress"]["step"] == "ItemInventoryQuery"

        convex.advance_clock(3600 * 1000 + 1)  # the cut session's TTL runs out
        again = qbwc(bridge, world.quickbooks).run_session()
        assert again.percents[-1] == 100
        starts = [
            r for r in again.requests if 'iterator="Start"' in r and "ItemInventoryQueryRq" in r
        ]
        assert len(starts) == 1  # the items list started over: the old iterator died with QBWC
    company = world.admin.query("qbMapping:getCompany", {})
    # 5 world items + their parents (Hardware, Electrical, Filters, Gaskets, Pumps) + Bulk + 1200.
    assert company["listCounts"]["items"] == 5 + 5 + 1 + 1200
    assert company["pullInProgress"] is None


def test_status_shows_capabilities_and_lists(
    world: World, bridge: RunningBridge, convex: LocalConvex, tmp_path: Path, capsys: Any
) -> None:
    assert cli(convex, tmp_path, "status") == 0
    out = capsys.readouterr().out
    assert "multi-location inventory: on" in out
    assert "lists: 10 items, 3 sites, 2 accounts" in out
    assert cli(convex, tmp_path, "status", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["company"]["multi_location_enabled"] is True
