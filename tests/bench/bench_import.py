"""Times a 50,000-row item import against the local Convex runtime.

Run from the repo root: `.venv/bin/python tests/bench/bench_import.py [--rows N]`.
Starts a fresh local runtime (never a real deployment), imports a generated
export twice, and prints seconds and rows/s for both runs. The first run must
create every row and the second must find every row unchanged; otherwise the
benchmark fails (exit 1) rather than print a meaningless number.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qbwc_bridge import importer
from qbwc_bridge.convex_gateway import ConvexGateway
from qbwc_bridge.local_runtime import start_local_runtime


def write_export(path: Path, rows: int) -> None:
    """A spreadsheet-like export: BOM, CRLF, quoted commas, leading-zero SKUs."""
    lines = ["Item #,Item Name,Sales Description,Purchase Cost,Sales Price,Active Status"]
    lines += [
        f'{i:08d},Part {i},"Bench item {i}, boxed",{i % 997}.25,"${i:,}.75",'
        f"{'Inactive' if i % 50 == 0 else 'Active'}"
        for i in range(rows)
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))


def timed_import(csv_path: Path, gateway: ConvexGateway) -> tuple[float, str]:
    parser = argparse.ArgumentParser()
    importer.add_arguments(parser)
    args = parser.parse_args([str(csv_path), "--quiet"])
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output):
        code = importer.run(args, lambda: gateway)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"import failed with exit code {code}:\n{output.getvalue()}")
    return elapsed, output.getvalue().strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    rows = parser.parse_args().rows
    runtime = start_local_runtime()
    try:
        gateway = ConvexGateway(runtime.url, runtime.admin_key)
        with tempfile.TemporaryDirectory() as directory:
            csv_path = Path(directory) / "bench_items.csv"
            write_export(csv_path, rows)
            expected = {
                "first import": f"Result: {rows} created, 0 updated, 0 unchanged",
                "re-import": f"Result: 0 created, 0 updated, {rows} unchanged",
            }
            for label, result in expected.items():
                seconds, report = timed_import(csv_path, gateway)
                if report != result:
                    print(f"{label}: expected {result!r}, got {report!r}", file=sys.stderr)
                    return 1
                print(f"{label}: {rows} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
