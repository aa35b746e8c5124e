"""CSV item master -> `inventory_parts`, through the internal `parts:upsertBatch`.

Mounting (the one implementation behind both entry points):

    add_arguments(parser)             adds CSV and the options to any argparse parser
    run(args, gateway_factory) -> int does the import; `gateway_factory()` returns a
                                      gateway with `mutation(path, args)` (deploy key)
                                      and may raise `ConfigError`
    main(argv) -> int                 the standalone script (own parser + `--env-file`)

`run` handles its own errors: one `error:` line on stderr, never a traceback.
Exit codes: 0 imported (or nothing to do); 1 bad rows (nothing written unless
--skip-bad, and still 1 with --skip-bad so scripts notice the rows left out),
or Convex refused/unreachable part-way; 2 cannot start: missing CONVEX_URL or
CONVEX_DEPLOY_KEY, unreadable file or encoding, broken CSV quoting, no SKU
column, bad --map.

Order of work: configuration first (fail fast), then the whole file is read,
decoded and validated before the first write, so a bad row never leaves half a
file behind. The rules are in the submodules' docstrings: `source` (encoding,
CSV), `columns` (header aliases, --map), `rows` (trimming, numbers, duplicates),
`upload` (batches, progress), `report` (deterministic output).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from qbwc_bridge.config import ConfigError, load_settings
from qbwc_bridge.convex_gateway import ConvexGateway
from qbwc_bridge.importer.columns import FIELDS, ColumnError, map_columns
from qbwc_bridge.importer.report import Report
from qbwc_bridge.importer.rows import build_plan, trim
from qbwc_bridge.importer.source import SourceError, decode, records
from qbwc_bridge.importer.upload import MAX_BATCH_PARTS, Gateway, Progress, UploadFailed, upload
from qbwc_bridge.logging import configure_logging, known_secrets

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""1 = bad rows, or Convex refused or could not be reached part-way."""

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Gateway", "add_arguments", "main", "run"]


def _batch_size(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if not 1 <= value <= MAX_BATCH_PARTS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH_PARTS}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The import options, shared by `qbwc-bridge import-items` and the script."""
    parser.add_argument("csv", type=Path, metavar="CSV", help="the item master export")
    parser.add_argument(
        "--map",
        action="append",
        default=None,
        metavar="FIELD=COLUMN",
        help=f"read FIELD from COLUMN (repeatable; FIELD= skips the field). Fields: {', '.join(FIELDS)}",
    )
    parser.add_argument(
        "--encoding",
        help="the file's encoding (default: UTF-8 with or without BOM, else Windows-1252)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change; write nothing"
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="import the good rows even if some are bad"
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=MAX_BATCH_PARTS,
        help=f"parts per Convex call (1-{MAX_BATCH_PARTS}, default {MAX_BATCH_PARTS})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--quiet", action="store_true", help="print only bad rows and the result line"
    )
    output.add_argument("--json", action="store_true", help="print the report as JSON")


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run(args: argparse.Namespace, gateway_factory: Callable[[], Gateway]) -> int:
    """Imports `args.csv`; prints the report on stdout; returns the exit code."""
    try:
        gateway = gateway_factory()
        decoded = decode(args.csv.read_bytes(), args.encoding)
        rows = records(decoded.text)
        header = next((r for r in rows if any(trim(cell) for cell in r.cells)), None)
        if header is None:
            raise SourceError("the file has no header row (it is empty)")
        columns = map_columns(header.cells, args.map or [])
        plan = build_plan(rows, columns)
    except ConfigError as error:
        _error(str(error))
        return EXIT_USAGE
    except (SourceError, ColumnError) as error:
        _error(f"{args.csv}: {error}")
        return EXIT_USAGE
    except OSError as error:
        _error(f"cannot read {args.csv}: {error.strerror or error}")
        return EXIT_USAGE

    report = Report(
        file=str(args.csv),
        encoding=decoded.encoding,
        columns=columns,
        plan=plan,
        dry_run=args.dry_run,
        skip_bad=args.skip_bad,
    )
    exit_code = EXIT_FAILED if plan.bad else EXIT_OK
    if not report.blocked:
        progress = Progress(
            len(plan.parts),
            "Checking" if args.dry_run else "Importing",
            enabled=not (args.quiet or args.json),
        )
        try:
            report.outcome = upload(
                gateway,
                plan.parts,
                dry_run=args.dry_run,
                batch_size=args.batch_size,
                progress=progress,
            )
        except UploadFailed as failure:
            report.outcome = failure.outcome
            report.failure = str(failure)
            exit_code = EXIT_FAILED
    sys.stdout.write(report.to_json() if args.json else report.to_text(quiet=args.quiet))
    if report.failure is not None:
        _error(report.failure)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """`python execution/inventory_import_items.py CSV [options]`."""
    parser = argparse.ArgumentParser(
        prog="inventory_import_items.py",
        description="Load the item master CSV into Convex inventory_parts (idempotent).",
    )
    parser.add_argument(
        "--env-file", type=Path, default=Path(".env"), help="settings file (default .env)"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)

    def gateway_factory() -> ConvexGateway:
        settings = load_settings(env_file=args.env_file)
        configure_logging(settings.log_format, settings.log_level, secrets=known_secrets(settings))
        url, key = settings.require_convex()
        return ConvexGateway.from_settings(settings, url, key)

    return run(args, gateway_factory)
