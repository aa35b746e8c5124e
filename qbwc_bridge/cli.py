"""`qbwc-bridge`: serve the bridge and look after the queue.

Exit codes: 0 ok, 1 the operation failed (Convex refused or is down),
2 usage or configuration error. Errors are one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from qbwc_bridge import __version__, importer
from qbwc_bridge.auth import LoginThrottle, check_password_hash, hash_password
from qbwc_bridge.config import ConfigError, Settings, load_settings
from qbwc_bridge.convex_gateway import ConvexCallError, ConvexGateway, ConvexUnavailable
from qbwc_bridge.logging import configure_logging, get_logger
from qbwc_bridge.qwc import QwcError, render_qwc

log = get_logger("qbwc_bridge.cli")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


def _gateway(settings: Settings) -> ConvexGateway:
    url, key = settings.require_convex()
    return ConvexGateway(url, key)


# -- serve ------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from qbwc_bridge.local_runtime import LocalRuntimeError, start_local_runtime
    from qbwc_bridge.server import build_wsgi_app, create_server, server_url
    from qbwc_bridge.sync import SyncService

    settings.require_credentials()
    if settings.qbwc_password_hash:
        try:
            check_password_hash(settings.qbwc_password_hash)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    runtime = None
    if settings.convex_url is None:
        try:
            runtime = start_local_runtime(data_file=args.data)
        except LocalRuntimeError as error:
            raise ConfigError(str(error)) from None
        url, key = runtime.url, runtime.admin_key
        log.warning(
            "LOCAL_CONVEX_RUNTIME",
            message="No CONVEX_URL: using the local Convex runtime. State is LOCAL to this machine "
            "(not your real Convex deployment).",
            url=url,
            data_file=str(args.data) if args.data else "in memory",
        )
        if args.sample_data:
            from qbwc_bridge.sample_data import seed

            log.info("sample_data_loaded", **seed(url, key))
    else:
        url, key = settings.require_convex()
    try:
        gateway = ConvexGateway(url, key)
        sync = SyncService(settings, gateway, LoginThrottle())
        server = create_server(
            build_wsgi_app(sync, gateway), args.host or settings.host, _port(args, settings)
        )
        log.info(
            "serving",
            url=f"{server_url(server)}/qbwc",
            wsdl=f"{server_url(server)}/qbwc?wsdl",
            version=__version__,
        )
        try:
            server.run()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            server.close()
    finally:
        if runtime is not None:
            runtime.stop()
    return EXIT_OK


def _port(args: argparse.Namespace, settings: Settings) -> int:
    return int(args.port) if args.port is not None else settings.port


# -- status / retry -----------------------------------------------------------------


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    status = _gateway(settings).queue_status(dead_limit=args.dead)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return EXIT_OK
    counts = status["counts"]
    print("Queue (by qbStatus):")
    for name in ("pending", "in_flight", "failed", "dead", "applied", "not_required", "cancelled"):
        print(f"  {name:<13}{int(counts.get(name, 0)):>8}")
    due = status["dueCount"]
    age = status["oldestDueAgeSeconds"]
    print(
        f"Due now: {int(due)}" + (f" (oldest waiting {_duration(age)})" if age is not None else "")
    )
    if status["expiredLeases"]:
        print(
            f"Claims with lapsed leases (to be looked up in QuickBooks): {len(status['expiredLeases'])}"
        )
    if status["dead"]:
        print("Dead events (fix the cause, then `qbwc-bridge retry EVENT_ID`):")
        for event in status["dead"]:
            print(f"  {event['refNumber']:<11} {event['eventId']}  {event['lastError'] or ''}")
    return EXIT_OK


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.event_ids) == bool(args.all_dead):
        raise CliError("give EVENT_ID... or --all-dead (not both)", EXIT_USAGE)
    gateway = _gateway(settings)
    if args.all_dead:
        total = 0
        while True:
            batch = gateway.retry_all_dead()
            for event in batch["retried"]:
                print(f"{event['refNumber']} {event['eventId']} -> pending")
            total += len(batch["retried"])
            if not batch["more"]:
                break
        print(f"{total} dead event(s) queued again.")
        return EXIT_OK
    failures = 0
    for key in args.event_ids:
        try:
            event_id = key
            if key.startswith(("TR-", "AD-")):
                state = gateway.event_state(key)
                if state is None:
                    raise ConvexCallError(
                        "qbQueue:getEventState", f"no event {key}", "EVENT_NOT_FOUND"
                    )
                event_id = state["eventId"]
            state = gateway.retry_event(event_id)
            print(f"{state['refNumber']} {state['eventId']} -> {state['qbStatus']}")
        except ConvexCallError as error:
            failures += 1
            print(f"error: {key}: {error.message}", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


# -- qwc / hash-password --------------------------------------------------------------


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
    sys.stdout.buffer.write(document)
    return EXIT_OK


def cmd_hash_password(args: argparse.Namespace, settings: Settings) -> int:
    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("QBWC password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the passwords differ", EXIT_USAGE)
    if len(password) < 8:
        raise CliError("use a password of at least 8 characters", EXIT_USAGE)
    print(hash_password(password))
    return EXIT_OK


def cmd_import_items(args: argparse.Namespace, settings: Settings) -> int:
    return importer.run(args, lambda: _gateway(settings))


# -- parser ---------------------------------------------------------------------------


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

    serve = commands.add_parser("serve", help="serve SOAP for QBWC at /qbwc and GET /healthz")
    serve.add_argument("--host", help="interface to listen on (default $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $PORT or 8080; 0 = any free port)")
    serve.add_argument("--data", type=Path, help="local runtime only: keep its state in this file")
    serve.add_argument(
        "--sample-data", action="store_true", help="local runtime only: load sample data"
    )
    serve.set_defaults(handler=cmd_serve)

    status = commands.add_parser("status", help="queue counts, oldest due event, dead events")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--dead", type=int, default=20, help="how many dead events to list (max 100)"
    )
    status.set_defaults(handler=cmd_status)

    retry = commands.add_parser("retry", help="queue failed or dead events again, due now")
    retry.add_argument(
        "event_ids", nargs="*", metavar="EVENT_ID", help="event id or refNumber (TR-000123)"
    )
    retry.add_argument("--all-dead", action="store_true", help="retry every dead event")
    retry.set_defaults(handler=cmd_retry)

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
    qwc.set_defaults(handler=cmd_qwc)

    hashpw = commands.add_parser("hash-password", help="print a QBWC_PASSWORD_HASH for a password")
    hashpw.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    hashpw.set_defaults(handler=cmd_hash_password)

    items = commands.add_parser("import-items", help="load the item master CSV into Convex")
    importer.add_arguments(items)
    items.set_defaults(handler=cmd_import_items)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(env_file=args.env_file)
        configure_logging(settings.log_format, settings.log_level)
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
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
