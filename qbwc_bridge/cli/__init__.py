"""`qbwc-bridge`: serve the bridge and look after the queue.

One module per group of subcommands; each has a `register(commands)` that
adds its parsers. Exit codes: 0 ok, 1 the operation failed (Convex refused
or is down), 2 usage or configuration error. Errors are one line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from qbwc_bridge import __version__
from qbwc_bridge.cli import admins, install, mapping, queue, reconcile, serve
from qbwc_bridge.cli.common import EXIT_FAILED, EXIT_USAGE, CliError, Handler
from qbwc_bridge.config import ConfigError, load_settings
from qbwc_bridge.convex_gateway import ConvexCallError, ConvexUnavailable
from qbwc_bridge.logging import configure_logging, known_secrets

SUBCOMMAND_GROUPS = (serve, queue, install, admins, mapping, reconcile)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qbwc-bridge",
        description="QuickBooks Web Connector bridge for the Convex inventory app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file", type=Path, default=Path(".env"), help="settings file (default .env)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in SUBCOMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(env_file=args.env_file)
        configure_logging(settings.log_format, settings.log_level, secrets=known_secrets(settings))
        handler: Handler = args.handler
        return handler(args, settings)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except ConvexCallError as error:
        print(f"error: Convex refused: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    except ConvexUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
