"""Reconciliation end to end: a quantity snapshot taken through QBWC, the drift
report built in Convex, read through the CLI.

drift = QuickBooks QOH - (Convex QOH - in transit), per item and site (per
item without sites): events on their way are never drift, and only what was
changed directly in QuickBooks is.
"""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from support.bridge import RunningBridge, bridge_settings, installed_bridge, qbwc
from support.local_convex import LocalConvex
from support.world import ITEMS, SITES, World, build_world

from qbwc_bridge.cli import main as cli_main
from qbwc_bridge.cli import reconcile
from qbwc_bridge.contract import DriftRow, ReconTotals, ReportPage, ReportProgress

EXIT_DRIFT = 3


def cli(convex: LocalConvex, tmp_path: Path, *args: str) -> int:
    env = tmp_path / "cli.env"
    env.write_text(f"CONVEX_URL={convex.url}\nCONVEX_DEPLOY_KEY={convex.admin_key}\n")
    return cli_main(["--env-file", str(env), *args])


def report(
    convex: LocalConvex, tmp_path: Path, capsys: Any, *flags: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli(convex, tmp_path, "reconcile", "--report", "--json", *flags)
    return code, json.loads(capsys.readouterr().out)


def drift_rows(data: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    return {(r["sku"] or r["item_name"], r["site"]): r["drift"] for r in data["rows"] if r["drift"]}


def snapshot(bridge: RunningBridge, world: World, convex: LocalConvex, tmp_path: Path) -> Any:
    assert cli(convex, tmp_path, "reconcile") == 0
    return qbwc(bridge, world.quickbooks).run_session()


@pytest.mark.parametrize("multi_location", [True, False])
def test_no_drift_after_a_clean_sync(
    convex: LocalConvex, tmp_path: Path, capsys: Any, multi_location: bool
) -> None:
    world = build_world(convex.url, convex.admin_key, multi_location=multi_location)
    with installed_bridge(
        bridge_settings(convex.url, convex.admin_key), world.quickbooks
    ) as bridge:
        world.open_stock()
        world.transfer("00123", "WH", "TRUCK-1", 40)
        world.adjust("GSK-9", "WH", -2, reason="DAMAGE")
        qbwc(bridge, world.quickbooks).run_session()
        run = snapshot(bridge, world, convex, tmp_path)
    kind = "ItemSitesQueryRq" if multi_location else "ItemInventoryQueryRq"
    assert any(kind in request for request in run.requests)
    code, data = report(convex, tmp_path, capsys)
    assert code == 0, data
    assert data["totals"]["drift_rows"] == 0
    by_cell = {(r["sku"], r["site"]): (r["convex_qoh"], r["qb_qoh"]) for r in data["rows"]}
    if multi_location:
        assert by_cell[("00123", "Truck 1")] == (40, 40)
        assert by_cell[("00123", "Main Warehouse")] == (460, 460)
    else:
        assert by_cell[("00123", None)] == (500, 500)  # one quantity per item


@pytest.mark.parametrize("multi_location", [True, False])
def test_drift_is_exactly_what_was_changed_in_quickbooks_while_events_are_in_transit(
    convex: LocalConvex, tmp_path: Path, capsys: Any, multi_location: bool
) -> None:
    world = build_world(convex.url, convex.admin_key, multi_location=multi_location)
    site = SITES["WH"] if multi_location else None
    with installed_bridge(
        bridge_settings(convex.url, convex.admin_key), world.quickbooks
    ) as bridge:
        world.open_stock()
        qbwc(bridge, world.quickbooks).run_session()
        # Someone changes QOH directly in QuickBooks: a real drift.
        world.quickbooks.adjust_qoh_by_hand(ITEMS["FLT-200"], -7, site=site)
        # Events still on their way when the snapshot is taken: one held for a lock...
        locked = world.adjust("PMP-1", "WH", 3)
        world.quickbooks.lock_next(locked["refNumber"])
        run = snapshot(bridge, world, convex, tmp_path)
        assert world.state(locked["refNumber"])["qbStatus"] == "failed"
        # ... and one created after the snapshot, still pending.
        world.adjust("1E5", "WH", -4, reason="DAMAGE")
        assert run.percents[-1] == 100
        code, data = report(convex, tmp_path, capsys)
        assert code == EXIT_DRIFT
        assert drift_rows(data) == {("FLT-200", site): -7}
        transit = {(r["sku"], r["site"]): r["in_transit"] for r in data["rows"] if r["in_transit"]}
        assert transit == {("PMP-1", site): 3, ("1E5", site): -4}

        # Both get applied after the snapshot: still in transit against it, never counted twice.
        convex.advance_clock(61_000)
        qbwc(bridge, world.quickbooks).run_session()
        assert world.state(locked["refNumber"])["qbStatus"] == "applied"
        code, again = report(convex, tmp_path, capsys)
        assert drift_rows(again) == {("FLT-200", site): -7}
        transit = {(r["sku"], r["site"]): r["in_transit"] for r in again["rows"] if r["in_transit"]}
        assert transit == {("PMP-1", site): 3, ("1E5", site): -4}

    # --only-drift, --csv and --propose (which applies nothing).
    capsys.readouterr()
    assert (
        cli(
            convex,
            tmp_path,
            "reconcile",
            "--report",
            "--only-drift",
            "--csv",
            str(tmp_path / "d.csv"),
        )
        == EXIT_DRIFT
    )
    rows = list(csv.DictReader((tmp_path / "d.csv").open()))
    assert [(r["sku"], r["drift"]) for r in rows] == [("FLT-200", "-7")]
    before = world.queue()["counts"]
    assert cli(convex, tmp_path, "reconcile", "--propose", str(tmp_path / "p.csv")) == EXIT_DRIFT
    proposal = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert proposal[0]["convex_adjustment"] == "-7" and proposal[0]["quickbooks_adjustment"] == "+7"
    assert "inventory:createAdjustmentEvent" in proposal[0]["convex_command"]
    assert world.queue()["counts"] == before


def test_items_on_one_side_only_are_listed(
    world: World, bridge: RunningBridge, convex: LocalConvex, tmp_path: Path, capsys: Any
) -> None:
    world.open_stock()
    # A QuickBooks item with stock that no part maps to.
    world.quickbooks.add_item("Seals:O-ring kit")
    world.quickbooks.adjust_qoh_by_hand("Seals:O-ring kit", 12, site=SITES["WH"])
    # A part mapped to an item QuickBooks does not have.
    world.admin.mutation(
        "parts:upsertBatch", {"parts": [{"sku": "GONE-1", "qbItemListId": "80000999-1999999999"}]}
    )
    world.adjust("GONE-1", "WH", 5)
    world.admin.mutation("qbMapping:requestListRefresh", {})
    qbwc(bridge, world.quickbooks).run_session()
    snapshot(bridge, world, convex, tmp_path)
    code, data = report(convex, tmp_path, capsys)
    assert code == EXIT_DRIFT
    notes = {(r["sku"] or r["item_name"]): r["note"] for r in data["rows"] if r["note"]}
    assert "only in QuickBooks" in notes["Seals:O-ring kit"]
    assert "not in QuickBooks" in notes["GONE-1"]
    assert data["totals"]["only_in_quickbooks"] == 1 and data["totals"]["not_in_quickbooks"] == 1
    # GONE-1's adjustment is held for mapping: in transit, not drift.
    gone = next(r for r in data["rows"] if r["sku"] == "GONE-1")
    assert gone["in_transit"] == 5 and gone["drift"] == 0


def test_a_snapshot_interrupted_mid_iterator_is_taken_again(
    world: World, bridge: RunningBridge, convex: LocalConvex, tmp_path: Path, capsys: Any
) -> None:
    for n in range(700):
        world.quickbooks.add_item(f"Bulk:BLK-{n:05d}")
        world.quickbooks.adjust_qoh_by_hand(f"Bulk:BLK-{n:05d}", 1, site=SITES["WH"])
    world.open_stock()
    qbwc(bridge, world.quickbooks).run_session()
    assert cli(convex, tmp_path, "reconcile") == 0
    from support.qbwc_simulator import ResponseLost

    original = world.quickbooks.process

    def dies_on_the_second_page(request_xml: str) -> str:
        answer = original(request_xml)
        if "ItemSitesQueryRq" in request_xml and 'iterator="Continue"' in request_xml:
            raise ResponseLost("QBWC closed mid-snapshot")
        return answer

    world.quickbooks.process = dies_on_the_second_page  # type: ignore[method-assign]
    assert qbwc(bridge, world.quickbooks).run_session().interrupted
    world.quickbooks.process = original  # type: ignore[method-assign]
    company = world.admin.query("qbMapping:getCompany", {})
    assert company["snapshotRunning"] and company["lastSnapshotAt"] is None, company

    convex.advance_clock(3600 * 1000 + 1)
    qbwc(bridge, world.quickbooks).run_session()
    company = world.admin.query("qbMapping:getCompany", {})
    assert not company["snapshotRunning"] and company["lastSnapshotAt"] is not None
    code, data = report(convex, tmp_path, capsys)
    assert code == EXIT_DRIFT  # the bulk items are only in QuickBooks
    assert data["totals"]["only_in_quickbooks"] == 700
    assert {k: v for k, v in drift_rows(data).items() if not str(k[0]).startswith("Bulk:")} == {}


def test_status_shows_the_last_report(
    world: World, bridge: RunningBridge, convex: LocalConvex, tmp_path: Path, capsys: Any
) -> None:
    world.open_stock()
    qbwc(bridge, world.quickbooks).run_session()
    snapshot(bridge, world, convex, tmp_path)
    report(convex, tmp_path, capsys)
    assert cli(convex, tmp_path, "status") == 0
    assert "reconciliation: no drift" in capsys.readouterr().out


class OnePageReport:
    """A finished drift report of one page, as Convex would return it."""

    def __init__(self, *rows: DriftRow) -> None:
        self.rows = rows

    def build_report(self, report_id: str | None) -> ReportProgress:
        return ReportProgress(report_id="r1", done=True, phase="done", snapshot_at=SNAPSHOT_AT)

    def report_rows(
        self, report_id: str, *, only_drift: bool, cursor: str | None, page_size: int = 2000
    ) -> ReportPage:
        totals = ReconTotals(len(self.rows), len(self.rows), 0, 0, 0, 0, 0, 0)
        return ReportPage(SNAPSHOT_AT, SNAPSHOT_AT, True, totals, self.rows, "", True)


SNAPSHOT_AT = 1_700_000_000_000


def test_the_proposed_convex_command_is_safe_to_paste_into_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    awkward = DriftRow(
        sku="O'Ring $HOME 1\"",
        item_name="Seals:O'Ring",
        item_list_id="80000001-1",
        site="Main Warehouse",
        location="Bay 'B' $(rm -rf ~)",
        convex_qoh=10,
        qb_qoh=7,
        in_transit=0,
        drift=-3,
        note=None,
    )
    monkeypatch.setattr(reconcile, "gateway_for", lambda settings: OnePageReport(awkward))
    proposal = tmp_path / "p.csv"
    code = cli_main(
        ["--env-file", str(tmp_path / "none.env"), "reconcile", "--propose", str(proposal)]
    )
    assert code == EXIT_DRIFT
    (row,) = csv.DictReader(proposal.open(encoding="utf-8"))
    words = shlex.split(row["convex_command"])
    assert words[:4] == ["npx", "convex", "run", "inventory:createAdjustmentEvent"]
    assert words[5:] == ["--identity", "<admin identity>"]
    assert json.loads(words[4]) == {
        "sku": awkward.sku,
        "location": awkward.location,
        "mode": "delta",
        "quantity": -3,
        "reasonCode": "RECON",
        "memo": "Reconciliation against QuickBooks snapshot 2023-11-14 22:13 UTC",
    }
