"""Reading QuickBooks' lists at scale: one QBWC list pull through the bridge, and `map items --auto`.

Run from the repo root: `.venv/bin/python tests/bench/bench_list_pull.py [--items 20000]
[--small 5000] [--accounts 300] [--parts 20000]`.

QBWC simulator -> bridge (real HTTP, in this process) -> local Convex runtime, the
QuickBooks simulator holding `--items` inventory parts ("Cat NN:SKU-nnnnn", a few
names twice under two parents), `--accounts` accounts, the test world's sites,
items and accounts. One QBWC session reads the capabilities and pulls the lists,
as the bridge does by itself on its first run. Measured:

1. the pull of `--items` items: QBWC exchanges (sendRequestXML/receiveResponseXML
   pairs), wall time, bridge CPU, bridge memory (tracemalloc peak, RSS), the
   largest qbXML message each way, the list counts Convex reports;
2. the same pull of `--small` items, for the bridge's peak memory against list size;
3. `qbwc-bridge map items --auto` over `--parts` parts (SKU = the item's Name for
   most, some unmatched, some ambiguous), timed through `qbwc_bridge.cli.main`.

How the bridge alone is measured: the QBWC and QuickBooks simulators run in a
child process (this script with `--quickbooks-side`), the bridge in this one.
While the session runs this process does nothing but serve the bridge (its main
thread waits on the child), so its CPU time (`time.process_time`, all threads)
and Python allocations (`tracemalloc`) are the bridge's. Wall time and CPU come
from a run without tracemalloc (it slows Python down); peak memory from a second,
traced run of the same pull.

Fails (exit 1) on a qbXML message over 5 MB, a peak over `--memory-slack` times the
smaller pull's, auto-map over 30 s, or counts other than expected.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.bridge import PASSWORD, USERNAME, bridge_settings, serve_bridge
from support.local_convex import LocalConvex
from support.world import ACCOUNTS, ITEMS, SITES, build_world

from qbwc_bridge.cli import main as cli_main
from qbwc_bridge.cli import mapping as cli_mapping
from qbwc_bridge.cli.common import gateway_for
from qbwc_bridge.config import Settings
from qbwc_bridge.logging import configure_logging

LIMIT = 5 * 1024 * 1024
AUTO_MAP_TARGET_S = 30.0
CATEGORIES = 50
AMBIGUOUS = 10  # names that QuickBooks has twice, under two parents
UNMATCHED = 200  # parts whose SKU is no QuickBooks item's Name
UPSERT_BATCH = 500
PAGE_SIZE = 500  # what the bridge asks per page (convex/lib/constants.ts LIST_PAGE_SIZE)
# A slow call is measured, not cut short: the bridge's and the CLI's Convex time bounds
# (settings cap them at 60 s read / 80 s budget) and QBWC's SOAP timeout are raised, so
# that every call finishes once instead of timing out or being retried. Without the local
# runtime's index lookups (local_convex/indexes.ts) convex-test reads every document per
# query, and one page took up to 100 s at 20,000 items (auto-map: 46 minutes). The
# per-page receive times and the 30 s auto-map target still show a slow runtime.
PATIENCE_S = 900
SOAP_TIMEOUT_S = float(PATIENCE_S + 60)


def patient(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        convex_read_timeout_seconds=PATIENCE_S,
        convex_retry_budget_seconds=PATIENCE_S,
    )


# -- the catalogue, the same in both processes ------------------------------------------------


def quickbooks_items(count: int) -> list[str]:
    """`count` inventory parts: AMBIGUOUS names twice (two parents), the rest once."""
    names = [f"Cat {n % CATEGORIES:02d}:SKU-{n:05d}" for n in range(count - 2 * AMBIGUOUS)]
    for n in range(AMBIGUOUS):
        names.append(f"Cat {n % CATEGORIES:02d}:AMB-{n:03d}")
        names.append(f"Cat {(n + 1) % CATEGORIES:02d}:AMB-{n:03d}")
    return names


def quickbooks_accounts(count: int) -> list[str]:
    return [f"Expenses {n // 30:02d}:Adjustments {n:03d}" for n in range(count)]


def with_parents(full_names: list[str]) -> set[str]:
    """Every list entry QuickBooks ends up with: the names and their missing parents."""
    entries: set[str] = set()
    for name in full_names:
        levels = name.split(":")
        entries.update(":".join(levels[: depth + 1]) for depth in range(len(levels)))
    return entries


def expected_counts(items: int, accounts: int) -> dict[str, int]:
    return {
        "items": len(with_parents([*quickbooks_items(items), *ITEMS.values()])),
        "sites": len(set(SITES.values())),
        "accounts": len(with_parents([*quickbooks_accounts(accounts), *ACCOUNTS.values()])),
    }


# -- the child: QBWC + QuickBooks -----------------------------------------------------------


def quickbooks_side(url: str, items: int, accounts: int) -> int:
    """Builds QuickBooks, says `ready`, waits for `go`, runs one QBWC session, prints JSON."""
    from support import qbwc_simulator
    from support.qb_simulator import NotKept, QuickBooksSimulator
    from support.qbwc_simulator import QbwcSimulator

    class TimedSoapClient(qbwc_simulator.SoapClient):
        """Times each receiveResponseXML: the bridge storing one page in Convex."""

        def call(self, method: str, **params: Any) -> Any:
            began = time.perf_counter()
            try:
                return super().call(method, **params)
            finally:
                if method == "receiveResponseXML":
                    receives.append(time.perf_counter() - began)

    receives: list[float] = []
    qbwc_simulator.SoapClient = TimedSoapClient  # type: ignore[misc]

    quickbooks = QuickBooksSimulator(
        items=ITEMS.values(), sites=set(SITES.values()), accounts=ACCOUNTS.values()
    )
    for n, name in enumerate(quickbooks_items(items)):
        quickbooks.add_item(name)
        quickbooks.set_qoh(name, n % 97)
    for name in quickbooks_accounts(accounts):
        quickbooks.add_account(name)
    quickbooks.responses = NotKept()
    quickbooks.messages = NotKept()
    sizes: dict[str, int] = {"request": 0, "response": 0}
    process = quickbooks.process

    def measured(request_xml: str) -> str:
        sizes["request"] = max(sizes["request"], len(request_xml.encode("utf-8")))
        answer = process(request_xml)
        sizes["response"] = max(sizes["response"], len(answer.encode("utf-8")))
        return answer

    quickbooks.process = measured  # type: ignore[method-assign]
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    started = time.perf_counter()
    qbwc = QbwcSimulator(url, USERNAME, PASSWORD, quickbooks, soap_timeout=SOAP_TIMEOUT_S)
    report = qbwc.run_session()
    wall = time.perf_counter() - started
    print(
        json.dumps(
            {
                "wall": wall,
                "exchanges": len(report.percents),
                "last_percent": report.percents[-1] if report.percents else None,
                "last_error": report.last_error,
                "receives": receives,
                "largest_request": sizes["request"],
                "largest_response": sizes["response"],
                "quickbooks_counts": {
                    "items": len(quickbooks._items.by_id),
                    "sites": len(quickbooks._sites.by_id),
                    "accounts": len(quickbooks._accounts.by_id),
                },
            }
        ),
        flush=True,
    )
    return 0


# -- the parent: bridge + Convex ------------------------------------------------------------


def rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def cpu_of(pid: int) -> float:
    """utime + stime of another process, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Pull:
    items: int
    traced: bool
    wall: float = 0.0
    exchanges: int = 0
    bridge_cpu: float = 0.0
    convex_cpu: float = 0.0
    peak_bytes: int = 0
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    rss_peak_kb: int | None = None
    largest_request: int = 0
    largest_response: int = 0
    convex_counts: dict[str, int] | None = None
    quickbooks_counts: dict[str, int] | None = None
    last_percent: int | None = None
    last_error: str | None = None
    receives: list[float] | None = None


@contextlib.contextmanager
def quickbooks_process(url: str, items: int, accounts: int) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--quickbooks-side",
            url,
            "--items",
            str(items),
            "--accounts",
            str(accounts),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"the QuickBooks side did not start: {line!r}")
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def pull(runtime: LocalConvex, items: int, accounts: int, *, traced: bool) -> Pull:
    """A fresh world, then one QBWC session against a QuickBooks with `items` items."""
    runtime.reset()
    world = build_world(runtime.url, runtime.admin_key)
    result = Pull(items=items, traced=traced)
    settings = patient(bridge_settings(runtime.url, runtime.admin_key))
    with (
        serve_bridge(settings) as bridge,
        quickbooks_process(bridge.soap_url, items, accounts) as child,
    ):
        assert child.stdin is not None and child.stdout is not None
        if traced:
            tracemalloc.start()
        result.rss_before_kb = rss_kb()
        peak_reset = reset_peak_rss()
        cpu0, convex0 = time.process_time(), cpu_of(runtime.process.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        answer = child.stdout.readline()
        result.bridge_cpu = time.process_time() - cpu0
        result.convex_cpu = cpu_of(runtime.process.pid) - convex0
        if traced:
            result.peak_bytes = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result.rss_after_kb = rss_kb()
        result.rss_peak_kb = rss_kb("VmHWM") if peak_reset else None
    if not answer:
        raise SystemExit("the QuickBooks side ended without a report")
    seen = json.loads(answer)
    result.wall = seen["wall"]
    result.exchanges = seen["exchanges"]
    result.largest_request = seen["largest_request"]
    result.largest_response = seen["largest_response"]
    result.quickbooks_counts = seen["quickbooks_counts"]
    result.last_percent = seen["last_percent"]
    result.last_error = seen["last_error"]
    result.receives = seen["receives"]
    company = world.admin.query("qbMapping:getCompany", {})
    result.convex_counts = (
        {k: int(v) for k, v in company["listCounts"].items()}
        if company and company["listCounts"]
        else None
    )
    return result


def auto_map(runtime: LocalConvex, items: int, parts: int) -> tuple[float, float, str, int]:
    """Upserts `parts` parts (batches of 500), then times `map items --auto`."""
    regular = [name.split(":")[1] for name in quickbooks_items(items)[: items - 2 * AMBIGUOUS]]
    ambiguous = [f"AMB-{n:03d}" for n in range(AMBIGUOUS)]
    matched = parts - UNMATCHED - AMBIGUOUS
    if matched > len(regular):
        raise SystemExit(f"--parts {parts} needs more than --items {items} items")
    skus = [*regular[:matched], *(f"NOQB-{n:05d}" for n in range(UNMATCHED)), *ambiguous]
    admin = runtime.admin_client()
    started = time.perf_counter()
    for start in range(0, len(skus), UPSERT_BATCH):
        batch = skus[start : start + UPSERT_BATCH]
        admin.mutation(
            "parts:upsertBatch", {"parts": [{"sku": sku, "name": f"Part {sku}"} for sku in batch]}
        )
    upsert_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        env = Path(folder) / "cli.env"
        env.write_text(
            f"CONVEX_URL={runtime.url}\nCONVEX_DEPLOY_KEY={runtime.admin_key}\nLOG_LEVEL=error\n"
        )
        out = io.StringIO()
        started = time.perf_counter()
        with (
            contextlib.redirect_stdout(out),
            mock.patch.object(
                cli_mapping, "gateway_for", lambda settings: gateway_for(patient(settings))
            ),
        ):
            code = cli_main(["--env-file", str(env), "map", "items", "--auto"])
        map_s = time.perf_counter() - started
    configure_logging("json", "error")  # the CLI set up its own
    summary = out.getvalue().splitlines()[0] if out.getvalue() else "(no output)"
    return upsert_s, map_s, summary if code == 0 else f"exit {code}: {summary}", matched


def progress(step: str) -> None:
    """The whole run takes long on the local runtime: say what it is doing."""
    print(f"[{time.strftime('%H:%M:%S')}] {step} ...", flush=True)


def mb(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--parts", type=int, default=20_000)
    parser.add_argument(
        "--memory-slack",
        type=float,
        default=1.5,
        help="fail if the big pull's peak exceeds the small one's by this factor",
    )
    parser.add_argument("--quickbooks-side", metavar="SOAP_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quickbooks_side:
        return quickbooks_side(args.quickbooks_side, args.items, args.accounts)

    configure_logging("json", "error")
    runtime = LocalConvex.start("--test-clock")
    try:
        progress(f"pull of {args.items:,} items, untraced")
        timed = pull(runtime, args.items, args.accounts, traced=False)
        progress(f"map items --auto over {args.parts:,} parts")
        upsert_s, map_s, summary, matched = auto_map(runtime, args.items, args.parts)
        progress(f"pull of {args.items:,} items, traced")
        big = pull(runtime, args.items, args.accounts, traced=True)
        progress(f"pull of {args.small:,} items, traced")
        small = pull(runtime, args.small, args.accounts, traced=True)
    finally:
        runtime.stop()

    problems: list[str] = []
    print(
        f"QuickBooks: {args.items:,} (and {args.small:,}) inventory items in {CATEGORIES} categories, "
        f"{AMBIGUOUS} names under two parents, {args.accounts} accounts, plus the world's "
        f"{len(ITEMS)} items, {len(set(SITES.values()))} sites, {len(ACCOUNTS)} accounts; "
        f"{PAGE_SIZE} items per page"
    )
    print(
        "method: QBWC + QuickBooks simulators run in a child process; the bridge (waitress "
        "threads) alone runs in this one, whose main thread only waits during the session. "
        "bridge CPU = time.process_time() delta of this process; peak = tracemalloc peak "
        "(traced run); RSS from /proc/self/status (peak: VmHWM, reset before the session). "
        "Wall time and CPU from an untraced run."
    )
    print()
    rows = [
        (f"pull {args.items:,} items (timed)", timed),
        (f"pull {args.items:,} items (traced)", big),
        (f"pull {args.small:,} items (traced)", small),
    ]
    print(
        f"{'run':<28}{'exch.':>6}{'wall s':>8}{'bridge CPU s':>13}{'Convex CPU s':>13}"
        f"{'tracemalloc peak':>17}{'RSS before':>11}{'RSS after':>10}{'RSS peak':>10}"
        f"{'largest rq':>12}{'largest rs':>12}"
    )
    for label, run in rows:
        peak = mb(run.peak_bytes) if run.traced else "-"
        hwm = mb(run.rss_peak_kb * 1024) if run.rss_peak_kb is not None else "?"
        print(
            f"{label:<28}{run.exchanges:>6}{run.wall:>8.1f}{run.bridge_cpu:>13.2f}"
            f"{run.convex_cpu:>13.2f}{peak:>17}{mb(run.rss_before_kb * 1024):>11}"
            f"{mb(run.rss_after_kb * 1024):>10}{hwm:>10}"
            f"{run.largest_request:>12,}{run.largest_response:>12,}"
        )
    print()
    for label, run in rows:
        times = run.receives or [0.0]
        print(
            f"{label:<28} receiveResponseXML (Convex stores the page): first "
            f"{times[0]:.2f} s, median {sorted(times)[len(times) // 2]:.2f} s, "
            f"slowest {max(times):.2f} s, last {times[-1]:.2f} s"
        )
    print()
    for label, run in rows:
        expected = expected_counts(run.items, args.accounts)
        print(
            f"{label:<28} Convex listCounts {run.convex_counts}  QuickBooks has "
            f"{run.quickbooks_counts}  expected {expected}"
        )
        if run.convex_counts != expected or run.quickbooks_counts != expected:
            problems.append(f"{label}: list counts {run.convex_counts}, expected {expected}")
        if run.last_percent != 100:
            problems.append(f"{label}: session ended at {run.last_percent}% ({run.last_error})")
        if max(run.largest_request, run.largest_response) > LIMIT:
            problems.append(f"{label}: a qbXML message over 5 MB")
    ratio = big.peak_bytes / max(small.peak_bytes, 1)
    print(
        f"\nmemory against list size: peak {mb(small.peak_bytes)} for {args.small:,} items, "
        f"{mb(big.peak_bytes)} for {args.items:,} ({ratio:.2f}x for {args.items / args.small:.0f}x "
        f"the items; limit {args.memory_slack}x)"
    )
    if ratio > args.memory_slack:
        problems.append(f"bridge peak memory grows with the list: {ratio:.2f}x")
    print(
        f"\nmap items --auto over {args.parts:,} parts (+{len(ITEMS)} mapped by the world): "
        f"upsert {args.parts:,} parts in {UPSERT_BATCH}s: {upsert_s:.1f} s; "
        f"map items --auto: {map_s:.1f} s (target < {AUTO_MAP_TARGET_S:.0f} s)"
    )
    print(f"  {summary}")
    wanted = (
        f"mapped {matched}, unmatched {UNMATCHED}, ambiguous {AMBIGUOUS}, "
        f"already mapped {len(ITEMS)} "
    )
    if not summary.startswith(wanted):
        problems.append(f"auto-map summary {summary!r}, expected it to start {wanted!r}")
    if map_s > AUTO_MAP_TARGET_S:
        problems.append(f"auto-map took {map_s:.1f} s (target {AUTO_MAP_TARGET_S:.0f} s)")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
