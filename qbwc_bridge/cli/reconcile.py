"""`qbwc-bridge reconcile`: does QuickBooks agree with Convex?

Without `--report` it asks for a quantity snapshot of QuickBooks, taken by
the next Web Connector run after that run's events. With `--report` it builds
the drift report against the last snapshot (in Convex, a page per call) and
prints it; the exit code tells a scheduled job whether anything drifts.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from qbwc_bridge.cli.common import EXIT_OK, CliError, Commands, gateway_for
from qbwc_bridge.config import Settings
from qbwc_bridge.contract import DriftRow, ReportPage
from qbwc_bridge.convex_gateway import ConvexGateway

# Distinct from 1 (failed) and 2 (usage): something drifts.
EXIT_DRIFT = 3
COLUMNS = ("sku", "item", "site", "convex_qoh", "quickbooks_qoh", "in_transit", "drift", "note")
SHOWN = 50


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    gateway = gateway_for(settings)
    if not (args.report or args.propose):
        request = gateway.request_snapshot()
        last = _when(request.last_snapshot_at)
        print(
            "The next Web Connector run takes a quantity snapshot of QuickBooks after its events "
            f"(last one: {last}). Then: qbwc-bridge reconcile --report"
        )
        return EXIT_OK
    started = time.monotonic()
    progress = gateway.build_report(None)
    while not progress.done:
        progress = gateway.build_report(progress.report_id)
    first, rows = _rows(
        gateway, progress.report_id, only_drift=args.only_drift or bool(args.propose)
    )
    totals = first.totals
    age = max(0.0, time.time() - first.snapshot_at / 1000)
    if args.propose:
        _write_proposal(args.propose, rows, first)
        print(f"wrote {args.propose}: {len(rows)} proposed adjustment(s); nothing was applied")
    if args.json:
        print(
            json.dumps(
                {
                    "snapshotAt": first.snapshot_at,
                    "totals": totals.__dict__,
                    "rows": [r.__dict__ for r in rows],
                },
                indent=2,
            )
        )
    elif args.csv is not None:
        with _open(args.csv) as out:
            _write_csv(out, rows)
    else:
        print(
            f"Snapshot of QuickBooks taken {_when(first.snapshot_at)} ({age / 3600:.1f} h ago); "
            f"report built in {time.monotonic() - started:.1f} s."
        )
        print(
            f"{totals.rows} row(s), {totals.drift_rows} drifting; Convex {totals.convex_qoh:g}, "
            f"QuickBooks {totals.qb_qoh:g}, in transit {totals.in_transit:g}, drift {totals.drift:g}; "
            f"{totals.only_in_quickbooks} only in QuickBooks, {totals.not_in_quickbooks} not in QuickBooks."
        )
        shown = [r for r in rows if r.drift != 0] if not args.only_drift else rows
        for row in shown[:SHOWN]:
            print(
                f"  {row.sku or '-':<14} {(row.site or '-')[:20]:<20} convex {row.convex_qoh:>8g} "
                f"qb {row.qb_qoh:>8g} transit {row.in_transit:>6g} drift {row.drift:>+8g}"
                + (f"  {row.note}" if row.note else "")
            )
        if len(shown) > SHOWN:
            print(f"  ... {len(shown) - SHOWN} more (use --csv FILE or --json)")
    return EXIT_DRIFT if totals.drift_rows else EXIT_OK


def _rows(
    gateway: ConvexGateway, report_id: str, *, only_drift: bool
) -> tuple[ReportPage, list[DriftRow]]:
    """The first page (every page carries the report's totals and snapshot time) and all rows."""
    first = page = gateway.report_rows(report_id, only_drift=only_drift, cursor=None)
    rows = list(page.rows)
    while not page.is_done:
        page = gateway.report_rows(report_id, only_drift=only_drift, cursor=page.continue_cursor)
        rows += page.rows
    return first, rows


def _when(ms: float | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _open(path: Path) -> contextlib.AbstractContextManager[TextIO]:
    if str(path) == "-":
        return contextlib.nullcontext(sys.stdout)
    try:
        return path.open("w", newline="", encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}") from None


def _write_csv(out: TextIO, rows: list[DriftRow]) -> None:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_cells(row))


def _cells(row: DriftRow) -> list[str]:
    """A row as the CSV's COLUMNS."""
    return [
        row.sku,
        row.item_name or "",
        row.site or "",
        f"{row.convex_qoh:g}",
        f"{row.qb_qoh:g}",
        f"{row.in_transit:g}",
        f"{row.drift:g}",
        row.note or "",
    ]


def _write_proposal(path: Path, rows: list[DriftRow], page: ReportPage) -> None:
    """For each drift row, both ways to close it; a person picks one (see the SOP)."""
    stamp = _when(page.snapshot_at)
    with _open(path) as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                *COLUMNS,
                "convex_location",
                "convex_adjustment",
                "quickbooks_adjustment",
                "convex_command",
            ]
        )
        for row in rows:
            if row.drift == 0:
                continue
            command = ""
            if row.sku and row.location:
                event = {
                    "sku": row.sku,
                    "location": row.location,
                    "mode": "delta",
                    "quantity": row.drift,
                    "reasonCode": "RECON",
                    "memo": f"Reconciliation against QuickBooks snapshot {stamp}",
                }
                # Quoted for a POSIX shell: SKUs and location codes may hold ' $ or spaces.
                command = f"npx convex run inventory:createAdjustmentEvent {shlex.quote(json.dumps(event))} --identity '<admin identity>'"
            writer.writerow(
                [
                    *_cells(row),
                    row.location or "",
                    f"{row.drift:+g}",
                    f"{-row.drift:+g}",
                    command,
                ]
            )


def register(commands: Commands) -> None:
    reconcile = commands.add_parser(
        "reconcile", help="compare QuickBooks' quantities with Convex (snapshot, then --report)"
    )
    reconcile.add_argument(
        "--report",
        action="store_true",
        help="build and print the drift report against the last snapshot",
    )
    output = reconcile.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the report as JSON")
    output.add_argument("--csv", type=Path, metavar="FILE", help="the report as CSV (- for stdout)")
    reconcile.add_argument("--only-drift", action="store_true", help="only the rows that drift")
    reconcile.add_argument(
        "--propose",
        type=Path,
        metavar="FILE",
        help="write, per drift row, the adjustment that would close it (applies nothing)",
    )
    reconcile.set_defaults(handler=cmd_reconcile)
