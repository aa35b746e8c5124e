"""What every subcommand shares: exit codes, the one-line error, a gateway."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from qbwc_bridge.config import Settings
from qbwc_bridge.convex_gateway import ConvexGateway

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace, Settings], int]
# What `add_subparsers()` returns; argparse keeps its type private.
Commands = Any


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def gateway_for(settings: Settings) -> ConvexGateway:
    url, key = settings.require_convex()
    return ConvexGateway.from_settings(settings, url, key)
