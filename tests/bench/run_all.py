"""`make bench`: every benchmark, one after the other; fails if any fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = [
    "bench_local_convex.py",
    "bench_sync.py",
    "bench_import.py",
    "bench_lists.py",
    "bench_list_pull.py",
    "bench_reconcile.py",
    "bench_ops.py",
]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for name in BENCHES:
        print(f"\n== {name}", flush=True)
        if subprocess.run([sys.executable, str(here / name)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
