"""Setting up: `qwc`, `hash-password`, `import-items`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from qbwc_bridge import importer
from qbwc_bridge.auth import hash_password
from qbwc_bridge.cli.common import EXIT_OK, EXIT_USAGE, CliError, Commands, gateway_for
from qbwc_bridge.config import MIN_PASSWORD_CHARS, ConfigError, Settings
from qbwc_bridge.qwc import QwcError, render_qwc


def cmd_qwc(args: argparse.Namespace, settings: Settings) -> int:
    user = args.user or settings.qbwc_username
    if not user:
        raise ConfigError("Give --user or set QBWC_USERNAME (the user name QBWC sends).")
    try:
        document = render_qwc(
            args.url,
            user,
            app_name=args.app_name,
            support_url=args.support_url,
            run_every_minutes=args.minutes,
        )
    except QwcError as error:
        raise CliError(str(error), EXIT_USAGE) from None
    if args.output is None:
        sys.stdout.buffer.write(document)
        return EXIT_OK
    # Written as bytes: PowerShell's `>` would re-encode stdout as UTF-16, which QBWC cannot read.
    try:
        args.output.write_bytes(document)
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror}") from None
    print(
        f"wrote {args.output} ({len(document)} bytes); load it in the Web Connector (Add an application)"
    )
    return EXIT_OK


def cmd_hash_password(args: argparse.Namespace, settings: Settings) -> int:
    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("QBWC password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the passwords differ", EXIT_USAGE)
    if len(password) < MIN_PASSWORD_CHARS:
        raise CliError(f"use a password of at least {MIN_PASSWORD_CHARS} characters", EXIT_USAGE)
    print(hash_password(password))
    return EXIT_OK


def cmd_import_items(args: argparse.Namespace, settings: Settings) -> int:
    return importer.run(args, lambda: gateway_for(settings))


def register(commands: Commands) -> None:
    qwc = commands.add_parser("qwc", help="print the .qwc file to load into QBWC")
    qwc.add_argument(
        "--url",
        required=True,
        help="the bridge's public SOAP URL, e.g. https://qb.example.com/qbwc",
    )
    qwc.add_argument("--user", help="user name QBWC sends (default $QBWC_USERNAME)")
    qwc.add_argument("--app-name", default="Inventory QuickBooks Sync")
    qwc.add_argument(
        "--support-url", help="support page on the same host (default: the host's root)"
    )
    qwc.add_argument("--minutes", type=int, default=5, help="run every N minutes (default 5)")
    qwc.add_argument(
        "--output", type=Path, help="write the file here (UTF-8, as QBWC needs) instead of stdout"
    )
    qwc.set_defaults(handler=cmd_qwc)

    hashpw = commands.add_parser("hash-password", help="print a QBWC_PASSWORD_HASH for a password")
    hashpw.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    hashpw.set_defaults(handler=cmd_hash_password)

    items = commands.add_parser("import-items", help="load the item master CSV into Convex")
    importer.add_arguments(items)
    items.set_defaults(handler=cmd_import_items)
