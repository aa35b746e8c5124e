"""Reconciliation at scale: a quantity snapshot of QuickBooks through QBWC, then the drift report.

Run from the repo root: `.venv/bin/python tests/bench/bench_reconcile.py [--parts 250 500 1000]
[--target-parts 20000] [--metrics-parts 1000] [--drift 10] [--batch 10]`.

End to end, per size in `--parts`: QBWC simulator -> bridge (real HTTP, in this process)
-> local Convex runtime, on a fresh database. The QuickBooks simulator (multi-location
inventory on) holds one inventory item per part; stock sits on the test world's 3 sites
(Main Warehouse, Truck 1, Store). Set-up, all through the real functions:

- `parts:upsertBatch`, 500 parts a call, each mapped by `qbItemFullName`;
- the installation's first QBWC run (capabilities, lists);
- stock at the 3 sites' locations (WH, TRUCK-1, STORE): `inventory:createAdjustmentEvent`
  as the world's employee (an admin), 100 lines an event: parts x 3 balances;
- one QBWC session syncs those events (`--batch` a message; the items' ListIDs are
  resolved on the way), and QuickBooks' QOH is checked to equal Convex's;
- `--drift` (item, site) pairs changed directly in the simulated QuickBooks
  (`adjust_qoh_by_hand`), then `qbwc-bridge reconcile` asks for a snapshot.

Measured:

1. the snapshot: one QBWC session; its exchanges (ItemSitesQuery pages), wall time, Convex
   calls, the ItemSitesRet QuickBooks returned and the report rows that carry a QuickBooks
   QOH (what Convex stored, as the report read it back);
2. the report through the CLI (`qbwc_bridge.cli.main(["reconcile", "--report", "--json"])`),
   after `IN_TRANSIT` events created since the snapshot: wall time (target < 60 s), Convex
   calls as the local runtime counted them, the slowest call; the report must find exactly
   the changed pairs with the changed quantities (and the new events in transit, not drift);
3. documents read per Convex call: the local runtime does not report them, so
   `tests/convex/recon.scale.test.ts` builds the same shape at `--metrics-parts` parts in
   convex-test and runs the same `qbRecon:buildReport` and `qbRecon:reportRows` calls,
   reading `ctx.meta.getTransactionMetrics()` around each (every call up to 3,000 parts,
   sampled pages above); also the transit phase's worst page (50 pending 100-line
   transfers). Held against Convex's per-function limits: 32,000 documents and 16 MiB
   read, 4,096 index ranges.

Why the default sizes stop well short of 20,000 parts: they keep `make bench` short and
show how the times grow. `--parts 20000` runs end to end too, in about three minutes (the
report in about one). The local runtime is convex-test with index lookups
(local_convex/indexes.ts): an index query reads only the documents that match its
equality fields, but all of them, sorted, before it takes a page, so its times are not a
deployment's. The report time at `--target-parts` is projected from the two largest runs
(a power law; labelled as such). Its exchanges and Convex calls at that size follow from
the page sizes (500 ItemSites rows a snapshot page; 500 parts, 1,000 snapshot rows, 10
events a report page; 2,000 rows a reportRows page).

Fails (exit 1) unless every run finds exactly the changed pairs; on a report at or over
60 s (measured at any size, or projected at `--target-parts`); on a call over a limit.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.bridge import PASSWORD, USERNAME, bridge_settings, serve_bridge
from support.local_convex import REPO_ROOT, LocalConvex
from support.qb_simulator import NotKept
from support.qbwc_simulator import QbwcSimulator
from support.world import ITEMS, SITES, World, build_world

from qbwc_bridge.cli import main as cli_main
from qbwc_bridge.convex_gateway import ConvexGateway
from qbwc_bridge.logging import configure_logging

REPORT_TARGET_S = 60.0
LIMITS = {"documentsRead": 32_000, "bytesRead": 16 * 1024 * 1024, "databaseQueries": 4_096}
BACKLOG_FIELD = {"documentsRead": "read", "bytesRead": "bytesRead", "databaseQueries": "queries"}
UPSERT_BATCH = 500  # MAX_PART_UPSERT_BATCH
EVENT_LINES = 100  # MAX_EVENT_LINES
SNAPSHOT_PAGE = 500  # LIST_PAGE_SIZE: ItemSites rows a snapshot page
RECON_PAGE = {"events": 10, "parts": 500, "orphans": 1000}  # convex/lib/reconcile.ts
TRANSIT_SOURCES = 6  # pending, in_flight, failed, held, dead, applied after the snapshot
ROWS_PAGE = 2000  # the CLI's reportRows page (gateway default)
EXIT_DRIFT = 3  # qbwc_bridge.cli.reconcile.EXIT_DRIFT
# Where the stock is: one location per QuickBooks site of the test world.
LOCATIONS = ("WH", "TRUCK-1", "STORE")
CATEGORIES = 50
IN_TRANSIT = 3  # events created after the snapshot
# A slow call is measured, not cut short: the bridge's and the CLI's Convex time bounds
# are raised to their maximum (and QBWC's SOAP timeout with them), so that every call
# finishes once instead of timing out or being retried. With the local runtime's index
# lookups (local_convex/indexes.ts) calls stay well within them at the default sizes; the
# slowest is a column of the table printed.
SLOW_RUNTIME = {"CONVEX_READ_TIMEOUT_SECONDS": "60", "CONVEX_RETRY_BUDGET_SECONDS": "80"}
SOAP_TIMEOUT_S = 600.0
VITEST_FILE = "tests/convex/recon.scale.test.ts"


def sku(n: int) -> str:
    return f"RB-{n:05d}"


def item_name(n: int) -> str:
    return f"Bench {n % CATEGORIES:02d}:{sku(n)}"


def quantity(n: int, location_index: int) -> int:
    """Stock of part n at a location: 10..49, never 0 (every cell is a report row)."""
    return 10 + (n * 7 + location_index * 13) % 40


def drift_pairs(parts: int, count: int) -> list[tuple[int, str, int]]:
    """`count` (part, location, delta) spread over the parts and the 3 sites."""
    deltas = [-7, 3, -1, 12, -5, 2, -9, 4, -2, 6]
    step = max(parts // max(count, 1), 1)
    return [
        (min(k * step + k, parts - 1), LOCATIONS[k % len(LOCATIONS)], deltas[k % len(deltas)])
        for k in range(count)
    ]


def transit_events() -> list[tuple[int, str, int]]:
    """(part, location, delta) of the events created after the snapshot."""
    return [(k * 3 + 1, LOCATIONS[k % len(LOCATIONS)], -(k + 1)) for k in range(IN_TRANSIT)]


def report_calls(parts: int) -> dict[str, int]:
    """Convex calls of `reconcile --report --json` from the page sizes (the world adds its
    5 parts, without stock; every item site holds stock, so every one is a report row)."""
    cells = parts * len(LOCATIONS)
    build = (
        TRANSIT_SOURCES
        + math.ceil((parts + len(ITEMS)) / RECON_PAGE["parts"])
        + math.ceil(cells / RECON_PAGE["orphans"])
    )
    return {"buildReport": build, "reportRows": math.ceil(cells / ROWS_PAGE) + 1}


@dataclass
class Run:
    parts: int
    upsert_s: float = 0.0
    first_run_s: float = 0.0
    stock_s: float = 0.0
    events: int = 0
    lines: int = 0
    sync_s: float = 0.0
    sync_exchanges: int = 0
    applied: int = 0
    books_agree: bool = False
    snapshot_s: float = 0.0
    snapshot_exchanges: int = 0
    snapshot_pages: int = 0
    snapshot_rets: int = 0
    snapshot_calls: int = 0
    snapshot_done: bool = False
    report_s: float = 0.0
    report_exit: int = -1
    report_calls: Counter[str] = field(default_factory=Counter)
    slowest_call_s: float = 0.0
    totals: dict[str, Any] = field(default_factory=dict)
    found_drift: dict[tuple[str, str], float] = field(default_factory=dict)
    transit: dict[tuple[str, str], float] = field(default_factory=dict)
    report_qb_rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def cells(self) -> int:
        return self.parts * len(LOCATIONS)


def adjust_lines(world: World, location: str, lines: list[dict[str, Any]]) -> None:
    """One adjustment event of up to 100 lines, as the employee (an admin) enters it."""
    args = {"location": location, "mode": "delta", "reasonCode": "COUNT", "lines": lines}
    world.employee.mutation("inventory:createAdjustmentEvent", args)


def timed_gateway_calls() -> list[float]:
    """Times every Convex call the CLI makes for the report (build and read pages)."""
    durations: list[float] = []
    for name in ("build_report", "report_rows"):
        original = getattr(ConvexGateway, name)

        def timed(self: ConvexGateway, *args: Any, _original: Any = original, **kw: Any) -> Any:
            began = time.perf_counter()
            try:
                return _original(self, *args, **kw)
            finally:
                durations.append(time.perf_counter() - began)

        setattr(ConvexGateway, name, timed)
    return durations


def progress(parts: int, label: str, seconds: float) -> None:
    print(f"  [{parts:,} parts] {label}: {seconds:.1f} s", flush=True)


def end_to_end(
    runtime: LocalConvex, parts: int, drift: int, batch: int, durations: list[float]
) -> Run:
    runtime.reset()
    result = Run(parts=parts)
    world = build_world(runtime.url, runtime.admin_key)
    quickbooks = world.quickbooks
    quickbooks.messages = NotKept()
    quickbooks.responses = NotKept()
    for n in range(parts):
        quickbooks.add_item(item_name(n))

    started = time.perf_counter()
    for begin in range(0, parts, UPSERT_BATCH):
        batch_parts = [
            {"sku": sku(n), "name": f"Bench part {n}", "qbItemFullName": item_name(n)}
            for n in range(begin, min(begin + UPSERT_BATCH, parts))
        ]
        world.admin.mutation("parts:upsertBatch", {"parts": batch_parts})
    result.upsert_s = time.perf_counter() - started
    progress(parts, "parts:upsertBatch", result.upsert_s)

    settings = bridge_settings(
        runtime.url, runtime.admin_key, QBWC_BATCH_SIZE=str(batch), **SLOW_RUNTIME
    )
    with serve_bridge(settings) as bridge, tempfile.TemporaryDirectory() as folder:
        qbwc = QbwcSimulator(
            bridge.soap_url,
            USERNAME,
            PASSWORD,
            quickbooks,
            max_exchanges=5000,
            soap_timeout=SOAP_TIMEOUT_S,
        )
        env = Path(folder) / "cli.env"
        env.write_text(
            f"CONVEX_URL={runtime.url}\nCONVEX_DEPLOY_KEY={runtime.admin_key}\nLOG_LEVEL=error\n"
            + "".join(f"{name}={value}\n" for name, value in SLOW_RUNTIME.items())
        )

        started = time.perf_counter()
        first = qbwc.run_session()
        result.first_run_s = time.perf_counter() - started
        if not first.percents or first.percents[-1] != 100:
            result.problems.append(f"the first QBWC run did not finish: {first.last_error}")
            return result
        progress(parts, "first QBWC run (capabilities, lists)", result.first_run_s)

        started = time.perf_counter()
        for index, location in enumerate(LOCATIONS):
            for begin in range(0, parts, EVENT_LINES):
                lines = [
                    {"sku": sku(n), "quantity": quantity(n, index)}
                    for n in range(begin, min(begin + EVENT_LINES, parts))
                ]
                adjust_lines(world, location, lines)
                result.events += 1
                result.lines += len(lines)
        result.stock_s = time.perf_counter() - started
        progress(parts, f"stock ({result.events} events, {result.lines:,} lines)", result.stock_s)

        started = time.perf_counter()
        sync = qbwc.run_session()
        result.sync_s = time.perf_counter() - started
        result.sync_exchanges = len(sync.requests)
        result.applied = int(world.queue()["counts"]["applied"])
        result.books_agree = quickbooks.qoh_table() == expected_books(parts)
        progress(parts, f"sync ({result.sync_exchanges} exchanges)", result.sync_s)
        if result.applied != result.events or not result.books_agree:
            result.problems.append(
                f"set-up: {result.applied} of {result.events} events applied "
                f"({sync.last_error}), QuickBooks agrees: {result.books_agree}"
            )
            return result

        pairs = drift_pairs(parts, drift)
        for n, location, delta in pairs:
            quickbooks.adjust_qoh_by_hand(item_name(n), delta, site=SITES[location])
        code, _ = cli(env, "reconcile")
        if code != 0:
            result.problems.append(f"qbwc-bridge reconcile exited {code}")
            return result

        # 1. The snapshot: one QBWC session.
        seen = Counter[str]()
        process = quickbooks.process

        def counted(request_xml: str) -> str:
            answer = process(request_xml)
            if "ItemSitesQueryRq" in request_xml:
                seen["pages"] += 1
                seen["rows"] += answer.count("<ItemSitesRet>")
            return answer

        quickbooks.process = counted  # type: ignore[method-assign]
        runtime.calls(reset=True)
        started = time.perf_counter()
        snap = qbwc.run_session()
        result.snapshot_s = time.perf_counter() - started
        result.snapshot_calls = sum(runtime.calls(reset=True).values())
        quickbooks.process = process  # type: ignore[method-assign]
        result.snapshot_exchanges = len(snap.requests)
        result.snapshot_pages = seen["pages"]
        result.snapshot_rets = seen["rows"]
        company = world.admin.query("qbMapping:getCompany", {})
        result.snapshot_done = (
            bool(snap.percents)
            and snap.percents[-1] == 100
            and not company["snapshotRunning"]
            and company["lastSnapshotAt"] is not None
        )
        progress(parts, f"snapshot ({result.snapshot_exchanges} exchanges)", result.snapshot_s)

        # Events on their way: created after the snapshot, not sent yet.
        for n, location, delta in transit_events():
            world.adjust(sku(n), location, delta, reason="DAMAGE")

        # 2. The report through the CLI.
        runtime.calls(reset=True)
        durations.clear()
        started = time.perf_counter()
        result.report_exit, out = cli(env, "reconcile", "--report", "--json")
        result.report_s = time.perf_counter() - started
        result.report_calls = Counter(
            {name.split(":", 1)[1]: count for name, count in runtime.calls(reset=True).items()}
        )
        result.slowest_call_s = max(durations, default=0.0)
        progress(parts, f"report (exit {result.report_exit})", result.report_s)

    data = json.loads(out) if out.strip().startswith("{") else {}
    result.totals = data.get("totals", {})
    for row in data.get("rows", []):
        key = (row["sku"] or row["item_name"], row["site"])
        if row["drift"]:
            result.found_drift[key] = row["drift"]
        if row["in_transit"]:
            result.transit[key] = row["in_transit"]
        if row["qb_qoh"]:
            result.report_qb_rows += 1
    check(result, pairs)
    return result


def check(result: Run, pairs: list[tuple[int, str, int]]) -> None:
    wanted = {(sku(n), SITES[location]): float(delta) for n, location, delta in pairs}
    wanted_transit = {(sku(n), SITES[location]): float(d) for n, location, d in transit_events()}
    problems = result.problems
    if result.found_drift != wanted:
        problems.append(
            f"drift found at {sorted(result.found_drift.items())}, changed {sorted(wanted.items())}"
        )
    if result.transit != wanted_transit:
        problems.append(
            f"in transit {sorted(result.transit.items())}, expected {sorted(wanted_transit.items())}"
        )
    if result.report_exit != EXIT_DRIFT:
        problems.append(f"reconcile --report exited {result.report_exit}, expected {EXIT_DRIFT}")
    if not result.snapshot_done:
        problems.append("the snapshot did not finish in one session")
    if result.snapshot_rets != result.cells or result.report_qb_rows != result.cells:
        problems.append(
            f"{result.snapshot_rets} ItemSitesRet, {result.report_qb_rows} report rows with a "
            f"QuickBooks QOH; expected {result.cells}"
        )


def expected_books(parts: int) -> dict[tuple[str, str | None], Decimal]:
    return {
        (item_name(n), SITES[location]): Decimal(quantity(n, index))
        for index, location in enumerate(LOCATIONS)
        for n in range(parts)
    }


def cli(env: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["--env-file", str(env), *args])
    configure_logging("json", "error")  # the CLI set up its own
    return code, out.getvalue()


# -- 3. documents read per call, in convex-test -------------------------------------------


def documents_read(parts: int, drift: int) -> dict[str, Any] | None:
    """Runs the vitest file that measures the report's calls; the JSON line it prints."""
    env = {**os.environ, "RECON_SCALE_PARTS": str(parts), "RECON_SCALE_DRIFT": str(drift)}
    started = time.perf_counter()
    done = subprocess.run(
        ["npx", "vitest", "run", VITEST_FILE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"RECON_METRICS (\{.*\})", done.stdout)
    if done.returncode != 0 or found is None:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
        return None
    metrics: dict[str, Any] = json.loads(found.group(1))
    metrics["vitest_s"] = time.perf_counter() - started
    return metrics


# -- the tables ---------------------------------------------------------------------------


def print_runs(runs: list[Run], args: argparse.Namespace) -> None:
    print(
        f"\nEnd to end (QBWC simulator -> bridge -> local Convex runtime), {len(LOCATIONS)} sites, "
        f"{args.drift} (item, site) pairs changed in QuickBooks, {IN_TRANSIT} events in transit, "
        f"QBWC_BATCH_SIZE {args.batch}"
    )
    columns = [
        ("parts", lambda r: f"{r.parts:,}"),
        ("item sites", lambda r: f"{r.cells:,}"),
        ("stock events", lambda r: f"{r.events}"),
        ("set-up s", lambda r: f"{r.upsert_s + r.first_run_s + r.stock_s + r.sync_s:.0f}"),
        ("snap exch.", lambda r: f"{r.snapshot_exchanges}"),
        ("ItemSites pages", lambda r: f"{r.snapshot_pages}"),
        ("snap s", lambda r: f"{r.snapshot_s:.1f}"),
        ("snap Convex calls", lambda r: f"{r.snapshot_calls}"),
        ("ItemSitesRet", lambda r: f"{r.snapshot_rets:,}"),
        ("rows w/ QB QOH", lambda r: f"{r.report_qb_rows:,}"),
        ("report s", lambda r: f"{r.report_s:.1f}"),
        ("slowest call s", lambda r: f"{r.slowest_call_s:.1f}"),
        (
            "Convex calls (build+rows)",
            lambda r: (
                f"{sum(r.report_calls.values())} ({r.report_calls['buildReport']}+{r.report_calls['reportRows']})"
            ),
        ),
        (
            "computed",
            lambda r: "{buildReport}+{reportRows}".format(**report_calls(r.parts)),
        ),
        ("drift rows", lambda r: f"{r.totals.get('drift_rows', '?')}"),
        ("exactly the changed", lambda r: "yes" if not r.problems else "NO"),
    ]
    widths = [max(len(name), *(len(cell(r)) for r in runs)) for name, cell in columns]
    print("  ".join(f"{name:>{w}}" for (name, _), w in zip(columns, widths, strict=True)))
    for r in runs:
        print("  ".join(f"{cell(r):>{w}}" for (_, cell), w in zip(columns, widths, strict=True)))
    print(
        "set-up s = parts:upsertBatch + first QBWC run (lists) + stock events + their sync; "
        "computed = Convex calls from the page sizes"
    )


def projection(runs: list[Run], target: int) -> tuple[float, float] | None:
    """Report time at `target` parts from the two largest runs, t = a * parts^k."""
    done = sorted((r for r in runs if r.report_s > 0), key=lambda r: r.parts)
    if len(done) < 2 or done[-1].parts == done[-2].parts:
        return None
    small, large = done[-2], done[-1]
    k = math.log(large.report_s / small.report_s) / math.log(large.parts / small.parts)
    return large.report_s * (target / large.parts) ** k, k


def print_target(runs: list[Run], args: argparse.Namespace) -> float | None:
    target = args.target_parts
    cells = target * len(LOCATIONS)
    calls = report_calls(target)
    projected = projection(runs, target)
    print(f"\nAt {target:,} parts x {len(LOCATIONS)} sites ({cells:,} item sites):")
    rows = [
        (
            "1. snapshot: ItemSitesQuery pages (exchanges)",
            f"{math.ceil(cells / SNAPSHOT_PAGE)} (computed: {SNAPSHOT_PAGE} rows a page)",
        ),
        ("1. snapshot: rows stored", f"{cells:,} (one per item site)"),
        (
            "2. report: Convex calls",
            f"{calls['buildReport'] + calls['reportRows']} (computed: {calls['buildReport']} "
            f"buildReport + {calls['reportRows']} reportRows)",
        ),
        (
            "2. report: wall time on the local runtime",
            "not projected (needs two runs)"
            if projected is None
            else f"~{projected[0]:,.0f} s projected (t ~ parts^{projected[1]:.2f} from the "
            f"{sorted(r.parts for r in runs)[-2]:,} and {max(r.parts for r in runs):,} runs); "
            f"target < {REPORT_TARGET_S:.0f} s",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return None if projected is None else projected[0]


def print_metrics(metrics: dict[str, Any]) -> list[str]:
    problems = []
    mode = "sampled pages" if metrics["sampled"] else "every call"
    print(
        f"\nDocuments read per Convex call (convex-test, {metrics['parts']:,} parts x 3 sites, "
        f"{mode}, {metrics['vitest_s']:.0f} s); limits per function: "
        f"{LIMITS['documentsRead']:,} documents, 16 MiB, {LIMITS['databaseQueries']:,} index ranges"
    )
    print(
        f"  {'call':<32}{'calls':>6}{'docs read':>16}{'max bytes read':>16}"
        f"{'max written':>13}{'max index ranges':>18}"
    )
    names = {
        "transit": "buildReport, transit phase",
        "parts": "buildReport, parts phase",
        "orphans": "buildReport, orphans phase",
        "rows": "reportRows (all rows)",
        "rows (drift)": "reportRows (drifting)",
    }
    for phase, p in metrics["phases"].items():
        docs = f"{p['readMin']:,}..{p['readMax']:,}"
        print(
            f"  {names.get(phase, phase):<32}{p['calls']:>6}{docs:>16}{p['bytesMax']:>16,}"
            f"{p['writtenMax']:>13,}{p['queriesMax']:>18,}"
        )
    backlog = metrics.get("transitBacklog")
    if backlog is not None:
        print(
            f"  {'transit page, worst case *':<32}{1:>6}{backlog['read']:>16,}{backlog['bytesRead']:>16,}"
            f"{backlog['written']:>13,}{backlog['queries']:>18,}"
        )
        print(
            f"  * {backlog['events']} pending transfers of {backlog['linesPerEvent']} lines between "
            "two sites when the report is built (one transit page)"
        )
    worst = metrics["maxRead"]
    print(
        f"  max documents read by one report call (this scenario): {worst['read']:,} ({worst['phase']} phase) = "
        f"{worst['read'] / LIMITS['documentsRead']:.1%} of {LIMITS['documentsRead']:,}; "
        f"max bytes read {metrics['maxBytesRead'] / 1024 / 1024:.2f} MiB of 16 MiB"
    )
    every = [p for p in metrics["phases"].values()]
    if max(p["readMax"] for p in every) > LIMITS["documentsRead"]:
        problems.append("a report call reads more documents than Convex allows")
    if metrics["maxBytesRead"] > LIMITS["bytesRead"]:
        problems.append("a report call reads more bytes than Convex allows")
    if max(p["queriesMax"] for p in every) > LIMITS["databaseQueries"]:
        problems.append("a report call reads more index ranges than Convex allows")
    if backlog is not None:
        for key, limit in LIMITS.items():
            used = backlog[BACKLOG_FIELD[key]]
            if used > limit:
                problems.append(
                    f"the transit page over {backlog['events']} pending {backlog['linesPerEvent']}-line "
                    f"transfers uses {used:,} {key} (limit {limit:,}): buildReport would fail there"
                )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--target-parts", type=int, default=20_000)
    parser.add_argument("--metrics-parts", type=int, default=1_000)
    parser.add_argument(
        "--drift", type=int, default=10, help="(item, site) pairs changed in QuickBooks"
    )
    parser.add_argument("--batch", type=int, default=10, help="QBWC_BATCH_SIZE for the stock sync")
    parser.add_argument(
        "--skip-metrics", action="store_true", help="skip the convex-test read count"
    )
    args = parser.parse_args()
    if args.drift > min(args.parts):
        parser.error("--drift cannot exceed --parts")
    configure_logging("json", "error")
    durations = timed_gateway_calls()

    runs: list[Run] = []
    runtime = LocalConvex.start("--test-clock")
    try:
        for parts in sorted(args.parts):
            runs.append(end_to_end(runtime, parts, args.drift, args.batch, durations))
    finally:
        runtime.stop()
    metrics = None if args.skip_metrics else documents_read(args.metrics_parts, args.drift)

    problems: list[str] = []
    print_runs(runs, args)
    for run in runs:
        for found in run.problems:
            problems.append(f"{run.parts:,} parts: {found}")
        if run.report_s >= REPORT_TARGET_S:
            problems.append(
                f"{run.parts:,} parts: the report took {run.report_s:.1f} s (target < {REPORT_TARGET_S:.0f} s)"
            )
    projected = print_target(runs, args)
    if projected is not None and projected >= REPORT_TARGET_S:
        problems.append(
            f"{args.target_parts:,} parts: the report would take ~{projected:,.0f} s on the local runtime "
            f"(projected; target < {REPORT_TARGET_S:.0f} s)"
        )
    if metrics is not None:
        problems += print_metrics(metrics)
    elif not args.skip_metrics:
        problems.append(f"no documents-read figures from {VITEST_FILE}")
    print()
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
