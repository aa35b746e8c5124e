"""List reads: cost of one item page to the bridge, and the biggest message of a whole pull.

Run from the repo root: `.venv/bin/python tests/bench/bench_lists.py [--items 20000] [--page 500]`.
Pulls `--items` inventory parts from the QuickBooks simulator through a qbXML
iterator, `--page` per message, rendering each request and reading each answer
with the bridge's own renderer and parser (no Convex, no SOAP: this measures
the qbXML side alone). Prints:

- the bridge's time per page: rendering the request, reading the answer into
  a `ListPage` (median over the pull's full pages);
- the biggest request and answer of the pull, in bytes (target: far below 5 MB),
  and the same for a page of `render.MAX_PAGE_SIZE` items with names as long as
  QuickBooks allows (the worst a page can get);
- pages and entries seen.

Fails (exit 1) on a duplicated or missing item, or a message over 5 MB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.qb_simulator import QuickBooksSimulator
from support.qbxml_schema import load_schema

from qbwc_bridge.contract import ListPage, QueryRequest
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.versions import QbxmlVersion

LIMIT = 5 * 1024 * 1024
VERSION = QbxmlVersion(13, 0)


def read_page(answer: str) -> ListPage:
    (rs,) = parse.parse_response(answer)
    page = parse.query_outcome(rs)
    if not isinstance(page, ListPage):
        raise SystemExit(f"QuickBooks answered {rs.status_code}: {rs.status_message}")
    return page


def pull(
    qb: QuickBooksSimulator, size: int
) -> tuple[list[ListPage], list[float], list[float], int, int]:
    """The whole list, page by page; render and parse times per page, biggest sizes."""
    pages: list[ListPage] = []
    render_s: list[float] = []
    parse_s: list[float] = []
    biggest_request = biggest_answer = 0
    iterator, iterator_id = "Start", None
    while True:
        query = QueryRequest(
            f"items-{len(pages)}", "ItemInventoryQuery", iterator, iterator_id, size
        )  # type: ignore[arg-type]
        began = time.perf_counter()
        batch = render.render_batch([], VERSION, queries=[query])
        render_s.append(time.perf_counter() - began)
        request = batch.xml or ""
        answer = qb.process(request)
        began = time.perf_counter()
        page = read_page(answer)
        parse_s.append(time.perf_counter() - began)
        biggest_request = max(biggest_request, len(request.encode("utf-8")))
        biggest_answer = max(biggest_answer, len(answer.encode("utf-8")))
        pages.append(page)
        if page.remaining == 0:
            return pages, render_s, parse_s, biggest_request, biggest_answer
        iterator, iterator_id = "Continue", page.iterator_id


def worst_page_bytes() -> int:
    """One page of MAX_PAGE_SIZE items whose names are as long as QuickBooks allows."""
    qb = QuickBooksSimulator(load_schema())
    parents = [f"{'P' * 27}{n:04d}" for n in range(4)]  # 31-character names, 4 levels deep
    for n in range(render.MAX_PAGE_SIZE):
        qb.add_item(":".join([*parents, f"{'x' * 26}{n:05d}"]))
        qb.set_qoh(":".join([*parents, f"{'x' * 26}{n:05d}"]), "-1234567890.12345")
    answer = qb.process(
        render.render_batch(
            [],
            VERSION,
            queries=[QueryRequest("w", "ItemInventoryQuery", "Start", None, render.MAX_PAGE_SIZE)],
        ).xml
        or ""
    )
    return len(answer.encode("utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()

    qb = QuickBooksSimulator(load_schema())
    for n in range(args.items):
        name = f"SKU-{n:06d}"
        qb.add_item(name)
        qb.set_qoh(name, n % 97)
    began = time.perf_counter()
    pages, render_s, parse_s, biggest_request, biggest_answer = pull(qb, args.page)
    wall = time.perf_counter() - began
    ids = [entry.list_id for page in pages for entry in page.entries]
    full = [i for i, page in enumerate(pages) if len(page.entries) == args.page] or [0]
    worst = worst_page_bytes()

    print(f"items: {args.items}, page: {args.page}, pages: {len(pages)}, entries: {len(ids)}")
    print(
        f"bridge per {args.page}-item page: render "
        f"{statistics.median(render_s[i] for i in full) * 1000:.2f} ms, parse "
        f"{statistics.median(parse_s[i] for i in full) * 1000:.1f} ms"
        f" (whole pull incl. simulator: {wall:.1f} s)"
    )
    print(f"biggest request: {biggest_request:,} bytes; biggest answer: {biggest_answer:,} bytes")
    print(
        f"worst case, {render.MAX_PAGE_SIZE} items with maximal names: {worst:,} bytes "
        f"({worst / LIMIT:.0%} of 5 MB)"
    )
    problems = []
    if len(ids) != args.items or len(set(ids)) != len(ids):
        problems.append(f"{len(ids)} entries, {len(set(ids))} distinct, {args.items} expected")
    if max(biggest_request, biggest_answer, worst) > LIMIT:
        problems.append("a message is over 5 MB")
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
