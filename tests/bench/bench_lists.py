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

ItemSites (reconciliation's quantity per item and site, `--sites` sites per
item): the same pull through an `ItemSitesQuery` iterator, then

- the bridge's time per page (rendering, reading the answer into a
  `SiteQuantityPage`), the biggest request and answer of the pull;
- the worst page: `--page` and `render.MAX_ITEM_SITES_PAGE_SIZE` ItemSitesRets
  with every field the schema has, bins, the longest names and quantities
  QuickBooks allows (schema-validated), in bytes and parse time.

Fails (exit 1) on a duplicated or missing item or item site, or a message over 5 MB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lxml import etree
from support.qb_simulator import QuickBooksSimulator
from support.qbxml_schema import load_schema

from qbwc_bridge.contract import ListPage, QueryKind, QueryRequest, SiteQuantityPage
from qbwc_bridge.qbxml import parse, render
from qbwc_bridge.versions import QbxmlVersion

LIMIT = 5 * 1024 * 1024
VERSION = QbxmlVersion(13, 0)
Page = TypeVar("Page", ListPage, SiteQuantityPage)


def read_page(answer: str, page_type: type[Page]) -> Page:
    (rs,) = parse.parse_response(answer)
    page = parse.query_outcome(rs)
    if not isinstance(page, page_type):
        raise SystemExit(f"QuickBooks answered {rs.status_code}: {rs.status_message}")
    return page


def pull(
    qb: QuickBooksSimulator, kind: QueryKind, prefix: str, page_type: type[Page], size: int
) -> tuple[list[Page], list[float], list[float], int, int]:
    """The whole list, page by page; render and parse times per page, biggest sizes."""
    pages: list[Page] = []
    render_s: list[float] = []
    parse_s: list[float] = []
    biggest_request = biggest_answer = 0
    iterator_id = None
    while True:
        query = QueryRequest(
            f"{prefix}-{len(pages)}",
            kind,
            "Start" if iterator_id is None else "Continue",
            iterator_id,
            size,
        )
        began = time.perf_counter()
        request = render.render_batch([], VERSION, queries=[query]).xml or ""
        render_s.append(time.perf_counter() - began)
        answer = qb.process(request)
        began = time.perf_counter()
        page = read_page(answer, page_type)
        parse_s.append(time.perf_counter() - began)
        biggest_request = max(biggest_request, len(request.encode("utf-8")))
        biggest_answer = max(biggest_answer, len(answer.encode("utf-8")))
        pages.append(page)
        if page.remaining == 0:
            return pages, render_s, parse_s, biggest_request, biggest_answer
        iterator_id = page.iterator_id


def worst_page_bytes() -> int:
    """One page of MAX_PAGE_SIZE items whose names are as long as QuickBooks allows."""
    qb = QuickBooksSimulator(load_schema())
    parents = [f"{'P' * 27}{n:04d}" for n in range(4)]  # 31-character names, 4 levels deep
    for n in range(render.MAX_PAGE_SIZE):
        name = ":".join([*parents, f"{'x' * 26}{n:05d}"])
        qb.add_item(name)
        qb.set_qoh(name, "-1234567890.12345")
    answer = qb.process(
        render.render_batch(
            [],
            VERSION,
            queries=[QueryRequest("w", "ItemInventoryQuery", "Start", None, render.MAX_PAGE_SIZE)],
        ).xml
        or ""
    )
    return len(answer.encode("utf-8"))


# -- ItemSites ------------------------------------------------------------------------------


def _ref(parent: etree._Element, tag: str, list_id: str, full_name: str) -> None:
    ref = etree.SubElement(parent, tag)
    etree.SubElement(ref, "ListID").text = list_id
    etree.SubElement(ref, "FullName").text = full_name


def worst_item_sites_answer(count: int) -> str:
    """`count` ItemSitesRets as big as QuickBooks can write them, in one schema-valid answer.

    Every field of the schema's ItemSitesRet, a bin on each, 159-character
    item names (4 levels of 31 + the item), 31-character site and bin names,
    16-character EditSequences, and quantities of 10 integer digits and 5
    decimals. ListIDs as QuickBooks writes them (8 hex digits, a dash, 10 digits).
    """
    root = etree.Element("QBXML")
    rs = etree.SubElement(
        etree.SubElement(root, "QBXMLMsgsRs"),
        "ItemSitesQueryRs",
        requestID="snap:0.0",
        statusCode="0",
        statusSeverity="Info",
        statusMessage="Status OK",
        iteratorRemainingCount="999999",
        iteratorID="{0B5A7C3E-1F2D-4E5A-9B8C-7D6E5F4A3B2C}",
    )
    parents = ":".join(f"{'P' * 27}{n:04d}" for n in range(4))
    quantity = "-1234567890.12345"
    stamp = "2024-03-01T09:00:00-05:00"
    for n in range(count):
        ret = etree.SubElement(rs, "ItemSitesRet")
        etree.SubElement(ret, "ListID").text = f"{0x80000000 + n:X}-{1900000000 + n}"
        etree.SubElement(ret, "TimeCreated").text = stamp
        etree.SubElement(ret, "TimeModified").text = stamp
        etree.SubElement(ret, "EditSequence").text = f"{9000000000000000 + n}"
        _ref(
            ret,
            "ItemInventoryRef",
            f"{0x90000000 + n:X}-{1900000000 + n}",
            f"{parents}:{'x' * 26}{n:05d}",
        )
        _ref(ret, "InventorySiteRef", "A0000001-1900000001", "S" * 31)
        _ref(ret, "InventorySiteLocationRef", "A0000002-1900000002", "B" * 31)
        for tag in (
            "ReorderLevel",
            "QuantityOnHand",
            "QuantityOnPurchaseOrders",
            "QuantityOnSalesOrders",
            "QuantityToBeBuiltByPendingBuildTxns",
            "QuantityRequiredByPendingBuildTxns",
            "QuantityOnPendingTransfers",
            "AssemblyBuildPoint",
        ):
            etree.SubElement(ret, tag).text = quantity
    root.addprevious(etree.ProcessingInstruction("qbxml", 'version="13.0"'))
    load_schema().assertValid(root)
    return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode")


def worst_item_sites_page(count: int) -> tuple[int, float]:
    """(bytes, seconds to read) of the worst page of `count` item sites (best of 3 reads)."""
    answer = worst_item_sites_answer(count)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        page = read_page(answer, SiteQuantityPage)
        times.append(time.perf_counter() - began)
        if len(page.rows) != count:
            raise SystemExit(f"worst page read {len(page.rows)} rows of {count}")
    return len(answer.encode("utf-8")), min(times)


def item_sites_section(items: int, sites: int, size: int) -> list[str]:
    """Pulls items x sites item sites and measures the worst pages; returns the problems."""
    qb = QuickBooksSimulator(load_schema(), sites=[f"Site {s}" for s in range(sites)])
    for n in range(items):
        name = f"SKU-{n:06d}"
        qb.add_item(name)
        for s in range(sites):
            qb.set_qoh(name, (n + s) % 97, f"Site {s}")
    began = time.perf_counter()
    pages, render_s, parse_s, biggest_request, biggest_answer = pull(
        qb, "ItemSitesQuery", "snap", SiteQuantityPage, size
    )
    wall = time.perf_counter() - began
    rows = [row for page in pages for row in page.rows]
    full = [i for i, page in enumerate(pages) if len(page.rows) == size] or [0]
    worst_bytes, worst_parse = worst_item_sites_page(size)
    largest = render.MAX_ITEM_SITES_PAGE_SIZE
    largest_bytes, largest_parse = worst_item_sites_page(largest)

    print(
        f"\nItemSites: {items} items x {sites} sites, page: {size}, pages: {len(pages)}, rows: {len(rows)}"
    )
    print(
        f"bridge per {size}-row page: render "
        f"{statistics.median(render_s[i] for i in full) * 1000:.2f} ms, parse "
        f"{statistics.median(parse_s[i] for i in full) * 1000:.1f} ms"
        f" (whole pull incl. simulator: {wall:.1f} s)"
    )
    print(f"biggest request: {biggest_request:,} bytes; biggest answer: {biggest_answer:,} bytes")
    print(
        f"worst {size}-row page (every field, bins, maximal names): {worst_bytes:,} bytes "
        f"({worst_bytes / size:,.0f} per row), parse {worst_parse * 1000:.1f} ms"
    )
    print(
        f"worst {largest}-row page (MAX_ITEM_SITES_PAGE_SIZE): {largest_bytes:,} bytes "
        f"({largest_bytes / LIMIT:.0%} of 5 MB), parse {largest_parse * 1000:.1f} ms"
    )
    problems = []
    expected = items * sites
    if len(rows) != expected or len({row.row_id for row in rows}) != expected:
        problems.append(
            f"{len(rows)} item sites, {len({r.row_id for r in rows})} distinct, {expected} expected"
        )
    if max(biggest_request, biggest_answer, worst_bytes, largest_bytes) > LIMIT:
        problems.append("an ItemSites message is over 5 MB")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--sites", type=int, default=3, help="sites per item for ItemSites")
    args = parser.parse_args()

    qb = QuickBooksSimulator(load_schema())
    for n in range(args.items):
        name = f"SKU-{n:06d}"
        qb.add_item(name)
        qb.set_qoh(name, n % 97)
    began = time.perf_counter()
    pages, render_s, parse_s, biggest_request, biggest_answer = pull(
        qb, "ItemInventoryQuery", "items", ListPage, args.page
    )
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
    problems += item_sites_section(args.items, args.sites, args.page)
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
