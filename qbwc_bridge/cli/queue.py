"""Looking after the queue: `status`, `retry`, `resolve`, `end-session`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from qbwc_bridge.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, Commands, gateway_for
from qbwc_bridge.config import Settings
from qbwc_bridge.contract import CompanyView
from qbwc_bridge.convex_gateway import ConvexCallError


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    gateway = gateway_for(settings)
    status = gateway.queue_status(dead_limit=args.dead)
    company = gateway.company()
    if args.json:
        report = {
            **dataclasses.asdict(status),
            "company": None if company is None else dataclasses.asdict(company),
        }
        print(json.dumps(report, indent=2, sort_keys=True))
        return EXIT_OK
    _print_company(company, status.server_time)
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


def _print_company(company: CompanyView | None, now_ms: float) -> None:
    if company is None:
        print("QuickBooks: not read yet (the first Web Connector run reads it).")
        return

    def ago(ms: float | None) -> str:
        return "never" if ms is None else f"{_duration(max(0.0, (now_ms - ms) / 1000))} ago"

    ml = {True: "on", False: "off", None: "unknown"}[company.multi_location_enabled]
    versions = company.supported_qbxml_versions[-1] if company.supported_qbxml_versions else "?"
    print(
        f"QuickBooks: {company.company_name or '?'} ({company.product_name or 'product unknown'}, "
        f"{company.file_mode or 'file mode unknown'}, qbXML up to {versions}), "
        f"file {company.company_file or '(the one open in QuickBooks)'}"
    )
    print(f"  multi-location inventory: {ml} (read {ago(company.capabilities_read_at)})")
    counts = company.list_counts
    lists = (
        f"{counts.items} items, {counts.sites} sites, {counts.accounts} accounts"
        if counts is not None
        else "none yet"
    )
    print(f"  lists: {lists}, pulled {ago(company.lists_pulled_at)}")
    if company.pull_step is not None:
        print(
            f"  list pull in progress: {company.pull_step}, {company.pull_entries} entries so far"
        )
    elif company.refresh_requested:
        print("  list pull requested: at the next Web Connector run")
    if company.pull_error:
        print(f"  last list pull failed: {company.pull_error}")
    report = company.last_report
    if report is not None:
        verdict = f"{report.drift_rows} drifting" if report.drift_rows else "no drift"
        print(
            f"  reconciliation: {verdict} of {report.rows} row(s) (total drift {report.total_drift:g}), "
            f"snapshot {ago(report.snapshot_at)}, report {ago(report.built_at)}"
        )
    if company.snapshot_running:
        print("  quantity snapshot: being taken")
    elif company.snapshot_requested:
        print("  quantity snapshot: requested, at the next Web Connector run")
    if company.reconcile_every_hours:
        print(f"  snapshots by schedule every {company.reconcile_every_hours:g} h")


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


def cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.event_ids) == bool(args.all_dead):
        raise CliError("give EVENT_ID... or --all-dead (not both)", EXIT_USAGE)
    gateway = gateway_for(settings)
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
            state = gateway.retry_event(gateway.event_id_of(key))
            print(f"{state.ref_number} {state.event_id} -> {state.qb_status}")
        except ConvexCallError as error:
            failures += 1
            print(f"error: {key}: {error.message}", file=sys.stderr)
    return EXIT_FAILED if failures else EXIT_OK


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    if args.send == (args.txn_id is not None):
        raise CliError("give --send or --txn-id TXN_ID (one of them)", EXIT_USAGE)
    gateway = gateway_for(settings)
    state = gateway.resolve_held(
        gateway.event_id_of(args.event), send=args.send, txn_id=args.txn_id
    )
    print(f"{state.ref_number} {state.event_id} -> {state.qb_status}")
    return EXIT_OK


def cmd_end_session(args: argparse.Namespace, settings: Settings) -> int:
    ended = gateway_for(settings).end_open_sessions()
    for session in ended:
        print(
            f"ended session of {session.user_name}: {session.applied} applied; "
            "what it had sent will be looked up in QuickBooks first"
        )
    print(f"{len(ended)} session(s) ended.")
    return EXIT_OK


def register(commands: Commands) -> None:
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
