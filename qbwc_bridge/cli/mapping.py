"""Mapping to what QuickBooks has: `map`, `unmapped`, `refresh-lists`.

Each command checks against the lists the bridge last pulled from QuickBooks
(through QBWC), so a typo is refused with the closest names instead of
killing events later.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter

from qbwc_bridge.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, Commands, gateway_for
from qbwc_bridge.config import Settings
from qbwc_bridge.contract import AutoMatch, UnmappedRow
from qbwc_bridge.convex_gateway import ConvexGateway

AUTO_MAP_PAGE = 200
SHOWN = 10


def cmd_map(args: argparse.Namespace, settings: Settings) -> int:
    gateway = gateway_for(settings)
    if args.what == "items":
        if not args.auto:
            raise CliError(
                "`map items` needs --auto (or map one: `map item SKU QB_ITEM`)", EXIT_USAGE
            )
        return _auto_map(args, gateway)
    if args.name is None or args.target is None:
        raise CliError(f"usage: map {args.what} NAME QUICKBOOKS_NAME", EXIT_USAGE)
    if args.what == "item":
        mapped = gateway.map_item(args.name, args.target)
    elif args.what == "location":
        mapped = gateway.map_location(args.name, args.target)
    else:
        mapped = gateway.map_reason(args.name, args.target)
    before = (
        f" (was {mapped.previous})"
        if mapped.previous and mapped.previous != mapped.full_name
        else ""
    )
    print(f"{args.what} {args.name} -> {mapped.full_name} [{mapped.list_id}]{before}")
    if mapped.held_events_woken:
        print(f"{mapped.held_events_woken} held event(s) will be checked again at the next sync.")
    return EXIT_OK


def _auto_map(args: argparse.Namespace, gateway: ConvexGateway) -> int:
    matched: list[AutoMatch] = []
    ambiguous: list[AutoMatch] = []
    unmatched: list[str] = []
    already = 0
    cursor: str | None = None
    while True:
        page = gateway.map_items_auto(
            args.match,
            dry_run=args.dry_run,
            force=args.force,
            cursor=cursor,
            page_size=AUTO_MAP_PAGE,
        )
        matched += page.matched
        ambiguous += page.ambiguous
        unmatched += page.unmatched
        already += page.already_mapped
        if page.is_done:
            break
        cursor = page.continue_cursor
    verb = "would map" if args.dry_run else "mapped"
    print(
        f"{verb} {len(matched)}, unmatched {len(unmatched)}, ambiguous {len(ambiguous)}, already mapped {already} (kept{'' if not args.force else '; --force remapped them'})"
    )
    for match in matched[:SHOWN]:
        print(f"  {verb:<10} {match.sku} -> {match.full_names[0]}")
    for sku in unmatched[:SHOWN]:
        print(f"  unmatched  {sku}")
    for match in ambiguous[:SHOWN]:
        print(f"  ambiguous  {match.sku}: {' | '.join(match.full_names)}")
    if ambiguous or unmatched:
        print('Map the rest one by one: qbwc-bridge map item SKU "QuickBooks:Full Name"')
    return EXIT_OK


def cmd_unmapped(args: argparse.Namespace, settings: Settings) -> int:
    gateway = gateway_for(settings)
    rows: dict[str, UnmappedRow] = {}
    counts: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        page = gateway.unmapped(cursor)
        for row in page.rows:
            rows.setdefault(row.key, row)
            counts[row.key] += row.events
        if page.is_done:
            break
        cursor = page.continue_cursor
    ordered = sorted(rows.values(), key=lambda r: (-counts[r.key], r.kind, r.name))
    if args.json:
        print(
            json.dumps(
                [{**dataclasses.asdict(r), "events": counts[r.key]} for r in ordered], indent=2
            )
        )
        return EXIT_OK
    if not ordered:
        print("Nothing is waiting for a mapping.")
        return EXIT_OK
    print(f"{'kind':<10}{'name':<28}{'events':>7}  what is missing")
    for row in ordered:
        print(f"{row.kind:<10}{row.name[:27]:<28}{counts[row.key]:>7}  {row.reason[:120]}")
    print(
        "Fix with `qbwc-bridge map item|location|reason ...`; held events then go out by themselves."
    )
    return EXIT_FAILED if args.fail_if_any else EXIT_OK


def cmd_refresh_lists(args: argparse.Namespace, settings: Settings) -> int:
    company = gateway_for(settings).request_list_refresh()
    where = f" of {company}" if company else ""
    print(f"The next Web Connector run pulls QuickBooks' lists{where} before sending any event.")
    return EXIT_OK


def register(commands: Commands) -> None:
    mapping = commands.add_parser(
        "map", help="map parts, locations or reason codes to QuickBooks items, sites, accounts"
    )
    mapping.add_argument("what", choices=("items", "item", "location", "reason"))
    mapping.add_argument("name", nargs="?", help="SKU, location code or reason code")
    mapping.add_argument("target", nargs="?", help="QuickBooks full name or ListID")
    mapping.add_argument(
        "--auto",
        action="store_true",
        help="items: map every unmapped part whose SKU is an item's name",
    )
    mapping.add_argument(
        "--match",
        choices=("name", "fullname"),
        default="name",
        help="items --auto: compare the SKU with the item's Name (default) or FullName",
    )
    mapping.add_argument(
        "--dry-run", action="store_true", help="items --auto: report, change nothing"
    )
    mapping.add_argument(
        "--force", action="store_true", help="items --auto: also remap parts that have a mapping"
    )
    mapping.set_defaults(handler=cmd_map)

    unmapped = commands.add_parser("unmapped", help="what holds events back: missing mappings")
    unmapped.add_argument("--json", action="store_true", help="machine-readable output")
    unmapped.add_argument(
        "--fail-if-any", action="store_true", help="exit 1 when something is unmapped (for scripts)"
    )
    unmapped.set_defaults(handler=cmd_unmapped)

    refresh = commands.add_parser(
        "refresh-lists", help="pull QuickBooks' items, sites and accounts at the next sync"
    )
    refresh.set_defaults(handler=cmd_refresh_lists)
