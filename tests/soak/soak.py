"""`make soak`: a real bridge process under abuse while a real Web Connector keeps syncing.

Run: `.venv/bin/python tests/soak/soak.py [--seconds 60] [--clients 50] [--json]`.

Against `qbwc-bridge serve` (its own process, LOG_FORMAT=json, the password
as a PBKDF2 hash as in production) on the local Convex runtime:

- a crowd of `--clients` clients, each from its own loopback address, mixing
  /healthz, wrong and right passwords for the real user name, and calls with
  made-up tickets, back to back;
- an attacker at 127.0.0.2 sending 4 wrong passwords a second for the real
  user name;
- the real Web Connector (127.0.0.1, the QBWC simulator with a QuickBooks
  simulator) running one session every 10 s, each with new events to sync;
- a Prometheus scrape of /metrics every 5 s.

Prints requests, 5xx, p50/p99 latency, RSS at start and end, non-JSON log
lines, secrets found in the log, and the real client's runs. Exit 1 unless:
0 5xx, 0 non-JSON lines, RSS growth under 20 MB, the real client never
refused (`nvu`) and every run synced its events.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from support.load import (
    ATTACKER_ADDRESS,
    BoundSoapClient,
    BridgeProcess,
    Tally,
    grep,
    http_request,
    run_crowd,
)
from support.local_convex import LocalConvex
from support.qbwc_simulator import QbwcSimulator
from support.world import build_world

from qbwc_bridge.auth import hash_password

USER = "qbwc"
PASSWORD = "soak-password-0123"
METRICS_TOKEN = "soak-metrics-token-0123456789"
CROWD_WEIGHTS = {"healthz": 3, "wrong_password": 3, "right_password": 1, "bad_ticket": 3}
REAL_CLIENT_EVERY = 10.0
ATTACKER_PER_SECOND = 4
EVENTS_PER_RUN = 3
MAX_RSS_GROWTH_MIB = 20.0


@dataclass
class RealClient:
    """The real Web Connector's runs: one every REAL_CLIENT_EVERY seconds."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return sum(1 for run in self.runs if run["verdict"] == "nvu")

    @property
    def synced(self) -> int:
        return sum(1 for run in self.runs if run["synced"])


def real_web_connector(url: str, world: Any, stop: threading.Event, client: RealClient) -> None:
    sku_cycle = ["00123", "1E5", "FLT-200", "GSK-9", "PMP-1"]
    n = 0
    while not stop.is_set():
        started = time.monotonic()
        refs = []
        for _ in range(EVENTS_PER_RUN):
            made = world.adjust(sku_cycle[n % len(sku_cycle)], "WH", 1, memo=f"soak {n}")
            refs.append(made["refNumber"])
            n += 1
        run: dict[str, Any] = {"attempts": 0, "busy": 0, "verdict": None}
        # "busy" (a crowd client with the right password had a session open at that
        # instant) is not a refusal: QBWC would come back; so does this one, a second later.
        while run["attempts"] < 5:
            run["attempts"] += 1
            report = QbwcSimulator(f"{url}/qbwc", USER, PASSWORD, world.quickbooks).run_session()
            run["verdict"] = report.authenticate_result[1] if report.authenticate_result else "?"
            if run["verdict"] != "busy":
                break
            run["busy"] += 1
            time.sleep(1)
        states = [world.state(ref)["qbStatus"] for ref in refs]
        run["synced"] = all(state == "applied" for state in states)
        run["states"] = states
        run["seconds"] = round(time.monotonic() - started, 2)
        client.runs.append(run)
        stop.wait(max(0.0, REAL_CLIENT_EVERY - (time.monotonic() - started)))


def attacker(url: str, stop: threading.Event, answers: Counter[str]) -> None:
    """4 wrong passwords a second on the clock, however slowly each is answered."""
    lock = threading.Lock()

    def guess() -> None:
        client = BoundSoapClient(f"{url}/qbwc", ATTACKER_ADDRESS)
        verdict = client.call("authenticate", strUserName=USER, strPassword="wrong-guess")[1]
        with lock:
            answers[verdict] += 1

    with ThreadPoolExecutor(16) as pool:
        while not stop.wait(1 / ATTACKER_PER_SECOND):
            pool.submit(guess)


def scraper(url: str, stop: threading.Event, statuses: dict[int, int]) -> None:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    while not stop.wait(5):
        status, _ = http_request("GET", f"{url}/metrics", headers=headers)
        statuses[status] = statuses.get(status, 0) + 1


def soak(seconds: float, clients: int) -> dict[str, Any]:
    runtime = LocalConvex.start()
    try:
        world = build_world(runtime.url, runtime.admin_key)
        world.open_stock()
        bridge = BridgeProcess.start(
            {
                "CONVEX_URL": runtime.url,
                "CONVEX_DEPLOY_KEY": runtime.admin_key,
                "QBWC_USERNAME": USER,
                "QBWC_PASSWORD_HASH": hash_password(PASSWORD),
                "METRICS_TOKEN": METRICS_TOKEN,
            }
        )
        try:
            # Warm up (imports, first connections) before the baseline.
            QbwcSimulator(f"{bridge.url}/qbwc", USER, PASSWORD, world.quickbooks).run_session()
            rss_start = bridge.rss_mib()
            stop = threading.Event()
            tally, client = Tally(), RealClient()
            attacked: Counter[str] = Counter()
            scrapes: dict[int, int] = {}
            helpers = [
                threading.Thread(target=real_web_connector, args=(bridge.url, world, stop, client)),
                threading.Thread(target=attacker, args=(bridge.url, stop, attacked)),
                threading.Thread(target=scraper, args=(bridge.url, stop, scrapes)),
            ]
            for helper in helpers:
                helper.start()
            run_crowd(bridge.url, clients, seconds, USER, PASSWORD, CROWD_WEIGHTS, tally)
            stop.set()
            for helper in helpers:
                helper.join(120)
            rss_end = bridge.rss_mib()
        finally:
            bridge.stop()
        world.assert_exactly_once()
    finally:
        runtime.stop()
    return {
        "seconds": seconds,
        "clients": clients,
        "requests": tally.requests,
        "by_action_and_status": {f"{a} {s}": n for (a, s), n in sorted(tally.statuses.items())},
        "client_errors": dict(tally.errors),
        "status_5xx": tally.count(lambda status: status >= 500),
        "p50_ms": round(tally.percentile(0.50) * 1000, 1),
        "p99_ms": round(tally.percentile(0.99) * 1000, 1),
        "rss_start_mib": round(rss_start, 1),
        "rss_end_mib": round(rss_end, 1),
        "log_lines": len(bridge.lines),
        "non_json_log_lines": len(bridge.non_json_lines()),
        "secrets_in_log": len(grep(bridge.lines, [PASSWORD, METRICS_TOKEN, runtime.admin_key])),
        "queue_depth_lines": len(grep(bridge.lines, ['"waitress_queue_depth"'])),
        "attacker_answers": dict(attacked),
        "metrics_scrapes": scrapes,
        "real_client_runs": len(client.runs),
        "real_client_synced": client.synced,
        "real_client_refused": client.refused,
        "real_client_busy_retries": sum(run["busy"] for run in client.runs),
        "real_client": [asdict(client)["runs"]],
    }


def failures(report: dict[str, Any]) -> list[str]:
    checks = {
        "5xx answers": report["status_5xx"] == 0,
        "non-JSON log lines": report["non_json_log_lines"] == 0,
        "secrets in the log": report["secrets_in_log"] == 0,
        f"RSS grew by {MAX_RSS_GROWTH_MIB} MiB or more": report["rss_end_mib"]
        - report["rss_start_mib"]
        < MAX_RSS_GROWTH_MIB,
        "the real client was refused": report["real_client_refused"] == 0,
        "a real client run did not sync": report["real_client_runs"] > 0
        and report["real_client_synced"] == report["real_client_runs"],
        "client-side errors (timeouts, resets)": not report["client_errors"],
    }
    return [name for name, ok in checks.items() if not ok]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args()
    report = soak(args.seconds, args.clients)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if key != "real_client":
                print(f"{key:28} {value}")
    failed = failures(report)
    print("soak: " + ("OK" if not failed else "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
