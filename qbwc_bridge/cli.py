"""`qbwc-bridge`: serve the bridge and look after the queue.

Exit codes: 0 ok, 1 the operation failed (Convex refused or is down),
2 usage or configuration error. Errors are one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from qbwc_bridge import __version__, importer
from qbwc_bridge.auth import LoginThrottle, check_password_hash, hash_password
from qbwc_bridge.config import ConfigError, Settings, load_settings
from qbwc_bridge.convex_gateway import (
    REF_NUMBER,
    ConvexCallError,
    ConvexGateway,
    ConvexUnavailable,
)
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
        print(json.dumps(dataclasses.asdict(status), indent=2, sort_keys=True))
        return EXIT_OK
    print("Queue (by qbStatus):")
    for name in QB_STATUS_ORDER:
        print(f"  {name:<13}{status.counts.get(name, 0):>8}")
    age = status.oldest_due_age_seconds
    print(
        f"Due now: {status.due_count}"
        + (f" (oldest waiting {_duration(age)})" if age is not None else "")
    )
    for session in status.open_sessions:
        quiet = _duration(max(0.0, (status.server_time - session.last_seen_at) / 1000))
        state = "live" if session.live else "expired"
        waiting = (
            f", {session.outstanding} request(s) awaiting QuickBooks" if session.outstanding else ""
        )
        print(
            f"Web Connector session ({state}): user {session.user_name}, "
            f"{session.company_file or 'open company file'}, last call {quiet} ago{waiting}"
        )
    if status.lookups:
        print(
            f"Outcome unknown, to be looked up in QuickBooks before any resend: {len(status.lookups)}"
        )
    if status.held:
        print("Held for a decision (see the SOP; `qbwc-bridge resolve REF --send | --txn-id ID`):")
        for event in status.held:
            print(f"  {event.ref_number:<11} {event.event_id}  {event.hold_reason or ''}")
    if status.dead:
        print("Dead events (fix the cause, then `qbwc-bridge retry EVENT_ID`):")
        for event in status.dead:
            print(f"  {event.ref_number:<11} {event.event_id}  {event.last_error or ''}")
    return EXIT_OK


QB_STATUS_ORDER = (
    "pending",
    "in_flight",
    "failed",
    "held",
    "dead",
    "applied",
    "not_required",
    "cancelled",
)


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 120:
        return f"{whole}s"
    if whole < 7200:
        return f"{whole // 60}m"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


def _event_id(gateway: ConvexGateway, key: str) -> str:
    """An event id, or a refNumber (TR-000123) looked up to its id."""
    if not REF_NUMBER.fullmatch(key):
        return key
    state = gateway.event_state(key)
    if state is None:
        raise ConvexCallError("qbQueue:getEventState", f"no event {key}", "EVENT_NOT_FOUND")
    return state.event_id


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.event_ids) == bool(args.all_dead):
        raise CliError("give EVENT_ID... or --all-dead (not both)", EXIT_USAGE)
    gateway = _gateway(settings)
    if args.all_dead:
        total = 0
        while True:
            batch = gateway.retry_all_dead()
            for event in batch.retried:
                print(f"{event.ref_number} {event.event_id} -> pending")
            total += len(batch.retried)
            if not batch.more:
                break
        print(f"{total} dead event(s) queued again.")
        return EXIT_OK
    failures = 0
    for key in args.event_ids:
        try:
            state = gateway.retry_event(_event_id(gateway, key))
            print(f"{state.ref_number} {state.event_id} -> {state.qb_status}")
        except ConvexCallError as error:
            failures += 1
            print(f"error: {key}: {error.message}", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    if args.send == (args.txn_id is not None):
        raise CliError("give --send or --txn-id TXN_ID (one of them)", EXIT_USAGE)
    gateway = _gateway(settings)
    state = gateway.resolve_held(_event_id(gateway, args.event), send=args.send, txn_id=args.txn_id)
    print(f"{state.ref_number} {state.event_id} -> {state.qb_status}")
    return EXIT_OK


def cmd_end_session(args: argparse.Namespace, settings: Settings) -> int:
    ended = _gateway(settings).end_open_sessions()
    for session in ended:
        print(
            f"ended session of {session.user_name}: {session.applied} applied; "
            "what it had sent will be looked up in QuickBooks first"
        )
    print(f"{len(ended)} session(s) ended.")
    return EXIT_OK


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

    resolve = commands.add_parser(
        "resolve", help="settle a held event: QuickBooks lacks it (--send) or holds it (--txn-id)"
    )
    resolve.add_argument("event", metavar="EVENT_ID", help="event id or refNumber (AD-000007)")
    resolve.add_argument(
        "--send", action="store_true", help="QuickBooks does not have this event: send it"
    )
    resolve.add_argument(
        "--txn-id", help="this QuickBooks transaction is the event: record it as applied"
    )
    resolve.set_defaults(handler=cmd_resolve)

    end_session = commands.add_parser(
        "end-session",
        help="end the open Web Connector session now (when you know that Web Connector is gone)",
    )
    end_session.set_defaults(handler=cmd_end_session)

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
