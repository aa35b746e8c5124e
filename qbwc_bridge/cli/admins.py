"""The admin role: `grant-admin`, `revoke-admin`, `list-admins`.

Admins configure locations, reason codes and QuickBooks mappings and may void
anyone's event; every other signed-in identity is an employee. The role lives
in Convex and only the deploy key can change it, so the first admin is made
here, by whoever runs the bridge.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime

from qbwc_bridge.cli.common import EXIT_OK, Commands, gateway_for
from qbwc_bridge.config import Settings


def cmd_grant_admin(args: argparse.Namespace, settings: Settings) -> int:
    grant = gateway_for(settings).grant_admin(args.subject, note=args.note)
    if grant.result == "granted":
        print(f"{grant.subject} is now an admin.")
    else:
        print(f"{grant.subject} was already an admin; nothing changed.")
    return EXIT_OK


def cmd_revoke_admin(args: argparse.Namespace, settings: Settings) -> int:
    revoke = gateway_for(settings).revoke_admin(args.subject)
    if revoke.result == "revoked":
        print(f"{revoke.subject} is no longer an admin (still an employee).")
    else:
        print(f"{revoke.subject} was not an admin; nothing changed.")
    return EXIT_OK


def cmd_list_admins(args: argparse.Namespace, settings: Settings) -> int:
    listing = gateway_for(settings).list_admins()
    if args.json:
        print(json.dumps(dataclasses.asdict(listing), indent=2, sort_keys=True))
        return EXIT_OK
    if not listing.admins:
        print("No admins yet. Grant the first one: qbwc-bridge grant-admin SUBJECT")
        return EXIT_OK
    for admin in listing.admins:
        granted = datetime.fromtimestamp(admin.granted_at / 1000, tz=UTC)
        note = f"  {admin.note}" if admin.note else ""
        print(f"{admin.subject}  granted {granted:%Y-%m-%d %H:%M} UTC by {admin.granted_by}{note}")
    if listing.more:
        print("(more admins exist than are listed)")
    return EXIT_OK


def register(commands: Commands) -> None:
    grant = commands.add_parser(
        "grant-admin", help="let SUBJECT configure locations, reasons and mappings"
    )
    grant.add_argument(
        "subject", metavar="SUBJECT", help="the identity's subject, as the app's sign-in issues it"
    )
    grant.add_argument("--note", help="why, or who this is (kept with the grant)")
    grant.set_defaults(handler=cmd_grant_admin)

    revoke = commands.add_parser("revoke-admin", help="take the admin role from SUBJECT")
    revoke.add_argument("subject", metavar="SUBJECT", help="the identity's subject")
    revoke.set_defaults(handler=cmd_revoke_admin)

    listing = commands.add_parser("list-admins", help="who is an admin, since when")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=cmd_list_admins)
